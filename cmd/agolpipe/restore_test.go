package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/plugins/exporters/file"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// restoreOrgs starts org A (generated) and org B (--empty), writes a
// pipeline for each (a.hcl backs up A into dir/a, b.hcl B into dir/b;
// sinkA is the sink block of a.hcl) and backs A up.
func restoreOrgs(t *testing.T, dir, sinkA string) (a, b *sim.Server, aFile, bFile string) {
	t.Helper()
	return restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true})
}

// restoreOrgsB is restoreOrgs with org B started with bOpt.
func restoreOrgsB(t *testing.T, dir, sinkA string, bOpt sim.Options) (a, b *sim.Server, aFile, bFile string) {
	t.Helper()
	return restoreOrgsPrep(t, dir, sinkA, bOpt, nil)
}

// restoreOrgsPrep is restoreOrgsB with prep (when set) run on org A before
// its backup.
func restoreOrgsPrep(t *testing.T, dir, sinkA string, bOpt sim.Options, prep func(a *sim.Server)) (a, b *sim.Server, aFile, bFile string) {
	t.Helper()
	return restoreOrgsAB(t, dir, sinkA, sim.Options{Items: 60, Seed: 11}, bOpt, prep)
}

// restoreOrgsAB is restoreOrgsPrep with org A started with aOpt.
func restoreOrgsAB(t *testing.T, dir, sinkA string, aOpt, bOpt sim.Options, prep func(a *sim.Server)) (a, b *sim.Server, aFile, bFile string) {
	t.Helper()
	a, adminA := startSim(t, aOpt)
	if prep != nil {
		prep(a)
	}
	b, err := sim.Start(bOpt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	adminB, _ := demoAdmin(b)
	t.Setenv("SIM_PASSWORD_B", adminB.Password)
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	aFile = filepath.Join(dir, "a", "a.hcl")
	if err := os.WriteFile(aFile, []byte(simSource(a, adminA, "")+sinkA+"\nrun {\n  prefix = \"A\"\n  concurrency = 4\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bFile = filepath.Join(dir, "b", "b.hcl")
	bHCL := strings.Replace(simSource(b, adminB, ""), `env("SIM_PASSWORD")`, `env("SIM_PASSWORD_B")`, 1) +
		fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\nrun {\n  prefix = \"B\"\n  concurrency = 4\n}\n", filepath.Join(dir, "b", "sink"))
	if err := os.WriteFile(bFile, []byte(bHCL), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "run", aFile); code > exitPartial {
		t.Fatalf("backup of org A: exit %d\n%s", code, out)
	}
	return a, b, aFile, bFile
}

// TestRestoreRoundTripIntoEmptyOrg backs up org A, restores everything
// restorable into an empty org B through the binary's plugins, backs up B
// and compares item by item.
func TestRestoreRoundTripIntoEmptyOrg(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	srvA, b, aFile, bFile := restoreOrgs(t, dir, sinkA)
	runA := latestRun(t, filepath.Join(dir, "a", "sink"), "A_")
	mA := readManifest(t, runA)

	// The plan changes nothing.
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--all", "--to", bFile, "--dry-run")
	if code != exitOK || !strings.Contains(out, "Plan: ") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	if n := len(b.Org().Items); n > 3 {
		t.Fatalf("the dry run wrote to org B: %d items", n)
	}
	// A web map alone pulls in the items it refers to, which B lacks.
	var wm report.Item
	for _, it := range mA.Items {
		if it.Type == "Web Map" && len(it.Dependencies) > 0 {
			wm = it
			break
		}
	}
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", wm.ID, "--to", bFile, "--dry-run")
	if code != exitOK || !strings.Contains(out, "[dependency of "+wm.ID+"]") || !strings.Contains(out, "create    "+wm.ID) {
		t.Fatalf("a web map's plan without its dependencies: exit %d\n%s", code, out)
	}
	pulled := 0
	for _, dep := range wm.Dependencies {
		i, j := strings.Index(out, dep), strings.Index(out, "create    "+wm.ID)
		if i < 0 {
			continue // not in the run (or not a dependency the target lacks)
		}
		pulled++
		if i > j {
			t.Errorf("dependency %s is not planned before web map %s:\n%s", dep, wm.ID, out)
		}
	}
	if pulled == 0 {
		t.Fatalf("web map %s pulled in none of its dependencies %v:\n%s", wm.ID, wm.Dependencies, out)
	}
	// --tag and --folder select by what item.json and the manifest say.
	var tagged report.Item
	var tag string
	for _, it := range mA.Items {
		var ij struct {
			Tags []string `json:"tags"`
		}
		if b := artifactBytes(t, runA, mA, it.ID, "item.json"); b != nil && json.Unmarshal(b, &ij) == nil && len(ij.Tags) > 0 && it.Folder != "" {
			tagged, tag = it, ij.Tags[len(ij.Tags)-1]
			break
		}
	}
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--tag", tag, "--folder", tagged.Folder, "--no-dependencies", "--to", bFile, "--dry-run")
	if code != exitOK || !strings.Contains(out, tagged.ID) {
		t.Fatalf("--tag %q --folder %q does not select item %s: exit %d\n%s", tag, tagged.Folder, tagged.ID, code, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "  ") && strings.Contains(line, "[dependency of") {
			t.Fatalf("--no-dependencies planned a dependency:\n%s", out)
		}
	}
	// Without --yes and not on a terminal, nothing is applied.
	if code, out := runCLI(t, "restore", aFile, "--run", "latest", "--all", "--to", bFile); code != exitUsage {
		t.Fatalf("apply without --yes: exit %d\n%s", code, out)
	}

	// One owner of A goes to a publisher of B, the others to B's admin.
	var mappedFrom, mappedTo string
	for _, it := range mA.Items {
		if it.Type == "Web Map" {
			mappedFrom = it.Owner
			break
		}
	}
	for _, u := range b.Users() {
		if u.Kind == "publisher" {
			mappedTo = u.Username
			break
		}
	}
	if mappedFrom == "" || mappedTo == "" {
		t.Fatal("no web map owner in A or no publisher in B")
	}
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--all", "--to", bFile, "--owner-map", mappedFrom+"="+mappedTo, "--yes")
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	defer func() {
		if t.Failed() {
			t.Logf("the restore said:\n%s", out)
		}
	}()
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	restored := map[string]restore.Entry{}
	for _, e := range rep.Items {
		switch e.Outcome {
		case restore.Restored:
			restored[e.ID] = e
		case restore.NotRestored:
			if e.Reason == "" {
				t.Errorf("item %s (%s) cannot be restored, without a reason", e.ID, e.Type)
			}
			if e.Type == "Feature Service" || e.Type == "Form" {
				// Hosted feature layers and their views all come back,
				// and the Survey123 forms on them.
				t.Errorf("%s %s %q not restored: %s", e.Type, e.ID, e.Title, e.Reason)
			}
		default:
			t.Errorf("item %s (%s): %s %s", e.ID, e.Type, e.Outcome, e.Error)
		}
	}
	byType := map[string]int{}
	for _, e := range restored {
		byType[e.Type]++
	}
	if byType["Web Map"] == 0 || byType["PDF"]+byType["CSV"]+byType["Microsoft Excel"]+byType["Shapefile"] == 0 || byType["Form"] == 0 {
		t.Fatalf("the round trip restored no web map, no file item or no form: %v\n%s", byType, out)
	}

	// A file above the single-request limit went up in parts.
	large := false
	for _, a := range mA.Artifacts {
		if _, ok := restored[a.ItemID]; ok && a.Size > file.SinglePartMax && a.Name != "resources.zip" && a.Name != "data.json" {
			large = true
		}
	}
	parts := 0
	for _, r := range b.Requests() {
		if r.Endpoint == "addPart" && r.Status == 200 {
			parts++
		}
	}
	if !large || parts < 2 {
		t.Fatalf("the round trip must restore a file above %d bytes in parts: large file %v, %d parts uploaded", file.SinglePartMax, large, parts)
	}
	if code, out := runCLI(t, "run", bFile); code > exitPartial {
		t.Fatalf("backup of org B: exit %d\n%s", code, out)
	}
	runB := latestRun(t, filepath.Join(dir, "b", "sink"), "B_")
	mB := readManifest(t, runB)
	itemsB := map[string]report.Item{}
	for _, it := range mB.Items {
		itemsB[it.ID] = it
	}
	adminB, _ := demoAdmin(b)
	rels := 0
	for _, itA := range mA.Items {
		e, ok := restored[itA.ID]
		if !ok {
			continue
		}
		itB, ok := itemsB[e.NewItemID]
		if !ok {
			t.Errorf("restored item %s -> %s is not in org B's backup", itA.ID, e.NewItemID)
			continue
		}
		owner := adminB.Username
		if itA.Owner == mappedFrom {
			owner = mappedTo
		}
		if itB.Title != itA.Title || itB.Type != itA.Type || itB.Folder != itA.Folder || itB.Owner != owner {
			t.Errorf("item %s: B has %q %s folder %q owner %s; A had %q %s folder %q (owner mapped to %s)", itA.ID,
				itB.Title, itB.Type, itB.Folder, itB.Owner, itA.Title, itA.Type, itA.Folder, owner)
		}
		if got, want := sharingB(b, e.NewItemID), sharingA(t, runA, mA, itA.ID); got != want {
			t.Errorf("item %s: shared as %s in B, as %s in A", itA.ID, got, want)
		}
		rels += compareArtifacts(t, runA, mA, itA.ID, runB, mB, itB.ID, rep.Remap)
	}
	if rels == 0 {
		t.Error("no relationship between restored items was checked")
	}
	openWithEsriClient(t, srvA, b, restored, rep.Remap)
	// Every web map of B refers only to B's items, or to items that could
	// not be restored (listed with why).
	for _, it := range mB.Items {
		if it.Type != "Web Map" {
			continue
		}
		data := artifactBytes(t, runB, mB, it.ID, "data.json")
		for old, nu := range rep.Remap {
			if bytes.Contains(data, []byte(old)) {
				t.Errorf("web map %s in B still refers to A's %s (restored as %s)", it.ID, old, nu)
			}
		}
	}
}

// TestRestoreFromZippedAndS3Sinks restores the same run's web maps from a
// zipped local sink and from S3 (versitygw), each through its plugin.
func TestRestoreFromZippedAndS3Sinks(t *testing.T) {
	ctx := context.Background()
	s3srv := testservers.S3(t)
	c := s3.New(s3.Options{Region: s3srv.Region, BaseEndpoint: aws.String(s3srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s3srv.AccessKey, s3srv.SecretKey, "")})
	bucket := "agolpipe-restore-" + testservers.RandHex(4)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	t.Setenv("TEST_S3_KEY", s3srv.AccessKey)
	t.Setenv("TEST_S3_SECRET", s3srv.SecretKey)
	dir := t.TempDir()
	sinks := fmt.Sprintf(`sink "local" "zipped" {
  path = %q
  zip  = true
}
sink "s3" "offsite" {
  bucket            = %q
  prefix            = "backups"
  endpoint          = %q
  region            = %q
  path_style        = true
  access_key_id     = env("TEST_S3_KEY")
  secret_access_key = env("TEST_S3_SECRET")
}
`, filepath.Join(dir, "a", "sink"), bucket, s3srv.Endpoint, s3srv.Region)
	_, b, aFile, bFile := restoreOrgs(t, dir, sinks)
	maps := func() (n int, titles []string) {
		o := b.Org()
		o.Mu.RLock()
		defer o.Mu.RUnlock()
		for _, it := range o.Items {
			if it.Type == "Web Map" && !it.Deleted {
				n++
				titles = append(titles, it.Title)
			}
		}
		sort.Strings(titles)
		return n, titles
	}
	var first []string
	for i, sink := range []string{"zipped", "offsite"} {
		code, out := runCLI(t, "restore", aFile, "--run", "latest", "--sink", sink, "--type", "Web Map", "--to", bFile, "--yes")
		if code != exitOK {
			t.Fatalf("restore from sink %s: exit %d\n%s", sink, code, out)
		}
		n, titles := maps()
		if i == 0 {
			if n == 0 {
				t.Fatalf("no web map restored from the zipped run\n%s", out)
			}
			first = titles
			continue
		}
		// The second restore finds the maps the first made (by their
		// source mark): it reads them from S3 to compare, and adds none.
		if n != len(first) || strings.Join(titles, "\n") != strings.Join(first, "\n") || !strings.Contains(out, "Plan: 0 to create") {
			t.Fatalf("restore from S3: %d web maps in B after both restores, want the %d of the first\n%s", n, len(first), out)
		}
	}
}

// TestRestoreFromSMBAndAzureSinks backs org A up into Samba (smb) and
// Azurite (azure_blob) only, and restores its web maps from each, through
// the sink's plugin, into an empty org of its own: both give back every web
// map of the run.
func TestRestoreFromSMBAndAzureSinks(t *testing.T) {
	ctx := context.Background()
	smbSrv := testservers.SMB(t)
	az := testservers.AzureBlob(t)
	cont := "agolpipe-restore-" + testservers.RandHex(4)
	cc, err := container.NewClientFromConnectionString(az.ConnectionString, cont, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(ctx, nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	t.Cleanup(func() { _, _ = cc.Delete(context.Background(), nil) })
	t.Setenv("TEST_SMB_PASS", smbSrv.Pass)
	t.Setenv("TEST_AZ_CS", az.ConnectionString)
	dir := t.TempDir()
	sinks := fmt.Sprintf(`sink "smb" "nas" {
  path     = %q
  user     = %q
  password = env("TEST_SMB_PASS")
}
sink "azure_blob" "cloud" {
  container         = %q
  prefix            = "backups"
  connection_string = env("TEST_AZ_CS")
}
`, "smb://"+smbSrv.Addr()+"/"+smbSrv.Share+"/restore-"+testservers.RandHex(4), smbSrv.User, cont)
	_, b, aFile, bFile := restoreOrgs(t, dir, sinks)
	// A second empty org, for the restore from the second sink.
	c, err := sim.Start(sim.Options{Items: 60, Seed: 13, Empty: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	adminC, _ := demoAdmin(c)
	t.Setenv("SIM_PASSWORD_C", adminC.Password)
	cFile := filepath.Join(dir, "c.hcl")
	cHCL := strings.Replace(simSource(c, adminC, ""), `env("SIM_PASSWORD")`, `env("SIM_PASSWORD_C")`, 1) +
		fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "c-sink"))
	if err := os.WriteFile(cFile, []byte(cHCL), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI(t, "runs", aFile)
	if code != exitOK || !strings.Contains(out, "nas") || !strings.Contains(out, "cloud") {
		t.Fatalf("runs of the smb and azure_blob sinks: exit %d\n%s", code, out)
	}
	var want []string
	{
		code, out := runCLI(t, "restore", aFile, "--run", "latest", "--sink", "nas", "--type", "Web Map", "--no-dependencies", "--to", bFile, "--dry-run")
		if code != exitOK {
			t.Fatalf("plan from smb: exit %d\n%s", code, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[1] == "create" {
				want = append(want, f[2])
			}
		}
		if len(want) == 0 {
			t.Fatalf("the plan from smb creates no web map\n%s", out)
		}
	}
	for _, tc := range []struct {
		sink   string
		org    *sim.Server
		target string
	}{{"nas", b, bFile}, {"cloud", c, cFile}} {
		code, out := runCLI(t, "restore", aFile, "--run", "latest", "--sink", tc.sink, "--type", "Web Map", "--to", tc.target, "--yes")
		if code != exitOK {
			t.Fatalf("restore from sink %s: exit %d\n%s", tc.sink, code, out)
		}
		o := tc.org.Org()
		o.Mu.RLock()
		var got []string
		for _, it := range o.Items {
			if it.Type == "Web Map" && !it.Deleted {
				got = append(got, it.Title)
			}
		}
		o.Mu.RUnlock()
		if len(got) != len(want) {
			t.Fatalf("restore from sink %s: %d web maps in the target, the run holds %d\n%s", tc.sink, len(got), len(want), out)
		}
	}
}

// TestRestoreTwiceIntoAnotherOrg restores everything into org B twice: the
// second plan finds the copies the first made (by the source mark they
// carry) and creates nothing; a copy changed since is refused until
// --overwrite, which replaces it in place and keeps its marks.
func TestRestoreTwiceIntoAnotherOrg(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	_, b, aFile, bFile := restoreOrgs(t, dir, sinkA)
	runA := latestRun(t, filepath.Join(dir, "a", "sink"), "A_")
	mA := readManifest(t, runA)
	live := func() (n int, dups []string) {
		o := b.Org()
		o.Mu.RLock()
		defer o.Mu.RUnlock()
		seen := map[string]bool{}
		for _, it := range o.Items {
			if it.Deleted {
				continue
			}
			n++
			// Titles repeat in A itself: a copy is told by its source.
			for _, k := range it.TypeKeywords {
				if strings.HasPrefix(k, sdk.SourceMarkPrefix) {
					if seen[k] {
						dups = append(dups, k)
					}
					seen[k] = true
				}
			}
		}
		return n, dups
	}
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--all", "--to", bFile, "--yes")
	if code != exitOK {
		t.Fatalf("first restore: exit %d\n%s", code, out)
	}
	first := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	n1, dups := live()
	if len(dups) > 0 {
		t.Fatalf("B holds duplicates after one restore: %v", dups)
	}
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--all", "--to", bFile, "--dry-run")
	if code != exitOK || !strings.Contains(out, "Plan: 0 to create, 0 to overwrite") {
		t.Fatalf("the second plan creates or overwrites: exit %d\n%s", code, out)
	}
	var wm report.Item
	for _, it := range mA.Items {
		if it.Type == "Web Map" && it.Status == sdk.StatusExported {
			if !strings.Contains(out, "= skip      "+it.ID) {
				t.Errorf("web map %s is not skipped as identical in the second plan:\n%s", it.ID, out)
			}
			wm = it
		}
	}
	// Without the first restore's report (another sink, or never
	// stored) the copies are still found, by their marks, and the plan
	// says so.
	firstJSON := filepath.Join(dir, "a", "sink", restore.Folder(first.RestoreID), "restore.json")
	if err := os.Rename(firstJSON, firstJSON+".away"); err != nil {
		t.Fatal(err)
	}
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", wm.ID, "--to", bFile, "--dry-run")
	if code != exitOK || !strings.Contains(out, "= skip      "+wm.ID) || !strings.Contains(out, "(found by its marks)") {
		t.Fatalf("without the first report the copy of %s is not found by its marks: exit %d\n%s", wm.ID, code, out)
	}
	if err := os.Rename(firstJSON+".away", firstJSON); err != nil {
		t.Fatal(err)
	}
	if code, out = runCLI(t, "restore", aFile, "--run", "latest", "--all", "--to", bFile, "--yes"); code != exitOK {
		t.Fatalf("second restore: exit %d\n%s", code, out)
	}
	if n2, dups := live(); n2 != n1 || len(dups) > 0 {
		t.Fatalf("after the second restore B holds %d items (%d after the first), duplicates %v\n%s", n2, n1, dups, out)
	}
	// The copy of a web map, changed in B since, is refused, then
	// overwritten in place with --overwrite.
	var copyID string
	for _, e := range first.Items {
		if e.ID == wm.ID {
			copyID = e.NewItemID
		}
	}
	o := b.Org()
	o.Mu.Lock()
	cp := o.Item(copyID)
	if cp == nil {
		o.Mu.Unlock()
		t.Fatalf("web map %s: no copy %q in B", wm.ID, copyID)
	}
	restoredBody := append([]byte(nil), cp.Body...)
	cp.Body = []byte(`{"operationalLayers":[],"version":"2.31"}`)
	o.Version++
	o.Mu.Unlock()
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", wm.ID, "--to", bFile, "--dry-run")
	if code != exitOK || !strings.Contains(out, "! cannot    "+wm.ID) || !strings.Contains(out, copyID) || !strings.Contains(out, "--overwrite") {
		t.Fatalf("the plan for a copy changed since: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", wm.ID, "--to", bFile, "--overwrite", "--yes")
	if code != exitOK || !strings.Contains(out, "overwritten "+wm.ID) {
		t.Fatalf("overwrite of the copy: exit %d\n%s", code, out)
	}
	o.Mu.RLock()
	body, kw := append([]byte(nil), o.Item(copyID).Body...), append([]string(nil), o.Item(copyID).TypeKeywords...)
	o.Mu.RUnlock()
	if !bytes.Equal(bytes.TrimSpace(body), bytes.TrimSpace(restoredBody)) {
		t.Errorf("the overwritten copy's data is not the restored one:\n%s\nwant\n%s", body, restoredBody)
	}
	for _, want := range []string{sdk.RestoredKeyword, sdk.SourceMark(wm.ID), restore.MarkPrefix + first.RestoreID} {
		if !slices.Contains(kw, want) {
			t.Errorf("the overwritten copy lost its mark %s: %v", want, kw)
		}
	}
	if n3, dups := live(); n3 != n1 || len(dups) > 0 {
		t.Fatalf("after the overwrite B holds %d items (%d before), duplicates %v", n3, n1, dups)
	}
}

// TestRestoreSkipComparesThumbnailAndResources: a JSON item whose
// description and data are the backup's but whose thumbnail, or one of
// whose resources, changed since is not identical: the plan refuses it
// (exists and differs) and --overwrite puts the backup's back, after which
// it is identical.
func TestRestoreSkipComparesThumbnailAndResources(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	a, _, aFile, _ := restoreOrgs(t, dir, sinkA)
	runA := latestRun(t, filepath.Join(dir, "a", "sink"), "A_")
	mA := readManifest(t, runA)
	has := map[string]map[string]bool{}
	for _, x := range mA.Artifacts {
		if x.Exporter != "item_json" {
			continue
		}
		if has[x.ItemID] == nil {
			has[x.ItemID] = map[string]bool{}
		}
		name := x.Name
		if strings.HasPrefix(name, "thumbnail.") {
			name = "thumbnail"
		}
		has[x.ItemID][name] = true
	}
	var thumbed, withRes, same string
	for _, it := range mA.Items {
		h := has[it.ID]
		if it.Status != sdk.StatusExported || h == nil || !h["item.json"] {
			continue
		}
		switch {
		case withRes == "" && h["resources.zip"]:
			withRes = it.ID
		case thumbed == "" && h["thumbnail"] && !h["resources.zip"]:
			thumbed = it.ID
		case same == "" && h["thumbnail"]:
			same = it.ID
		}
	}
	if thumbed == "" || withRes == "" || same == "" {
		t.Fatalf("the org lacks JSON items with a thumbnail (%q, %q) or resources (%q)", thumbed, same, withRes)
	}
	o := a.Org()
	o.Mu.Lock()
	o.Item(thumbed).ThumbnailBody = []byte("\x89PNG another picture")
	r := &o.Item(withRes).Resources[0]
	r.Body, r.Size = []byte(`{"changed":true}`), 16
	o.Version++
	o.Mu.Unlock()

	args := []string{"restore", aFile, "--run", "latest", "--item", thumbed, "--item", withRes, "--item", same, "--no-dependencies"}
	code, out := runCLI(t, append(args, "--dry-run")...)
	if code != exitOK {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	for _, want := range []string{"! cannot    " + thumbed, "! cannot    " + withRes, "= skip      " + same} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
	if code, out = runCLI(t, append(args, "--overwrite", "--yes")...); code != exitOK {
		t.Fatalf("overwrite: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, append(args, "--dry-run")...)
	if code != exitOK || !strings.Contains(out, "Plan: 0 to create, 0 to overwrite, 3 identical (skip)") {
		t.Fatalf("after the overwrite the three items are not identical: exit %d\n%s", code, out)
	}
}

// TestRestoreRefusesCorruptArtifact corrupts one stored artifact: that item
// fails, the others are restored.
func TestRestoreRefusesCorruptArtifact(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	_, b, aFile, bFile := restoreOrgs(t, dir, sinkA)
	runA := latestRun(t, filepath.Join(dir, "a", "sink"), "A_")
	mA := readManifest(t, runA)
	var victim report.Artifact
	for _, a := range mA.Artifacts {
		if a.ItemType == "PDF" && a.Name != "item.json" && a.Name != "metadata.xml" && !strings.HasPrefix(a.Name, "thumbnail") {
			victim = a
			break
		}
	}
	if victim.Path == "" {
		t.Fatal("the org has no PDF item to corrupt")
	}
	p := filepath.Join(runA, filepath.FromSlash(victim.Path))
	body, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)/2] ^= 0xff
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	before := len(b.Org().Items)
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--type", "PDF", "--to", bFile, "--yes")
	if code != exitPartial {
		t.Fatalf("restore with a corrupt artifact: exit %d, want %d\n%s", code, exitPartial, out)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	ok, failed := 0, 0
	for _, e := range rep.Items {
		switch {
		case e.ID == victim.ItemID:
			if e.Outcome != restore.Failed || !strings.Contains(e.Error, "corrupt") {
				t.Errorf("the item with the corrupt artifact: %s %q", e.Outcome, e.Error)
			}
			failed++
		case e.Outcome == restore.Restored:
			ok++
		}
	}
	if failed != 1 || ok == 0 {
		t.Fatalf("want the corrupt item failed and the others restored: %d failed, %d restored\n%s", failed, ok, out)
	}
	for _, it := range b.Org().Items[before:] {
		if it.Title == itemTitle(mA, victim.ItemID) {
			t.Fatalf("org B holds %q although its file was corrupt", it.Title)
		}
	}
}

func itemTitle(m *report.Run, id string) string {
	for _, it := range m.Items {
		if it.ID == id {
			return it.Title
		}
	}
	return ""
}

func latestRun(t *testing.T, sink, prefix string) string {
	t.Helper()
	runs, _ := filepath.Glob(filepath.Join(sink, prefix+"*"))
	sort.Strings(runs)
	if len(runs) == 0 {
		t.Fatalf("no run in %s", sink)
	}
	return runs[len(runs)-1]
}

func readRestoreReport(t *testing.T, sink string) *restore.Report {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(sink, "restores", "*", "restore.json"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no restore.json under %s/restores", sink)
	}
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	var r restore.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(files[len(files)-1]), "Restore.txt")); err != nil {
		t.Fatal(err)
	}
	return &r
}

func artifactBytes(t *testing.T, runDir string, m *report.Run, item, name string) []byte {
	t.Helper()
	for _, a := range m.Artifacts {
		if a.ItemID == item && a.Name == name {
			b, err := os.ReadFile(filepath.Join(runDir, filepath.FromSlash(a.Path)))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	return nil
}

// compareArtifacts compares item a of run A with item b of run B: the item
// description, data (A's remapped), resources, thumbnail, metadata and the
// file of a file item.
func compareArtifacts(t *testing.T, runA string, mA *report.Run, a string, runB string, mB *report.Run, b string, remap map[string]string) (relationships int) {
	t.Helper()
	var ia, ib map[string]any
	_ = json.Unmarshal(sdk.RemapJSON(artifactBytes(t, runA, mA, a, "item.json"), remap), &ia)
	_ = json.Unmarshal(artifactBytes(t, runB, mB, b, "item.json"), &ib)
	for _, k := range []string{"title", "type", "snippet", "description", "tags", "accessInformation", "licenseInfo", "extent", "properties", "name"} {
		if !jsonEqual(ia[k], ib[k]) {
			t.Errorf("item %s -> %s: %s differs: %v / %v", a, b, k, ia[k], ib[k])
		}
	}
	kwB := map[string]bool{}
	for _, k := range asStrings(ib["typeKeywords"]) {
		kwB[k] = true
	}
	for _, k := range asStrings(ia["typeKeywords"]) {
		if !kwB[k] {
			t.Errorf("item %s -> %s: type keyword %q lost", a, b, k)
		}
	}
	names := map[string]bool{}
	format := map[string]string{}
	for _, x := range mA.Artifacts {
		if x.ItemID == a {
			names[x.Name] = true
			format[x.Name] = x.Format
		}
	}
	for n := range names {
		switch {
		case format[n] == "Survey123 form":
			// The form package: every entry A's, its text naming B's
			// items where A's named A's (the service it submits to).
			ta, tb := zipText(t, artifactBytes(t, runA, mA, a, n)), zipText(t, artifactBytes(t, runB, mB, b, n))
			if len(ta) != len(tb) {
				t.Errorf("item %s -> %s: form package %s has %d entries in B, %d in A", a, b, n, len(tb), len(ta))
			}
			for e, body := range ta {
				if want := string(sdk.RemapJSON([]byte(body), remap)); tb[e] != want {
					t.Errorf("item %s -> %s: form package entry %s differs after remap:\n%.300q\n%.300q", a, b, e, tb[e], want)
				}
			}
			continue
		}
		switch n {
		case "item.json":
			continue
		case "relationships.json":
			// Every relationship whose other item was restored is there
			// again, between the new items.
			want, got := relations(t, artifactBytes(t, runA, mA, a, n), remap, true), relations(t, artifactBytes(t, runB, mB, b, n), nil, false)
			for r := range want {
				relationships++
				if !got[r] {
					t.Errorf("item %s -> %s: relationship %s lost", a, b, r)
				}
			}
		case "data.json":
			da, db := sdk.RemapJSON(artifactBytes(t, runA, mA, a, n), remap), artifactBytes(t, runB, mB, b, n)
			var x, y any
			_ = json.Unmarshal(da, &x)
			_ = json.Unmarshal(db, &y)
			if !jsonEqual(x, y) {
				t.Errorf("item %s -> %s: data.json differs after remap", a, b)
			}
		case "service.json", "layers.json", "admin.json", "sources.json", "view_layers.json", "counts.json":
			// A feature service's definitions: the same after remap, but
			// for when its data was last edited and when it was counted.
			x, y := stable(t, sdk.RemapJSON(artifactBytes(t, runA, mA, a, n), remap)), stable(t, artifactBytes(t, runB, mB, b, n))
			if x != y {
				t.Errorf("item %s -> %s: %s differs after remap:\n%s\n%s", a, b, n, x, y)
			}
		case "data.gdb.zip", "data.shp.zip", "data.csv.zip":
			// The export's entries (rows, attachments, the manifest after
			// remap), whatever their zip timestamps.
			if ra, rb := zipEntries(t, artifactBytes(t, runA, mA, a, n), remap), zipEntries(t, artifactBytes(t, runB, mB, b, n), nil); ra != rb {
				t.Errorf("item %s -> %s: %s entries differ:\n%.2000s\n%.2000s", a, b, n, ra, rb)
			}
		case "resources.zip":
			if ra, rb := zipEntries(t, artifactBytes(t, runA, mA, a, n), remap), zipEntries(t, artifactBytes(t, runB, mB, b, n), nil); ra != rb {
				t.Errorf("item %s -> %s: resources differ:\n%s\n%s", a, b, ra, rb)
			}
		case tilePackage(n):
			// A tile package: B's layer is a new one, exported again, so
			// the package is another file; its tiling scheme (the root.json
			// it starts with) and size are the backup's.
			pa, pb := artifactBytes(t, runA, mA, a, n), artifactBytes(t, runB, mB, b, n)
			if len(pa) != len(pb) || packageRoot(t, pa) != packageRoot(t, pb) || packageRoot(t, pa) == "" {
				t.Errorf("item %s -> %s: tile package %s differs: %d bytes %s / %d bytes %s", a, b, n, len(pa), packageRoot(t, pa), len(pb), packageRoot(t, pb))
			}
		default:
			if !bytes.Equal(artifactBytes(t, runA, mA, a, n), artifactBytes(t, runB, mB, b, n)) {
				t.Errorf("item %s -> %s: %s differs", a, b, n)
			}
		}
	}
	return relationships
}

// tilePackage names the artifact a tile package, as the tiles exporter
// saves it.
func tilePackage(n string) string {
	switch strings.ToLower(path.Ext(n)) {
	case ".tpkx", ".tpk", ".vtpk":
		return n
	}
	return "\x00not a tile package"
}

// packageRoot is the root.json a tile package starts with (its first zip
// entry, stored), "" when it does not.
func packageRoot(t *testing.T, b []byte) string {
	t.Helper()
	if len(b) < 30 || string(b[:4]) != "PK\x03\x04" {
		return ""
	}
	size, nameLen, extraLen := int(binary.LittleEndian.Uint32(b[18:])), int(binary.LittleEndian.Uint16(b[26:])), int(binary.LittleEndian.Uint16(b[28:]))
	start := 30 + nameLen + extraLen
	if start+size > len(b) {
		return ""
	}
	return string(b[30:30+nameLen]) + " " + string(b[start:start+size])
}

// zipEntries lists a zip's entries with size and CRC; JSON entries with
// their content remapped.
func zipEntries(t *testing.T, b []byte, remap map[string]string) string {
	t.Helper()
	if b == nil {
		return "<none>"
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, ".json") {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s %s", f.Name, sdk.RemapJSON(body, remap)))
			continue
		}
		out = append(out, fmt.Sprintf("%s %d %08x", f.Name, f.UncompressedSize64, f.CRC32))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// stable is a JSON document without the keys that say when: editingInfo
// (last edit dates), timeExtent, counted_at.
func stable(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, b)
	}
	var drop func(any)
	drop = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range []string{"editingInfo", "timeExtent", "counted_at"} {
				delete(x, k)
			}
			for _, e := range x {
				drop(e)
			}
		case []any:
			for _, e := range x {
				drop(e)
			}
		}
	}
	drop(v)
	out, _ := json.Marshal(v)
	return string(out)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func asStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestRestoreInPlace restores into the backed-up org itself: a deleted web
// map is created again, an unchanged one skipped as identical, a changed one
// refused until --overwrite, which puts the backup's data back under the
// same id.
func TestRestoreInPlace(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	a, _, aFile, _ := restoreOrgs(t, dir, sinkA)
	runA := latestRun(t, filepath.Join(dir, "a", "sink"), "A_")
	mA := readManifest(t, runA)
	var maps []report.Item
	for _, it := range mA.Items {
		if it.Type == "Web Map" && it.Status == sdk.StatusExported {
			maps = append(maps, it)
		}
	}
	if len(maps) < 3 {
		t.Fatalf("the org has %d web maps, want 3", len(maps))
	}
	deleted, changed, same := maps[0], maps[1], maps[2]
	// A file above the single-request limit, replaced in the portal.
	var big report.Artifact
	for _, x := range mA.Artifacts {
		if x.ItemType != "Feature Service" && x.Size > file.SinglePartMax && x.Name != "resources.zip" && x.Name != "data.json" && x.Exporter == "file" {
			big = x
			break
		}
	}
	if big.ItemID == "" {
		t.Fatal("the org has no file item above the single-request limit")
	}
	o := a.Org()
	o.Mu.Lock()
	o.Item(deleted.ID).Deleted = true
	ch := o.Item(changed.ID)
	ch.Body = []byte(`{"operationalLayers":[],"version":"2.31"}`)
	bf := o.Item(big.ItemID)
	bf.Data, bf.Body, bf.Size = org.DataStored, []byte("replaced by mistake"), 19
	o.Version++
	o.Mu.Unlock()

	args := []string{"restore", aFile, "--run", "latest", "--item", deleted.ID, "--item", changed.ID, "--item", same.ID}
	code, out := runCLI(t, append(args, "--dry-run")...)
	if code != exitOK {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	for _, want := range []string{"+ create    " + deleted.ID, "! cannot    " + changed.ID, "= skip      " + same.ID, "--overwrite replaces it in place"} {
		if !strings.Contains(out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, out)
		}
	}
	if code, out = runCLI(t, append(args, "--yes")...); code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	var recreated string
	for _, e := range rep.Items {
		if e.ID == deleted.ID {
			recreated = e.NewItemID
		}
	}
	o.Mu.RLock()
	it := o.Item(recreated)
	if it == nil || it.Deleted || it.Title != deleted.Title {
		o.Mu.RUnlock()
		t.Fatalf("the deleted web map was not created again: %+v\n%s", rep.Items, out)
	}
	if string(o.Item(changed.ID).Body) != `{"operationalLayers":[],"version":"2.31"}` {
		o.Mu.RUnlock()
		t.Fatal("the changed web map was overwritten without --overwrite")
	}
	o.Mu.RUnlock()

	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", changed.ID, "--overwrite", "--yes")
	if code != exitOK || !strings.Contains(out, "overwritten "+changed.ID) {
		t.Fatalf("overwrite: exit %d\n%s", code, out)
	}
	o.Mu.RLock()
	got := append([]byte(nil), o.Item(changed.ID).Body...)
	o.Mu.RUnlock()
	if want := artifactBytes(t, runA, mA, changed.ID, "data.json"); !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Fatalf("overwritten in place, the data is not the backup's:\n%s\nwant\n%s", got, want)
	}

	// The large file goes back in place, in parts.
	a.ResetRequests()
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", big.ItemID, "--overwrite", "--yes")
	if code != exitOK || !strings.Contains(out, "overwritten "+big.ItemID) {
		t.Fatalf("overwrite of a large file: exit %d\n%s", code, out)
	}
	parts := 0
	for _, r := range a.Requests() {
		if r.Endpoint == "addPart" && r.Status == 200 {
			parts++
		}
	}
	o.Mu.RLock()
	body := append([]byte(nil), o.Item(big.ItemID).Body...)
	o.Mu.RUnlock()
	if !bytes.Equal(body, artifactBytes(t, runA, mA, big.ItemID, big.Name)) {
		t.Fatalf("the large file overwritten in place is not the backup's (%d bytes)", len(body))
	}
	if parts < 2 {
		t.Fatalf("the large file went back in %d parts", parts)
	}
}

// sharingA is how item id was shared in A, from the run's org/metadata.json
// ("access: group titles").
func sharingA(t *testing.T, runDir string, m *report.Run, id string) string {
	t.Helper()
	var meta struct {
		Groups []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"groups"`
		Sharing map[string]struct {
			Access string   `json:"access"`
			Groups []string `json:"groups"`
		} `json:"sharing"`
	}
	var raw []byte
	for _, a := range m.Artifacts {
		if a.ItemType == "Organization" && a.Name == "metadata.json" {
			b, err := os.ReadFile(filepath.Join(runDir, filepath.FromSlash(a.Path)))
			if err != nil {
				t.Fatal(err)
			}
			raw = b
		}
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatalf("org/metadata.json of run A: %v", err)
	}
	titles := map[string]string{}
	for _, g := range meta.Groups {
		titles[g.ID] = g.Title
	}
	sh := meta.Sharing[id]
	var gs []string
	for _, g := range sh.Groups {
		gs = append(gs, titles[g])
	}
	sort.Strings(gs)
	return sh.Access + ": " + strings.Join(gs, ", ")
}

// sharingB is how item id is shared in org B ("access: group titles").
func sharingB(b *sim.Server, id string) string {
	o := b.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	it := o.Item(id)
	var gs []string
	for _, g := range it.Groups {
		gs = append(gs, o.Group(g).Title)
	}
	sort.Strings(gs)
	return it.Access + ": " + strings.Join(gs, ", ")
}

// esriLayer is one operational layer as Esri's client saw it.
type esriLayer struct {
	URL     string `json:"url"`
	Foreign bool   `json:"foreign"`
	Skipped bool   `json:"skipped"`
	Count   int    `json:"count"`
}

// esriOpen opens web maps ids of srv with Esri's JavaScript client
// (sim/testdata/esri/webmap.mjs): the item, its data, and each layer of
// srv's own services (definition and feature count). ok is false when node
// is missing and AGOLPIPE_REQUIRE_NODE is unset.
func esriOpen(t *testing.T, srv *sim.Server, ids []string) (map[string][]esriLayer, bool) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("AGOLPIPE_REQUIRE_NODE") != "" {
			t.Fatal("node is not installed and AGOLPIPE_REQUIRE_NODE is set")
		}
		t.Log("node is not installed: the restored web maps were not opened with Esri's client")
		return nil, false
	}
	dir := filepath.Join("..", "..", "sim", "testdata", "esri")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@esri", "arcgis-rest-feature-service")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Fatal("node_modules is missing and npm is not installed")
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	admin, _ := demoAdmin(srv)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "webmap.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SIM_PORTAL="+srv.PortalURL()+"/sharing/rest", "SIM_USER="+admin.Username, "SIM_PASS="+admin.Password,
		"SIM_WEBMAPS="+strings.Join(ids, ","), "SIM_ORIGIN="+srv.Origin())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("Esri's client could not open the web maps: %v\n%s", err, stderr.String())
	}
	var got map[string]struct {
		Layers []esriLayer `json:"layers"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("webmap.mjs: %v\n%s", err, stdout.String())
	}
	out := map[string][]esriLayer{}
	for id, wm := range got {
		out[id] = wm.Layers
	}
	return out, true
}

// openWithEsriClient opens the restored web maps in B and the originals in
// A with Esri's client: every layer of B loads, from B's own services, with
// as many features as its original in A; a layer left on another org's
// service must be one the restore could not bring.
func openWithEsriClient(t *testing.T, a, b *sim.Server, restored map[string]restore.Entry, remap map[string]string) {
	t.Helper()
	var idsA, idsB []string
	for id, e := range restored {
		if e.Type == "Web Map" {
			idsA, idsB = append(idsA, id), append(idsB, e.NewItemID)
		}
	}
	gotA, ok := esriOpen(t, a, idsA)
	if !ok {
		return
	}
	gotB, _ := esriOpen(t, b, idsB)
	opened := 0
	for i, idA := range idsA {
		la, lb := gotA[idA], gotB[idsB[i]]
		if len(la) != len(lb) {
			t.Errorf("web map %s: %d layers in A, %d in B", idA, len(la), len(lb))
			continue
		}
		for k := range la {
			switch {
			case la[k].Skipped || lb[k].Skipped:
			case lb[k].Foreign:
				if _, restoredLayer := remap[la[k].URL]; restoredLayer {
					t.Errorf("web map %s in B: layer %s still points outside B although it was restored", idsB[i], lb[k].URL)
				}
			case lb[k].Count != la[k].Count:
				t.Errorf("web map %s in B: layer %s has %d features, its original %s in A %d", idsB[i], lb[k].URL, lb[k].Count, la[k].URL, la[k].Count)
			default:
				opened++
			}
		}
	}
	if opened == 0 {
		t.Fatalf("Esri's client opened no layer of B's services in %d web maps", len(idsB))
	}
}

// relations lists the relationships of a relationships.json as "type
// direction other-id"; with onlyRemapped, only those whose other item the
// remap table knows, with its new id.
func relations(t *testing.T, b []byte, remap map[string]string, onlyRemapped bool) map[string]bool {
	t.Helper()
	var doc struct {
		Related []struct {
			Type      string `json:"type"`
			Direction string `json:"direction"`
			ItemID    string `json:"itemId"`
		} `json:"relationships"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("relationships.json: %v", err)
	}
	out := map[string]bool{}
	for _, r := range doc.Related {
		id := r.ItemID
		if onlyRemapped {
			nu, ok := remap[id]
			if !ok {
				continue
			}
			id = nu
		}
		out[r.Type+" "+r.Direction+" "+id] = true
	}
	return out
}

// TestRestoreInterrupted stops a restore with SIGINT part-way (the agolpipe
// process, as a user's Ctrl-C): it exits 130, and its report is stored all
// the same, saying what was restored and what was not attempted.
func TestRestoreInterrupted(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	_, _, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Latency: 40 * time.Millisecond})
	output := interruptAt(t, "restore", "] restored ", "restore", aFile, "--run", "latest", "--all", "--to", bFile, "--yes")
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	counts := map[string]int{}
	for _, e := range rep.Items {
		counts[e.Outcome]++
	}
	if counts[restore.Restored] == 0 || counts[restore.Canceled] == 0 {
		t.Fatalf("the report of an interrupted restore: %v\n%s", counts, output)
	}
}
