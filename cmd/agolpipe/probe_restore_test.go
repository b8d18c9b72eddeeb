package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
)

// Adversarial probes of restore on the user's road: the binary, its
// plugin processes, a simulated target that misbehaves at exact requests
// (sim.Fault), and the real sinks.

// copiesInTarget counts, per backup item id, the items of b that a restore
// created from it (its source mark), temporary uploads aside.
func copiesInTarget(b *sim.Server) map[string]int {
	n := map[string]int{}
	o := b.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	for _, it := range o.Items {
		if src, ok := sdk.SourceOf(it.TypeKeywords); ok {
			n[src]++
		}
	}
	return n
}

// scriptedFaults lists the scripted faults b answered, as "endpoint=kind".
func scriptedFaults(b *sim.Server) []string {
	var out []string
	for _, r := range b.Requests() {
		if strings.HasPrefix(r.Fault, "script:") {
			out = append(out, r.Endpoint+"="+strings.TrimPrefix(r.Fault, "script:"))
		}
	}
	sort.Strings(out)
	return out
}

// checkRestoredOnce fails t unless every item of rep was restored and b
// holds exactly one copy of each.
func checkRestoredOnce(t *testing.T, b *sim.Server, rep *restore.Report, out string) {
	t.Helper()
	copies := copiesInTarget(b)
	for _, e := range rep.Items {
		if e.Outcome != restore.Restored {
			t.Errorf("item %s (%s %q): %s %s %s", e.ID, e.Type, e.Title, e.Outcome, e.Reason, e.Error)
		}
		if copies[e.ID] != 1 {
			t.Errorf("item %s (%s %q): %d copies in the target, want 1", e.ID, e.Type, e.Title, copies[e.ID])
		}
	}
	if t.Failed() {
		t.Logf("the restore said:\n%s", out)
	}
}

// TestProbeRestoreThrottledWrites: ArcGIS Online answers writes over its
// rate with HTTP 429, with HTTP 200 and a JSON error code 429, or (write
// bursts) with an HTML 403. None of them did anything, so the write is
// sent again after a pause, and the restore completes with one copy of
// each item.
func TestProbeRestoreThrottledWrites(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	faults := []sim.Fault{
		{Endpoint: "addItem", Nth: 2, Kind: sim.Fault429},
		{Endpoint: "update", Nth: 3, Kind: sim.Fault429Body},
		{Endpoint: "createFolder", Nth: 1, Kind: sim.Fault403HTML},
		{Endpoint: "share", Nth: 1, Kind: sim.Fault429Body},
	}
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Faults: faults})
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--type", "Web Map", "--type", "PDF", "--no-dependencies", "--to", bFile, "--yes")
	if code != exitOK {
		t.Errorf("restore with throttled writes: exit %d, want %d", code, exitOK)
	}
	if got := scriptedFaults(b); len(got) != len(faults) {
		t.Errorf("the target answered %d scripted faults, want %d: %v", len(got), len(faults), got)
	}
	checkRestoredOnce(t, b, readRestoreReport(t, filepath.Join(dir, "a", "sink")), out)
}

// TestProbeRestoreTokenExpiresMidUpload: the token dies (498) in the
// middle of a file sent in parts, on an item upload, and 499 on another
// write; the source signs in again and the write is sent again (the
// upload's part read from the sink again), so nothing fails.
func TestProbeRestoreTokenExpiresMidUpload(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	faults := []sim.Fault{
		{Endpoint: "addPart", Nth: 2, Kind: sim.Fault498},
		{Endpoint: "addItem", Nth: 2, Kind: sim.Fault498},
		{Endpoint: "update", Nth: 2, Kind: sim.Fault499},
	}
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Faults: faults})
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--type", "Web Map", "--type", "PDF", "--type", "Microsoft Excel",
		"--type", "Shapefile", "--type", "CSV", "--no-dependencies", "--to", bFile, "--yes")
	if code != exitOK {
		t.Errorf("restore with expiring tokens: exit %d, want %d", code, exitOK)
	}
	if got := scriptedFaults(b); len(got) != len(faults) {
		t.Errorf("the target answered %d scripted faults, want %d: %v", len(got), len(faults), got)
	}
	checkRestoredOnce(t, b, readRestoreReport(t, filepath.Join(dir, "a", "sink")), out)
}

// markedItems lists b's items carrying a restore's marks (or only the
// restore mark: a temporary upload), by id, with their titles.
func markedItems(b *sim.Server) map[string]string {
	out := map[string]string{}
	o := b.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	for _, it := range o.Items {
		if it.Deleted {
			continue
		}
		for _, k := range it.TypeKeywords {
			if strings.HasPrefix(k, sdk.RestoreMarkPrefix) {
				out[it.ID] = it.Title
			}
		}
	}
	return out
}

