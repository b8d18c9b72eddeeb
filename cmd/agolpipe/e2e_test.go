package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/bench/backup/changes"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
)

// cliEnv makes this test binary act as the agolpipe command (see init), so
// a test can start `agolpipe run` as a real subprocess and signal it.
const cliEnv = "AGOLPIPE_TEST_AS_CLI"

func init() {
	// Runs before TestMain: a subprocess started with cliEnv is the CLI,
	// plugin subprocesses included (they inherit the environment).
	if os.Getenv(cliEnv) == "1" && len(os.Args) > 1 {
		rootCmd.SetArgs(os.Args[1:])
		os.Exit(execute())
	}
}

// e2eOrg is the simulated organization of the end-to-end tests: every
// family of items, small files, export jobs long enough to overlap token
// expiry when asked to.
func e2eOrg(o sim.Options) sim.Options {
	o.Items, o.Seed = 80, 11
	o.LargeFileSize = 256 << 10
	if o.ExportTime == 0 {
		o.ExportTime = 200 * time.Millisecond
	}
	return o
}

// e2eRun writes a pipeline backing up srv into dir and runs it in-process
// through the real plugin subprocesses. It returns the exit code and the
// run folder's manifest.
func e2eRun(t *testing.T, srv *sim.Server, dir, runExtra string) (int, *report.Run) {
	t.Helper()
	file := writeE2EPipeline(t, srv, dir, runExtra)
	rootCmd.SetArgs([]string{"run", file, "--plain"})
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	defer rootCmd.SetOut(nil)
	code := execute()
	runs, _ := filepath.Glob(filepath.Join(dir, "sink", "E2E_*"))
	sort.Strings(runs)
	if len(runs) == 0 {
		t.Fatalf("agolpipe run: exit %d, no run folder\n%s", code, out.String())
	}
	return code, readManifest(t, runs[len(runs)-1])
}