// TestProbeRestoreTargetRefuses: the target refuses writes (a JSON 403 on
// an update after the item was created, "already exists" on an addItem, a
// 403 on a publish) and already holds a service of the backup's name.
// Each refused item fails with the portal's answer and leaves nothing
// behind (no half-made item, no temporary upload); the one whose name is
// taken is published under another; the others are restored. Then the
// same restore again: the failed ones come back, nothing is made twice.
func TestProbeRestoreTargetRefuses(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	faults := []sim.Fault{
		{Endpoint: "update", Nth: 2, Kind: sim.Fault403},
		{Endpoint: "addItem", Nth: 4, Kind: sim.FaultExists},
		{Endpoint: "publish", Nth: 2, Kind: sim.Fault403},
	}
	a, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Faults: faults})
	// B already has a service of the name of one of A's hosted services.
	taken := ""
	a.Org().Mu.RLock()
	for _, it := range a.Org().Items {
		if it.Type == "Feature Service" && slices.Contains(it.TypeKeywords, "Hosted Service") && !slices.Contains(it.TypeKeywords, "View Service") {
			taken = serviceNameOf(it.URL)
			break
		}
	}
	a.Org().Mu.RUnlock()
	adminB, _ := demoAdmin(b)
	pc := newPortalClient(t, b, adminB)
	pc.call(http.MethodPost, b.PortalURL()+"/sharing/rest/content/users/"+adminB.Username+"/createService",
		url.Values{"createParameters": {`{"name":"` + taken + `"}`}, "outputType": {"featureService"}})
	theirs := markedItems(b)

	args := []string{"restore", aFile, "--run", "latest", "--type", "Feature Service", "--type", "PDF", "--type", "Web Map", "--to", bFile, "--yes"}
	code, out := runCLI(t, args...)
	if code != exitPartial {
		t.Errorf("restore refused by the target: exit %d, want %d", code, exitPartial)
	}
	if got := scriptedFaults(b); len(got) != len(faults) {
		t.Errorf("the target answered %d scripted faults, want %d: %v", len(got), len(faults), got)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	restored := map[string]bool{}
	failed := 0
	renamed := false
	for _, e := range rep.Items {
		switch e.Outcome {
		case restore.Restored:
			restored[e.NewItemID] = true
			if e.Type == "Feature Service" && strings.Contains(e.Reason+strings.Join(e.Warnings, " "), taken) {
				renamed = true
			}
		case restore.Failed:
			failed++
			if !strings.Contains(e.Error, "403") && !strings.Contains(e.Error, "already exists") {
				t.Errorf("item %s (%s) failed without the portal's answer: %s", e.ID, e.Type, e.Error)
			}
		}
	}
	if failed < len(faults) {
		t.Errorf("%d items failed, want at least %d (one per refusal)", failed, len(faults))
	}
	for id, title := range markedItems(b) {
		if _, ok := theirs[id]; !ok && !restored[id] {
			t.Errorf("the target holds %s %q, made by the restore but not reported restored (left behind by a failed item)", id, title)
		}
	}
	if !renamed {
		t.Errorf("no feature service restored under another name than the taken %q", taken)
	}
	if t.Failed() {
		t.Logf("the restore said:\n%s", out)
	}

	// Again: the refused items come back; what the first made is found as
	// its copy, not made again.
	firstOutcome := map[string]string{}
	for _, e := range rep.Items {
		firstOutcome[e.ID] = e.Outcome
	}
	code, out = runCLI(t, args...)
	if code != exitOK {
		t.Errorf("the restore again: exit %d, want %d", code, exitOK)
	}
	rep = readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	copies := copiesInTarget(b)
	for _, e := range rep.Items {
		switch firstOutcome[e.ID] {
		case restore.Failed:
			if e.Outcome != restore.Restored {
				t.Errorf("again, item %s (%s %q) refused the first time: %s %s %s", e.ID, e.Type, e.Title, e.Outcome, e.Reason, e.Error)
			}
		case restore.Restored:
			if e.Outcome == restore.Restored || e.Outcome == restore.Failed {
				t.Errorf("again, item %s (%s %q) restored the first time: %s %s", e.ID, e.Type, e.Title, e.Outcome, e.Error)
			}
		}
		if e.Outcome != restore.NotRestored && copies[e.ID] != 1 || copies[e.ID] > 1 {
			t.Errorf("again, item %s (%s %q): %d copies in the target, want 1", e.ID, e.Type, e.Title, copies[e.ID])
		}
	}
	if t.Failed() {
		t.Logf("the restore again said:\n%s", out)
	}
}

// serviceNameOf is the service name in a hosted service URL.
func serviceNameOf(u string) string {
	u = strings.TrimSuffix(strings.TrimRight(u, "/"), "/FeatureServer")
	return u[strings.LastIndex(u, "/")+1:]
}

// targetPipeline starts another empty org with opt and writes a pipeline
// file whose source signs in to it, returning both.
func targetPipeline(t *testing.T, dir, name string, opt sim.Options) (*sim.Server, string) {
	t.Helper()
	srv, err := sim.Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	admin, _ := demoAdmin(srv)
	env := "SIM_PASSWORD_" + strings.ToUpper(name)
	t.Setenv(env, admin.Password)
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name, name+".hcl")
	hcl := strings.Replace(simSource(srv, admin, ""), `env("SIM_PASSWORD")`, `env("`+env+`")`, 1) +
		fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, name, "sink"))
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, file
}

// killAt runs agolpipe with args and kills it with SIGKILL once its
// output holds marker; it returns the output and the pids of the plugin
// processes it had started.
func killAt(t *testing.T, marker string, args ...string) (string, []int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), marker) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("printed no %q in 60 s:\n%s", marker, out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("ended before it was killed (%v):\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	plugins := childPIDs(cmd.Process.Pid)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return out.String(), plugins
}

// TestProbeRestoreInterruptedThenAgain: a restore stopped by Ctrl-C, and
// another killed outright (SIGKILL of the host, its plugins left to
// notice), are each run again to the end. The second run makes nothing
// twice (what the first created is found by its marks, the killed one
// having written no report), reports the truth, and the plugins of the
// killed host do not outlive it.
func TestProbeRestoreInterruptedThenAgain(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	slow := sim.Options{Items: 60, Seed: 12, Empty: true, Latency: 40 * time.Millisecond}
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, slow)
	c, cFile := targetPipeline(t, dir, "c", slow)
	sel := []string{"--type", "Web Map", "--type", "PDF", "--type", "CSV", "--type", "Shapefile", "--type", "Microsoft Excel", "--no-dependencies", "--yes"}

	check := func(name string, srv *sim.Server, file string) {
		t.Helper()
		code, out := runCLI(t, append([]string{"restore", aFile, "--run", "latest", "--to", file}, sel...)...)
		if code != exitOK {
			t.Errorf("%s: the restore again: exit %d, want %d", name, code, exitOK)
		}
		rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
		copies := copiesInTarget(srv)
		for _, e := range rep.Items {
			if e.Outcome != restore.Restored && e.Outcome != restore.Skipped {
				t.Errorf("%s: again, item %s (%s %q): %s %s %s", name, e.ID, e.Type, e.Title, e.Outcome, e.Reason, e.Error)
			}
			if copies[e.ID] != 1 {
				t.Errorf("%s: again, item %s (%s %q): %d copies in the target, want 1", name, e.ID, e.Type, e.Title, copies[e.ID])
			}
		}
		if t.Failed() {
			t.Logf("%s: the restore again said:\n%s", name, out)
		}
	}

	interruptAt(t, "restore", "] restored ", append([]string{"restore", aFile, "--run", "latest", "--to", bFile}, sel...)...)
	// The items in hand when Ctrl-C came failed or finished: what the
	// failed ones had made is gone again, not left half made.
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	done := map[string]bool{}
	for _, e := range rep.Items {
		if e.Outcome == restore.Restored {
			done[e.NewItemID] = true
		}
	}
	for id, title := range markedItems(b) {
		if !done[id] {
			t.Errorf("after SIGINT the target holds %s %q, made by the interrupted restore but not reported restored", id, title)
		}
	}
	check("after SIGINT", b, bFile)

	out, plugins := killAt(t, "] restored ", append([]string{"restore", aFile, "--run", "latest", "--to", cFile}, sel...)...)
	if len(plugins) == 0 {
		t.Errorf("the killed restore had no plugin processes:\n%s", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range plugins {
		for processExists(pid) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if processExists(pid) {
			t.Errorf("plugin process %d still runs 10 s after its host was killed", pid)
		}
	}
	check("after SIGKILL", c, cFile)

	// Killed, then undone: every item the killed restore made, finished
	// or not, is deleted by its mark.
	d, dFile := targetPipeline(t, dir, "d", slow)
	out, _ = killAt(t, "] restored ", append([]string{"restore", aFile, "--run", "latest", "--to", dFile}, sel...)...)
	rid := restoreID(t, out)
	if len(markedItems(d)) == 0 {
		t.Fatalf("the killed restore made nothing:\n%s", out)
	}
	code, uout := runCLI(t, "restore", "undo", aFile, rid, "--to", dFile, "--yes")
	if code != exitOK {
		t.Errorf("undo of the killed restore %s: exit %d\n%s", rid, code, uout)
	}
	for id, title := range markedItems(d) {
		t.Errorf("after the undo of the killed restore, the target still holds %s %q", id, title)
	}
}

// cuttingProxy is a reverse proxy on 127.0.0.1 in front of an S3 server
// that spoils the bodies of the first n object downloads (GET answers of
// more than 16 KiB; not listings, not the manifest): odd ones are cut off after half their announced
// length (the client sees an unexpected EOF), even ones end cleanly after
// half (no Content-Length: a short body). It returns its URL and how many
// it spoiled.
func cuttingProxy(t *testing.T, target string, n int) (string, func() int) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	spoiled := 0
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		if r.Method != http.MethodGet || resp.StatusCode/100 != 2 || resp.ContentLength <= 16<<10 ||
			r.URL.Query().Has("list-type") || strings.HasSuffix(r.URL.Path, "/manifest.json") {
			return nil
		}
		mu.Lock()
		k := spoiled
		if k < n {
			spoiled++
		}
		mu.Unlock()
		if k >= n {
			return nil
		}
		half := resp.ContentLength / 2
		body := resp.Body
		if k%2 == 0 {
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(io.LimitReader(body, half), errReader{}), body}
		} else {
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.LimitReader(body, half), body}
			resp.ContentLength = -1
			resp.Header.Del("Content-Length")
		}
		return nil
	}
	rp.ErrorLog = log.New(io.Discard, "", 0)
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL, func() int { mu.Lock(); defer mu.Unlock(); return spoiled }
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// TestProbeRestoreSinkCutsDownloads: the S3 sink's server (versitygw,
// behind a proxy) breaks off downloads in the middle, or ends them early
// and cleanly. The read is resumed from where it broke (before, each item
// hit failed), nothing is left half made, and every file restored is the
// backup's size (its sha256 checked on the way, as always).
func TestProbeRestoreSinkCutsDownloads(t *testing.T) {
	ctx := context.Background()
	s3srv := testservers.S3(t)
	c := s3.New(s3.Options{Region: s3srv.Region, BaseEndpoint: aws.String(s3srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s3srv.AccessKey, s3srv.SecretKey, "")})
	bucket := "agolpipe-probe-" + testservers.RandHex(4)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	t.Setenv("TEST_S3_KEY", s3srv.AccessKey)
	t.Setenv("TEST_S3_SECRET", s3srv.SecretKey)
	sink := func(endpoint string) string {
		return fmt.Sprintf(`sink "s3" "offsite" {
  bucket            = %q
  prefix            = "backups"
  endpoint          = %q
  region            = %q
  path_style        = true
  access_key_id     = env("TEST_S3_KEY")
  secret_access_key = env("TEST_S3_SECRET")
}
`, bucket, endpoint, s3srv.Region)
	}
	dir := t.TempDir()
	a, b, aFile, bFile := restoreOrgs(t, dir, sink(s3srv.Endpoint))
	proxy, spoiled := cuttingProxy(t, s3srv.Endpoint, 4)
	adminA, _ := demoAdmin(a)
	viaProxy := filepath.Join(dir, "a", "via-proxy.hcl")
	if err := os.WriteFile(viaProxy, []byte(simSource(a, adminA, "")+sink(proxy)+"run {\n  prefix = \"A\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI(t, "restore", viaProxy, "--run", "latest", "--type", "PDF", "--type", "CSV", "--type", "Microsoft Excel",
		"--type", "Shapefile", "--type", "Web Map", "--no-dependencies", "--to", bFile, "--yes")
	if spoiled() == 0 {
		t.Fatalf("the proxy spoiled no download:\n%s", out)
	}
	if code != exitOK {
		t.Errorf("restore through a sink that cuts downloads: exit %d, want %d", code, exitOK)
	}
	_ = aFile
	// The report is in the first sink: S3, read through the proxy's
	// target directly.
	resp, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("backups/restores/")})
	if err != nil {
		t.Fatal(err)
	}
	var repKey string
	for _, o := range resp.Contents {
		if strings.HasSuffix(*o.Key, "/restore.json") {
			repKey = *o.Key
		}
	}
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &repKey})
	if err != nil {
		t.Fatalf("restore.json in S3 (%q): %v\n%s", repKey, err, out)
	}
	var rep restore.Report
	err = json.NewDecoder(obj.Body).Decode(&rep)
	obj.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	for _, e := range rep.Items {
		switch e.Outcome {
		case restore.Restored:
			done[e.NewItemID] = true
			// A file item's bytes are the backup's.
			b.Org().Mu.RLock()
			it := b.Org().Item(e.NewItemID)
			var body []byte
			if it != nil {
				body = it.Body
			}
			b.Org().Mu.RUnlock()
			a.Org().Mu.RLock()
			src := a.Org().Item(e.ID)
			a.Org().Mu.RUnlock()
			if e.Type != "Web Map" && src != nil && int64(len(body)) != src.Size {
				t.Errorf("item %s (%s %q) restored with %d bytes, the backup's file has %d", e.ID, e.Type, e.Title, len(body), src.Size)
			}
		default:
			t.Errorf("item %s (%s %q): %s %s %s", e.ID, e.Type, e.Title, e.Outcome, e.Reason, e.Error)
		}
	}
	for id, title := range markedItems(b) {
		if !done[id] {
			t.Errorf("the target holds %s %q, made by the restore but not reported restored", id, title)
		}
	}
	if t.Failed() {
		t.Logf("the restore said:\n%s", out)
	}
}