// writeE2EPipeline writes the pipeline of the end-to-end tests: the
// simulator's admin, one local sink under dir/sink.
func writeE2EPipeline(t *testing.T, srv *sim.Server, dir, runExtra string) string {
	t.Helper()
	admin, ok := demoAdmin(srv)
	if !ok {
		t.Fatal("no admin in the simulated org")
	}
	t.Setenv("SIM_PASSWORD", admin.Password)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
export "Service Definition" {
  exporter            = "file"
  service_definitions = true
}
sink "local" "disk" { path = %q }
run {
  prefix      = "E2E"
  concurrency = 4
  %s
}
`, filepath.Join(dir, "sink"), runExtra))
}

// lockedBuffer is a bytes.Buffer a subprocess writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func readManifest(t *testing.T, runDir string) *report.Run {
	t.Helper()
	f, err := os.Open(filepath.Join(runDir, report.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := report.ReadManifest(f)
	if err != nil {
		t.Fatalf("%s: %v", runDir, err)
	}
	return m
}

// verifyArtifacts checks every stored copy of every artifact against the
// manifest (size and sha256) and that no sink holds a temporary file. It
// returns the number of stored copies checked.
func verifyArtifacts(t *testing.T, m *report.Run) int {
	t.Helper()
	runPath := map[string]string{}
	for _, s := range m.Sinks {
		runPath[s.Name] = s.RunPath
	}
	n := 0
	for _, a := range m.Artifacts {
		for _, o := range a.Sinks {
			if o.Status != "stored" {
				continue
			}
			p := filepath.Join(runPath[o.Sink], filepath.FromSlash(o.Path))
			sum, size, err := fileSHA256(p)
			if err != nil {
				t.Errorf("artifact of %s in the manifest but not in sink %s: %v", a.ItemID, o.Sink, err)
				continue
			}
			if sum != a.SHA256 || size != a.Size {
				t.Errorf("%s: %d bytes sha256 %s on disk, manifest says %d bytes %s", p, size, sum, a.Size, a.SHA256)
			}
			n++
		}
	}
	for _, s := range m.Sinks {
		assertNoTempFiles(t, s.RunPath)
	}
	return n
}

// assertNoTempFiles fails when a half-written file is visible under dir.
func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".agolpipe-tmp-") {
			t.Errorf("temporary file left in the sink: %s", p)
		}
		return nil
	})
}

func fileSHA256(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// statuses maps item id to its status in a run.
func statuses(m *report.Run) map[string]report.Item {
	out := map[string]report.Item{}
	for _, it := range m.Items {
		out[it.ID] = it
	}
	return out
}

// TestResilience backs up the same organization twice, once clean and once
// through injected faults on every endpoint (500, 503, connection resets in
// the middle of bodies, slow bodies) with tokens that expire during export
// jobs, and requires the faulty run to end as the clean one: the same items
// exported, the same artifacts with the same bytes, no temporary export
// item left in the organization.
func TestResilience(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	clean, err := sim.Start(e2eOrg(sim.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer clean.Close()
	code, want := e2eRun(t, clean, filepath.Join(dir, "clean"), "")
	if code != exitOK {
		t.Fatalf("clean run: exit %d (%s): %+v", code, want.Status, want.Counts)
	}
	verifyArtifacts(t, want)
	if left := clean.TempItems(); len(left) > 0 {
		t.Errorf("clean run left temporary export items: %v", left)
	}

	// The same address: item JSON and web maps carry service URLs, which
	// must be equal for the two runs' bytes to be comparable.
	addr := strings.TrimPrefix(clean.Origin(), "http://")
	clean.Close()
	faulty, err := sim.Start(e2eOrg(sim.Options{Listen: addr, FaultRate: 0.05, TokenTTL: 2 * time.Second, ExportTime: 1500 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer faulty.Close()
	// Besides tokens reaching their 2 s end, revoke them all now and then,
	// so requests meet 498 in the middle of exports and polls.
	stopExpiring := make(chan struct{})
	expiring := make(chan struct{})
	go func() {
		defer close(expiring)
		tk := time.NewTicker(1300 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopExpiring:
				return
			case <-tk.C:
				faulty.ExpireTokens()
			}
		}
	}()
	code, got := e2eRun(t, faulty, filepath.Join(dir, "faulty"), "retries = 3")
	close(stopExpiring)
	<-expiring
	verifyArtifacts(t, got)
	// agolpipe verify, through the sink plugin, finds the faulty run's
	// copy whole too: what failed attempts wrote was removed, nothing
	// extra is left in the run folder.
	if code, out := runCLI(t, "verify", filepath.Join(dir, "faulty", "p.hcl")); code != exitOK {
		t.Errorf("agolpipe verify of the faulty run: exit %d\n%s", code, out)
	}

	reqs := faulty.Requests()
	faults, expired, signIns := map[string]int{}, 0, 0
	for _, r := range reqs {
		if r.Fault != "" {
			faults[r.Fault]++
		}
		if r.ErrorCode == 498 {
			expired++
		}
		if r.Endpoint == "generateToken" {
			signIns++
		}
	}
	t.Logf("faulty run: exit %d, %s, %+v; %d requests, faults %v, %d tokens, %d requests refused with expired tokens",
		code, got.Status, got.Counts, len(reqs), faults, signIns, expired)
	if faults["reset"] == 0 || faults["500"]+faults["503"] == 0 {
		t.Errorf("the faulty run met too few faults to prove anything: %v", faults)
	}
	// Tokens live 2 s and the run lasts many times that: the source must
	// have renewed them (before expiry, or after a 498).
	if signIns < 3 || expired == 0 {
		t.Errorf("%d tokens, %d requests refused as expired: the run did not meet expired tokens", signIns, expired)
	}
	if left := faulty.TempItems(); len(left) > 0 {
		t.Errorf("faulty run left temporary export items: %v", left)
	}

	// Every item ends as in the clean run, or truthfully partial: with a
	// reason, and then only its missing artifacts may be missing.
	ws, gs := statuses(want), statuses(got)
	partial := map[string]bool{}
	for id, w := range ws {
		g, ok := gs[id]
		switch {
		case !ok:
			t.Errorf("%s (%s) not in the faulty run", id, w.Title)
		case g.Status == w.Status:
		case g.Status == sdk.StatusPartial && w.Status == sdk.StatusExported && g.Reason != "":
			partial[id] = true
			t.Logf("partial in the faulty run: %s %q (%s): %s", id, g.Title, g.Type, g.Reason)
		default:
			t.Errorf("%s %q (%s): %s (%s) in the faulty run, %s in the clean one", id, g.Title, g.Type, g.Status, g.Reason, w.Status)
		}
	}
	if len(gs) != len(ws) {
		t.Errorf("%d items in the faulty run, %d in the clean one", len(gs), len(ws))
	}
	wantCode := exitOK
	if len(partial) > 0 {
		wantCode = exitPartial
	}
	if code != wantCode {
		t.Errorf("faulty run exit %d, want %d", code, wantCode)
	}

	// Same artifacts, same bytes.
	wa, ga := map[string]report.Artifact{}, map[string]report.Artifact{}
	for _, a := range want.Artifacts {
		wa[a.Path] = a
	}
	for _, a := range got.Artifacts {
		ga[a.Path] = a
		w, ok := wa[a.Path]
		switch {
		case !ok:
			t.Errorf("artifact %s only in the faulty run", a.Path)
		case w.SHA256 != a.SHA256 && a.Name == "counts.json" && sameCounts(filepath.Join(want.Sinks[0].RunPath, w.Path), filepath.Join(got.Sinks[0].RunPath, a.Path)):
			// counts.json records when the service was counted: the same
			// counts at another time are the same backup.
		case w.SHA256 != a.SHA256:
			t.Errorf("artifact %s differs: %d bytes in the clean run, %d in the faulty one%s", a.Path, w.Size, a.Size,
				smallDiff(filepath.Join(want.Sinks[0].RunPath, w.Path), filepath.Join(got.Sinks[0].RunPath, a.Path)))
		}
	}
	for p, a := range wa {
		if _, ok := ga[p]; !ok && !partial[a.ItemID] {
			t.Errorf("artifact %s of %s missing from the faulty run, and the item is not reported partial", p, a.ItemID)
		}
	}
}

// smallDiff shows where two small files first differ, for a failure
// message.
func smallDiff(a, b string) string {
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	if err1 != nil || err2 != nil || len(x) > 64<<10 || len(y) > 64<<10 {
		return ""
	}
	i := 0
	for i < len(x) && i < len(y) && x[i] == y[i] {
		i++
	}
	lo := max(0, i-80)
	return fmt.Sprintf("\n  clean: ...%q\n  fault: ...%q", x[lo:min(len(x), i+160)], y[lo:min(len(y), i+160)])
}

// sameCounts reports whether two counts.json files hold the same counts,
// whenever they were counted.
func sameCounts(a, b string) bool {
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	at := regexp.MustCompile(`"counted_at": *"[^"]*"`)
	return err1 == nil && err2 == nil && bytes.Equal(at.ReplaceAll(x, nil), at.ReplaceAll(y, nil))
}