// TestProbeRestoreZipSlip: a zipped run whose manifest names an entry
// outside the run (../), an archive outside the run folder, and an item
// whose resources.zip holds entries that climb out of the item's
// resources (../, absolute). The first two items fail, the third is
// restored with only its safe resources, and the plan, report and target
// say so; nothing lands elsewhere.
func TestProbeRestoreZipSlip(t *testing.T) {
	dir := t.TempDir()
	sinkDir := filepath.Join(dir, "a", "sink")
	sinkA := fmt.Sprintf("sink \"local\" \"zipped\" {\n  path = %q\n  zip = true\n}\n", sinkDir)
	_, b, aFile, bFile := restoreOrgs(t, dir, sinkA)
	runDir := latestRun(t, sinkDir, "A_")
	manPath := filepath.Join(runDir, "manifest.json")
	raw, err := os.ReadFile(manPath)
	if err != nil {
		t.Fatal(err)
	}
	var man report.Run // agolpipe's own order of keys: the catalog reads the head first
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	var pdfs []string
	dash := ""
	var dashRes *report.Artifact
	for i := range man.Artifacts {
		a := &man.Artifacts[i]
		switch {
		case a.ItemType == "PDF" && a.Name != "item.json" && a.Name != "metadata.xml" && !strings.HasPrefix(a.Name, "thumbnail") && len(pdfs) < 2:
			if len(pdfs) == 0 {
				a.Sinks[0].Path = "../../escape.pdf"
			} else {
				a.Sinks[0].Archive = "elsewhere/" + path.Base(a.Sinks[0].Archive)
			}
			pdfs = append(pdfs, a.ItemID)
		case a.ItemType == "Dashboard" && a.Name == "resources.zip" && dash == "":
			dash, dashRes = a.ItemID, a
		}
	}
	if len(pdfs) < 2 || dash == "" {
		t.Fatalf("the run has not two PDFs and a dashboard with resources (%v, %q)", pdfs, dash)
	}
	// The dashboard's resources.zip: one safe entry, three that climb out.
	var rz bytes.Buffer
	zw := zip.NewWriter(&rz)
	for _, n := range []string{"images/ok.png", "../../evil.json", "/abs.png", "images/../../up.png"} {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "entry %s", n)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(rz.Bytes())
	dashRes.Size, dashRes.SHA256 = int64(rz.Len()), hex.EncodeToString(sum[:])
	entry, archive := dashRes.Sinks[0].Path, dashRes.Sinks[0].Archive
	rewriteZipEntry(t, filepath.Join(sinkDir, filepath.FromSlash(archive)), entry, rz.Bytes())
	if raw, err = json.Marshal(man); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--item", pdfs[0], "--item", pdfs[1], "--item", dash,
		"--no-dependencies", "--to", bFile, "--yes")
	if code != exitPartial {
		t.Errorf("restore of a run with unsafe paths: exit %d, want %d", code, exitPartial)
	}
	rep := readRestoreReport(t, sinkDir)
	for _, e := range rep.Items {
		switch e.ID {
		case pdfs[0], pdfs[1]:
			if e.Outcome != restore.Failed || !strings.Contains(e.Error, "..") && !strings.Contains(e.Error, "outside") {
				t.Errorf("PDF %s with an unsafe path in the manifest: %s %q", e.ID, e.Outcome, e.Error)
			}
		case dash:
			if e.Outcome != restore.Restored || len(e.Warnings) < 3 {
				t.Errorf("dashboard %s: %s, %d warnings %v, want restored with the 3 climbing resources refused", e.ID, e.Outcome, len(e.Warnings), e.Warnings)
			}
			b.Org().Mu.RLock()
			var got []string
			if it := b.Org().Item(e.NewItemID); it != nil {
				for _, r := range it.Resources {
					got = append(got, r.Path)
				}
			}
			b.Org().Mu.RUnlock()
			if strings.Join(got, ",") != "images/ok.png" {
				t.Errorf("dashboard %s restored with resources %v, want only images/ok.png", e.ID, got)
			}
		}
	}
	for _, p := range []string{filepath.Join(dir, "escape.pdf"), filepath.Join(dir, "a", "escape.pdf"), filepath.Join(dir, "evil.json")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was written", p)
		}
	}
	if t.Failed() {
		t.Logf("the restore said:\n%s", out)
	}
}

// rewriteZipEntry replaces entry name of the zip file at p with body,
// keeping every other entry (stored, as agolpipe writes them).
func rewriteZipEntry(t *testing.T, p, name string, body []byte) {
	t.Helper()
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	found := false
	for _, f := range zr.File {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store, Modified: f.Modified})
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == name {
			found = true
			_, err = w.Write(body)
		} else {
			var rc io.ReadCloser
			if rc, err = f.Open(); err == nil {
				_, err = io.Copy(w, rc)
				rc.Close()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	zr.Close()
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("no entry %s in %s", name, p)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// peakRSS runs agolpipe with args and returns its exit code, output, and
// the peak resident memory (VmHWM, polled until it ends) of the host and
// the largest of its plugin processes.
func peakRSS(t *testing.T, args ...string) (code int, out string, host, plugin int64) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	buf := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	hwm := func(pid int) int64 {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n << 10
			}
		}
		return 0
	}
	peaks := map[int]int64{}
	timeout := time.After(3 * time.Minute)
	for {
		pid := cmd.Process.Pid
		host = max(host, hwm(pid))
		for _, c := range childPIDs(pid) {
			peaks[c] = max(peaks[c], hwm(c))
		}
		select {
		case <-done:
			for _, p := range peaks {
				plugin = max(plugin, p)
			}
			return cmd.ProcessState.ExitCode(), buf.String(), host, plugin
		case <-timeout:
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("agolpipe %v did not end in 3 minutes:\n%s", args, buf.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestProbeRestoreLargeFileMemoryFlat: a 50 MiB file item goes up in
// parts, streamed from the sink through the host to the plugins and the
// portal: the peak memory of the host and of each plugin is about that of
// restoring a small file, not the file's size.
func TestProbeRestoreLargeFileMemoryFlat(t *testing.T) {
	const large = 50 << 20
	dir := t.TempDir()
	a, adminA := startSim(t, sim.Options{Items: 100, Seed: 11, LargeFileSize: large})
	b, bFile := targetPipeline(t, dir, "b", sim.Options{Items: 60, Seed: 12, Empty: true})
	aFile := filepath.Join(dir, "a.hcl")
	hcl := simSource(a, adminA, `  types = ["PDF"]`) + fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\nrun {\n  prefix = \"A\"\n}\n", filepath.Join(dir, "a-sink"))
	if err := os.WriteFile(aFile, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "run", aFile); code > exitPartial {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	var big, small string
	a.Org().Mu.RLock()
	for _, it := range a.Org().Items {
		if it.Type == "PDF" && it.Size == large && big == "" {
			big = it.ID
		} else if it.Type == "PDF" && it.Size < 1<<20 && small == "" {
			small = it.ID
		}
	}
	a.Org().Mu.RUnlock()
	if big == "" || small == "" {
		t.Fatalf("no large (%q) or small (%q) PDF in org A", big, small)
	}
	restoreOne := func(id string) (int64, int64) {
		code, out, host, plugin := peakRSS(t, "restore", aFile, "--run", "latest", "--item", id, "--to", bFile, "--yes")
		if code != exitOK {
			t.Fatalf("restore of %s: exit %d\n%s", id, code, out)
		}
		return host, plugin
	}
	sHost, sPlugin := restoreOne(small)
	b.ResetRequests()
	lHost, lPlugin := restoreOne(big)
	t.Logf("peak RSS: small file host %d MiB, plugin %d MiB; 50 MiB file host %d MiB, plugin %d MiB", sHost>>20, sPlugin>>20, lHost>>20, lPlugin>>20)
	parts := 0
	for _, r := range b.Requests() {
		if r.Endpoint == "addPart" {
			parts++
		}
	}
	if parts < 2 {
		t.Errorf("the 50 MiB file went up in %d parts", parts)
	}
	// Parts (8 MiB) in flight on each side of the host and the gRPC
	// buffers, not the file: measured +29 MiB (host) and +12 MiB (plugin)
	// both for 50 MiB and for 120 MiB files.
	if lHost-sHost > 40<<20 || lPlugin-sPlugin > 40<<20 {
		t.Errorf("restoring a 50 MiB file raised peak memory by %d MiB (host) and %d MiB (plugin) over a small file's: not streamed",
			(lHost-sHost)>>20, (lPlugin-sPlugin)>>20)
	}
	b.Org().Mu.RLock()
	n := 0
	for _, it := range b.Org().Items {
		if it.Size == large {
			n++
		}
	}
	b.Org().Mu.RUnlock()
	if n != 1 {
		t.Errorf("org B holds %d items of the large file's size, want 1", n)
	}
}

// TestProbeRestoreIntoPortal: the same restore into a Portal for ArcGIS
// (the simulator's enterprise mode: the sharing API under /portal, hosted
// services under /server, no recycle bin) as into ArcGIS Online: feature
// services published, web maps pointing at the portal's services, files
// whole, no temporary upload left.
func TestProbeRestoreIntoPortal(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Mode: "enterprise"})
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--type", "Feature Service", "--type", "Web Map", "--type", "PDF",
		"--type", "Shapefile", "--type", "Dashboard", "--to", bFile, "--yes")
	if code != exitOK {
		t.Errorf("restore into a portal: exit %d, want %d", code, exitOK)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	byType := map[string]int{}
	done := map[string]bool{}
	for _, e := range rep.Items {
		switch e.Outcome {
		case restore.Restored:
			byType[e.Type]++
			done[e.NewItemID] = true
		case restore.NotRestored:
			if e.Type == "Feature Service" || e.Type == "Web Map" || e.Type == "PDF" {
				t.Errorf("item %s (%s %q) cannot be restored into a portal: %s", e.ID, e.Type, e.Title, e.Reason)
			}
		default:
			t.Errorf("item %s (%s %q): %s %s", e.ID, e.Type, e.Title, e.Outcome, e.Error)
		}
	}
	if byType["Feature Service"] == 0 || byType["Web Map"] == 0 || byType["PDF"] == 0 {
		t.Errorf("restored into the portal: %v", byType)
	}
	for old, nu := range rep.Remap {
		if strings.Contains(old, "/FeatureServer") && !strings.Contains(nu, "/server/rest/services/") {
			t.Errorf("service %s remapped to %s, not a portal's hosting server URL", old, nu)
		}
	}
	b.Org().Mu.RLock()
	for _, it := range b.Org().Items {
		if it.Deleted {
			continue
		}
		if !done[it.ID] && slices.ContainsFunc(it.TypeKeywords, func(k string) bool { return strings.HasPrefix(k, sdk.RestoreMarkPrefix) }) {
			t.Errorf("the portal holds %s %q (%s), made by the restore but not reported restored", it.ID, it.Title, it.Type)
		}
		if it.Type == "Web Map" && done[it.ID] {
			data := string(it.Body)
			if strings.Contains(data, "/FeatureServer") && !strings.Contains(data, b.PortalURL()[:strings.LastIndex(b.PortalURL(), "/")]) {
				t.Errorf("web map %s %q in the portal refers to services elsewhere: %.300s", it.ID, it.Title, data)
			}
		}
	}
	b.Org().Mu.RUnlock()
	if t.Failed() {
		t.Logf("the restore said:\n%s", out)
	}
}

// TestProbeReplaceAndUndoThrottled: find and replace, then its undo, in an
// org that throttles some of their item updates (HTTP 429, a JSON 429 on
// HTTP 200, the HTML 403 of write bursts): every web map is changed, then
// put back byte for byte, and both exit 0.
func TestProbeReplaceAndUndoThrottled(t *testing.T) {
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3, Faults: []sim.Fault{
		{Endpoint: "update", Nth: 1, Kind: sim.Fault429},
		{Endpoint: "update", Nth: 3, Kind: sim.Fault403HTML},
	}})
	dir := t.TempDir()
	file := fsPipeline(t, srv, admin, dir)
	pc := newPortalClient(t, srv, admin)
	portal := srv.PortalURL() + "/sharing/rest"
	var maps []string
	o := srv.Org()
	o.Mu.RLock()
	for _, it := range o.Items {
		if it.Type == "Web Map" && !it.Deleted {
			maps = append(maps, it.ID)
		}
	}
	o.Mu.RUnlock()
	before := map[string]string{}
	find := ""
	for _, id := range maps {
		before[id] = string(pc.raw(http.MethodGet, portal+"/content/items/"+id+"/data", nil))
		if m := regexp.MustCompile(`"url":"(http[^"]+/FeatureServer)`).FindStringSubmatch(before[id]); m != nil && find == "" {
			find = m[1]
		}
	}
	if find == "" {
		t.Fatal("no web map refers to a feature service")
	}
	const repl = "https://gis.example.com/arcgis/rest/services/Moved/FeatureServer"
	code, out := runCLI(t, "replace", file, "--find", find, "--replace", repl, "--type", "Web Map", "--yes")
	if code != exitOK {
		t.Fatalf("replace with throttled updates: exit %d\n%s", code, out)
	}
	rid := replaceID(t, out)
	for _, id := range maps {
		if got := string(pc.raw(http.MethodGet, portal+"/content/items/"+id+"/data", nil)); got != strings.ReplaceAll(before[id], find, repl) {
			t.Errorf("web map %s after replace: not the old data with the URL replaced", id)
		}
	}
	if code, out := runCLI(t, "restore", "undo", file, rid, "--yes"); code != exitOK {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	for _, id := range maps {
		if got := string(pc.raw(http.MethodGet, portal+"/content/items/"+id+"/data", nil)); got != before[id] {
			t.Errorf("web map %s after undo: not as before the replace", id)
		}
	}
	if got := scriptedFaults(srv); len(got) != 2 {
		t.Errorf("the org answered %d scripted faults during the replace and its undo, want 2: %v", len(got), got)
	}
}

// TestProbeRestoreCorruptLargeFile: one byte of a 20 MiB file item, sent
// in parts, differs from the manifest's sha256. The parts go up, but the
// last byte is held back until the check, so the commit never happens:
// the item fails as corrupt and the target holds nothing of it.
func TestProbeRestoreCorruptLargeFile(t *testing.T) {
	const large = 20 << 20
	dir := t.TempDir()
	a, adminA := startSim(t, sim.Options{Items: 100, Seed: 11, LargeFileSize: large})
	b, bFile := targetPipeline(t, dir, "b", sim.Options{Items: 60, Seed: 12, Empty: true})
	aFile := filepath.Join(dir, "a.hcl")
	sinkDir := filepath.Join(dir, "a-sink")
	hcl := simSource(a, adminA, `  types = ["PDF"]`) + fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\nrun {\n  prefix = \"A\"\n}\n", sinkDir)
	if err := os.WriteFile(aFile, []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "run", aFile); code > exitPartial {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	runDir := latestRun(t, sinkDir, "A_")
	m := readManifest(t, runDir)
	var victim report.Artifact
	for _, x := range m.Artifacts {
		if x.Size == large {
			victim = x
		}
	}
	if victim.Path == "" {
		t.Fatal("no large file in the run")
	}
	p := filepath.Join(runDir, filepath.FromSlash(victim.Path))
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	one := make([]byte, 1)
	if _, err := f.ReadAt(one, large/3); err != nil {
		t.Fatal(err)
	}
	one[0] ^= 0xff
	if _, err := f.WriteAt(one, large/3); err != nil {
		t.Fatal(err)
	}
	f.Close()
	had := map[string]bool{} // the empty org's OAuth application items
	b.Org().Mu.RLock()
	for _, it := range b.Org().Items {
		had[it.ID] = true
	}
	b.Org().Mu.RUnlock()
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--item", victim.ItemID, "--to", bFile, "--yes")
	if code != exitPartial {
		t.Errorf("restore of a corrupt large file: exit %d, want %d", code, exitPartial)
	}
	rep := readRestoreReport(t, sinkDir)
	if len(rep.Items) != 1 || rep.Items[0].Outcome != restore.Failed || !strings.Contains(rep.Items[0].Error, "corrupt") {
		t.Errorf("the corrupt large file's report: %+v", rep.Items)
	}
	parts := 0
	for _, r := range b.Requests() {
		if r.Endpoint == "addPart" {
			parts++
		}
	}
	if parts < 2 {
		t.Errorf("the file went up in %d parts before the check failed it", parts)
	}
	b.Org().Mu.RLock()
	for _, it := range b.Org().Items {
		if !it.Deleted && !had[it.ID] {
			t.Errorf("org B holds %s %q (%s, %d bytes) after the corrupt file's restore", it.ID, it.Title, it.Type, it.Size)
		}
	}
	b.Org().Mu.RUnlock()
	if t.Failed() {
		t.Logf("the restore said:\n%s", out)
	}
}

// TestProbeRestoreReadsRetried: the reads the restore engine makes itself
// (the search for earlier copies, an owner's folders, the groups to share
// with) meet a 429, a JSON 429 and a 500 once each; they are read again,
// and the restore completes with sharing and folders as in the backup.
func TestProbeRestoreReadsRetried(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	faults := []sim.Fault{
		{Endpoint: "search", Nth: 1, Kind: sim.Fault429},
		{Endpoint: "user/content", Nth: 1, Kind: sim.Fault500},
		{Endpoint: "community/groups", Nth: 1, Kind: sim.Fault429Body},
	}
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Faults: faults})
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--type", "Web Map", "--type", "PDF", "--no-dependencies", "--to", bFile, "--yes")
	if code != exitOK {
		t.Errorf("restore with failing reads: exit %d, want %d", code, exitOK)
	}
	if got := scriptedFaults(b); len(got) != len(faults) {
		t.Errorf("the target answered %d scripted faults, want %d: %v", len(got), len(faults), got)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	checkRestoredOnce(t, b, rep, out)
	for _, e := range rep.Items {
		for _, w := range e.Warnings {
			t.Errorf("item %s (%s): warning %s", e.ID, e.Type, w)
		}
	}
}

// TestProbeRestoreFeatureServiceThrottled: a hosted feature service
// restored in place (truncate, append, its job polled) and as new
// (publish, definitions), with each of those writes throttled or its
// token refused once: both restores complete, rows equal to the backup's.
func TestProbeRestoreFeatureServiceThrottled(t *testing.T) {
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3, Faults: []sim.Fault{
		{Endpoint: "truncate", Nth: 1, Kind: sim.Fault429},
		{Endpoint: "append", Nth: 1, Kind: sim.Fault429Body},
		{Endpoint: "append/status", Nth: 1, Kind: sim.Fault498},
		{Endpoint: "publish", Nth: 1, Kind: sim.Fault429},
		{Endpoint: "updateDefinition", Nth: 1, Kind: sim.Fault403HTML},
	}})
	dir := t.TempDir()
	file := fsPipeline(t, srv, admin, dir)
	id, svcURL, _ := fsWithAttachments(t, srv)
	pc := newPortalClient(t, srv, admin)
	backupRows := pc.rows(svcURL, 0)
	if code, out := runCLI(t, "run", file, "--plain"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	pc.call(http.MethodPost, svcURL+"/0/applyEdits", url.Values{"deletes": {"1,2,3"}})
	code, out := runCLI(t, "restore", file, "--run", "latest", "--item", id, "--overwrite", "--no-dependencies", "--yes")
	if code != exitOK {
		t.Errorf("restore --overwrite with throttled writes: exit %d\n%s", code, out)
	}
	if got := pc.rows(svcURL, 0); strings.Join(got, "\n") != strings.Join(backupRows, "\n") {
		t.Errorf("rows after the in-place restore: %d, the backup's %d (or they differ)", len(got), len(backupRows))
	}
	code, out = runCLI(t, "restore", file, "--run", "latest", "--item", id, "--as-new", "--no-dependencies", "--yes")
	if code != exitOK {
		t.Fatalf("restore --as-new with throttled writes: exit %d\n%s", code, out)
	}
	rep := readRestoreJSON(t, filepath.Join(dir, "nas"), restoreID(t, out))
	newURL := rep.Remap[svcURL]
	if newURL == "" {
		t.Fatalf("no new service in the remap: %v", rep.Remap)
	}
	if got := pc.rows(newURL, 0); strings.Join(got, "\n") != strings.Join(backupRows, "\n") {
		t.Errorf("rows of the service restored as new: %d, the backup's %d (or they differ)", len(got), len(backupRows))
	}
	got := scriptedFaults(srv)
	if len(got) != 5 {
		t.Errorf("the org answered %d scripted faults, want 5: %v", len(got), got)
	}
}

// processExists reports whether pid is still in /proc (the probe tests
// find plugin processes there too; a plain file check compiles for every
// OS, which CI vets the tests for).
func processExists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}