// TestIncremental changes 20 items after a full run and requires a
// modified_within run to export exactly those 20.
func TestIncremental(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, err := sim.Start(e2eOrg(sim.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	code, full := e2eRun(t, srv, filepath.Join(dir, "full"), "")
	if code != exitOK {
		t.Fatalf("full run: exit %d: %+v", code, full.Counts)
	}
	changed := changes.Make(srv, full, 20)
	services := 0
	for _, it := range full.Items {
		if changed[it.ID] && it.Type == "Feature Service" {
			services++
		}
	}
	if len(changed) != 20 || services == 0 {
		t.Fatalf("changed %d items (%d feature services by their data), want 20 with some services", len(changed), services)
	}

	time.Sleep(1100 * time.Millisecond) // a new run folder name (seconds)
	code, incr := e2eRun(t, srv, filepath.Join(dir, "full"), `modified_within = "1d"`)
	if code != exitOK {
		t.Errorf("incremental run: exit %d: %+v", code, incr.Counts)
	}
	var exported []string
	for _, it := range incr.Items {
		if it.Status == sdk.StatusExported || it.Status == sdk.StatusPartial {
			exported = append(exported, it.ID)
			if !changed[it.ID] {
				t.Errorf("unchanged item %s %q (%s) exported by the incremental run", it.ID, it.Title, it.Type)
			}
		}
	}
	if len(exported) != len(changed) {
		t.Errorf("incremental run exported %d items, %d were changed", len(exported), len(changed))
	}
	for _, a := range incr.Artifacts {
		if a.ItemID == "" {
			continue // org/metadata.json: the organization's, written by every run
		}
		if !changed[a.ItemID] {
			t.Errorf("artifact %s of an unchanged item", a.Path)
		}
	}
	verifyArtifacts(t, incr)
}

// TestInterrupt sends SIGINT to an `agolpipe run` subprocess in the middle
// of a run: it must exit 130, write the reports for what completed, and
// leave no half-written file in the sink.
func TestInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, err := sim.Start(e2eOrg(sim.Options{ExportTime: 2 * time.Second, Latency: 5 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	file := writeE2EPipeline(t, srv, dir, "")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "run", file, "--plain")
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Interrupt once some items are done and others are in flight.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "[10/") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the run made no progress in 60 s:\n%s", stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended before it could be interrupted (%v):\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	sigAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("no exit 60 s after SIGINT:\n%s", stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != exitCanceled {
		t.Errorf("exit %d after SIGINT, want %d\n%s", code, exitCanceled, stderr.String())
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "sink", "E2E_*"))
	if len(runs) != 1 {
		t.Fatalf("run folders: %v", runs)
	}
	for _, f := range []string{report.ResultsFile, report.InventoryFile, report.LogFile} {
		if _, err := os.Stat(filepath.Join(runs[0], f)); err != nil {
			t.Errorf("report missing after SIGINT: %v", err)
		}
	}
	m := readManifest(t, runs[0])
	if m.Status != "canceled" || m.ExitCode != exitCanceled {
		t.Errorf("manifest says %s (exit %d) after SIGINT", m.Status, m.ExitCode)
	}
	if m.Counts.Exported == 0 || m.Counts.Canceled == 0 {
		t.Errorf("want some items exported and some not finished: %+v", m.Counts)
	}
	verifyArtifacts(t, m)
	assertNoTempFiles(t, filepath.Join(dir, "sink"))
	// Export jobs in flight were given up: their temporary items must not
	// stay in the user's content for a later run to sweep.
	if left := srv.TempItems(); len(left) > 0 {
		t.Errorf("temporary export items left after SIGINT: %v", left)
	}
	deletes := 0
	for _, r := range srv.Requests() {
		if r.Start.After(sigAt) && r.Endpoint == "delete" {
			deletes++
		}
	}
	t.Logf("after SIGINT: %+v; %d temporary export items deleted after the signal", m.Counts, deletes)
}
