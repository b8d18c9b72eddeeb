package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// addSimItem puts an item into the simulated org as if it had been there
// for age: temp marks it as an export result (the simulator's TempItems).
func addSimItem(srv *sim.Server, it *org.Item, age time.Duration, temp bool) {
	o := srv.Org()
	o.Mu.Lock()
	defer o.Mu.Unlock()
	ms := time.Now().Add(-age).UnixMilli()
	it.Created, it.Modified, it.Access, it.Temp = ms, ms, org.AccessPrivate, temp
	if it.Body != nil {
		it.Data, it.Size = org.DataStored, int64(len(it.Body))
	}
	o.AddItem(it)
}

// simItemGone reports whether the item id is deleted from the org.
func simItemGone(srv *sim.Server, id string) bool {
	o := srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	it := o.Item(id)
	return it == nil || it.Deleted
}

// runTypes runs a pipeline backing up only the item types of srv (as
// "PDF", "Image") into dir/sink, and returns the exit code, the output and
// the manifest of the run.
func runTypes(t *testing.T, srv *sim.Server, dir string, types ...string) (int, string, *report.Run) {
	t.Helper()
	admin, _ := demoAdmin(srv)
	t.Setenv("SIM_PASSWORD", admin.Password)
	q := make([]string, len(types))
	for i, x := range types {
		q[i] = strconv.Quote(x)
	}
	file := writePipeline(t, dir, simSource(srv, admin, "  types = ["+strings.Join(q, ", ")+"]\n")+
		fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\nrun {\n  prefix = \"E2E\"\n  concurrency = 4\n}\n", filepath.Join(dir, "sink")))
	code, out := runCLI(t, "run", file, "--plain")
	runs, _ := filepath.Glob(filepath.Join(dir, "sink", "E2E_*"))
	slices.Sort(runs)
	if len(runs) == 0 {
		t.Fatalf("agolpipe run: exit %d, no run folder\n%s", code, out)
	}
	return code, out, readManifest(t, runs[len(runs)-1])
}

// readResults is the Results.txt of the run folder of m in dir's sink.
func readResults(t *testing.T, dir string, m *report.Run) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "sink", m.RunFolder, report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunTempItemsProof: the portal holds a real PDF and a real image whose
// titles start like agolpipe's temporary export items, and two export
// results that earlier runs left with agolpipe's mark: one whose run's
// process on this machine has ended, one of another machine older than
// 3 days. Through the real run, the look-alikes are backed up and never
// deleted; the marked leftovers are removed, and Results.txt says so.
func TestRunTempItemsProof(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, err := sim.Start(e2eOrg(sim.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	admin, _ := demoAdmin(srv)
	host := strings.SplitN(sdk.RunProcess(1), "@", 2)[1]
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	const pdf, photos = "00000000000000000000000000budget", "00000000000000000000000000photos"
	const crashed, stale = "0000000000000000000000000crashed", "000000000000000000000000000stale"
	addSimItem(srv, &org.Item{ID: pdf, Owner: admin.Username, Title: "agolpipe-export budget notes 2019-2024", Type: "PDF",
		Name: "budget.pdf", Body: []byte("%PDF-1.4 budget notes\n")}, 30*24*time.Hour, false)
	addSimItem(srv, &org.Item{ID: photos, Owner: admin.Username, Title: "agolpipe-export field photos", Type: "Image",
		Name: "photos.jpg", Body: []byte("\xff\xd8\xff field photos")}, 2*time.Hour, false)
	run := "E2E_2026-01-01_00-00-00-0badc0de"
	addSimItem(srv, &org.Item{ID: crashed, Owner: admin.Username, Title: sdk.TempExportTitle(run, "x"), Type: "File Geodatabase", Name: "x.zip",
		TypeKeywords: append([]string{"Data"}, sdk.TempExportMark(run, fmt.Sprintf("%d@%s", ended.Process.Pid, host))...)}, 20*time.Minute, true)
	addSimItem(srv, &org.Item{ID: stale, Owner: admin.Username, Title: sdk.TempExportTitle(run, "y"), Type: "CSV", Name: "y.zip",
		TypeKeywords: sdk.TempExportMark(run, "77@another-machine")}, 80*time.Hour, true)

	code, out, m := runTypes(t, srv, dir, "PDF", "Image", "File Geodatabase", "CSV")
	if code != 0 {
		t.Errorf("exit %d: %+v\n%s", code, m.Counts, out)
	}
	st := statuses(m)
	for _, id := range []string{pdf, photos} {
		if simItemGone(srv, id) {
			t.Errorf("real item %s was deleted from the portal", id)
		}
		if st[id].Status != sdk.StatusExported {
			t.Errorf("real item %s (%s): %q (%s), want it backed up", id, st[id].Title, st[id].Status, st[id].Reason)
		}
		n := 0
		for _, a := range m.Artifacts {
			if a.ItemID == id {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no artifact of real item %s in the manifest", id)
		}
	}
	for _, r := range srv.Requests() {
		if r.Endpoint == "delete" && (strings.Contains(r.Path, pdf) || strings.Contains(r.Path, photos)) {
			t.Errorf("a delete was sent for a real item: %s %s", r.Method, r.Path)
		}
	}
	for _, id := range []string{crashed, stale} {
		if !simItemGone(srv, id) {
			t.Errorf("marked leftover %s of an ended run is still in the portal", id)
		}
		if _, listed := st[id]; listed {
			t.Errorf("marked leftover %s was listed for backup", id)
		}
	}
	if left := srv.TempItems(); len(left) > 0 {
		t.Errorf("temporary export items left: %v", left)
	}
	res := readResults(t, dir, m)
	if !strings.Contains(res, "removed 2 temporary export item(s)") || !strings.Contains(res, crashed) || !strings.Contains(res, stale) {
		t.Errorf("Results.txt does not report the removed leftovers:\n%s", res)
	}
	verifyArtifacts(t, m)
}

// childPIDs are the processes pid started (its plugins), from /proc: of
// every thread, since a Go process forks from whichever runs.
func childPIDs(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// TestKilledRunTempItemsRemovedByNextRun: `agolpipe run` is killed with
// SIGKILL while export jobs are running, which leaves their temporary
// items in the portal, hours short of the 3-day age. The next run must
// report them and remove them (they carry the killed run's mark, and its
// process has ended), and back up the organization as usual.
func TestKilledRunTempItemsRemovedByNextRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to tell whether a run's process has ended")
	}
	dir := t.TempDir()
	srv, err := sim.Start(e2eOrg(sim.Options{ExportTime: 3 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	admin, _ := demoAdmin(srv)
	t.Setenv("SIM_PASSWORD", admin.Password)
	file := writePipeline(t, dir, simSource(srv, admin, "  types = [\"Feature Service\"]\n")+
		fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\nrun {\n  prefix = \"E2E\"\n  concurrency = 4\n}\n", filepath.Join(dir, "sink")))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "run", file, "--plain")
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for len(srv.TempItems()) < 2 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no temporary export item appeared in 60 s:\n%s", out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended before it could be killed (%v):\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	plugins := childPIDs(cmd.Process.Pid)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
	// Its plugins lose their host; end them too, by pid, as they are
	// processes this test started through the killed run.
	for _, pid := range plugins {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
	left := srv.TempItems()
	if len(left) == 0 {
		t.Fatal("the killed run left no temporary export item: nothing to test")
	}
	t.Logf("the killed run left %d temporary export items: %v", len(left), left)

	// The next run (of other item types, to keep the test short: the
	// leftovers are removed at sign-in, whatever the run backs up).
	code, out2, m := runTypes(t, srv, dir, "Web Map")
	if code != 0 {
		t.Errorf("next run: exit %d: %+v\n%s", code, m.Counts, out2)
	}
	for _, id := range left {
		if !simItemGone(srv, id) {
			t.Errorf("temporary export item %s of the killed run is still in the portal after the next run", id)
		}
	}
	res := readResults(t, dir, m)
	for _, id := range left {
		if !strings.Contains(res, id) {
			t.Errorf("Results.txt of the next run does not name the removed item %s:\n%s", id, res)
		}
	}
	if l := srv.TempItems(); len(l) > 0 {
		t.Errorf("temporary export items left after the next run: %v", l)
	}
}

// hostedServices are ids of hosted feature services (not views) of the
// e2e organization.
func hostedServices(t *testing.T) []string {
	t.Helper()
	srv, err := sim.Start(e2eOrg(sim.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	o := srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	var out []string
	for _, it := range o.Items {
		if it.Type == "Feature Service" && slices.Contains(it.TypeKeywords, "Hosted Service") && !slices.Contains(it.TypeKeywords, "View Service") {
			out = append(out, it.ID)
		}
	}
	if len(out) < 2 {
		t.Fatalf("the e2e organization has %d hosted feature services, want 2", len(out))
	}
	return out
}

// TestFailedTempCleanupInResults: when the temporary export items of an
// item cannot be deleted, the item's record says so in Results.txt and the
// manifest, for an item exported as for one that failed, not only run.log.
func TestFailedTempCleanupInResults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	fs := hostedServices(t)
	ok, failing := fs[0], fs[1]
	dir := t.TempDir()
	srv, err := sim.Start(e2eOrg(sim.Options{ExportFaults: map[string]sim.ExportFault{ok: sim.ExportUndeletable, failing: sim.ExportFailUndeletable}}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	_, _, m := runTypes(t, srv, dir, "Feature Service")
	st := statuses(m)
	res := readResults(t, dir, m)
	const said = "could not be deleted"
	if it := st[ok]; it.Status != sdk.StatusExported || !strings.Contains(strings.Join(it.Warnings, "\n"), said) {
		t.Errorf("item %s: %s, warnings %q: want exported with the failed clean-up among its warnings", ok, it.Status, it.Warnings)
	}
	if it := st[failing]; it.Status != sdk.StatusFailed || !strings.Contains(it.Reason, said) {
		t.Errorf("item %s: %s, reason %q: want failed, the failed clean-up in its reason", failing, it.Status, it.Reason)
	}
	left := srv.TempItems()
	if len(left) == 0 {
		t.Fatal("no undeletable temporary item is left: the fault did not apply")
	}
	for _, id := range left {
		if !strings.Contains(res, id) {
			t.Errorf("Results.txt does not name the temporary item %s that could not be deleted:\n%s", id, res)
		}
	}
}

// TestThrottledTempDeleteRetried: the portal throttles writes the way
// ArcGIS Online does (a burst gets HTML 403 pages for a while); the delete
// of the temporary export item falls into the block and must be retried
// until it is done, not given up with a warning that leaves the item.
func TestThrottledTempDeleteRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	fs := hostedServices(t)
	dir := t.TempDir()
	// Writes of the one item: export, mark (update), delete. The delete is
	// the third: it starts a 25 s block, longer than the ordinary retries
	// of a request (and of the sweep after it) last.
	srv, err := sim.Start(e2eOrg(sim.Options{Throttle: true, ThrottleWrites: 2, ThrottleBlock: 25 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var others []string
	o := srv.Org()
	o.Mu.RLock()
	for _, it := range o.Items {
		if it.Type == "Feature Service" && it.ID != fs[0] {
			others = append(others, fmt.Sprintf("%q", it.ID))
		}
	}
	o.Mu.RUnlock()
	admin, _ := demoAdmin(srv)
	t.Setenv("SIM_PASSWORD", admin.Password)
	file := writePipeline(t, dir, simSource(srv, admin, fmt.Sprintf("  types = [\"Feature Service\"]\n  exclude_ids = [%s]\n", strings.Join(others, ", ")))+
		fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\nrun {\n  prefix = \"E2E\"\n}\n", filepath.Join(dir, "sink")))
	code, out := runCLI(t, "run", file, "--plain")
	if code != 0 {
		t.Errorf("exit %d:\n%s", code, out)
	}
	throttled := 0
	for _, r := range srv.Requests() {
		if r.Endpoint == "delete" && r.Fault == "403-burst" {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("no delete was throttled: the test did not test anything")
	}
	if left := srv.TempItems(); len(left) > 0 {
		t.Errorf("temporary export items left after %d throttled deletes: %v\n%s", throttled, left, out)
	}
}

// TestPlanRemovesNothing: `agolpipe plan` changes nothing in the portal: a
// leftover temporary item a run would remove stays, and the plan says a
// run would remove it.
func TestPlanRemovesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, err := sim.Start(e2eOrg(sim.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	admin, _ := demoAdmin(srv)
	t.Setenv("SIM_PASSWORD", admin.Password)
	const stale = "000000000000000000000000000stale"
	run := "E2E_2026-01-01_00-00-00-0badc0de"
	addSimItem(srv, &org.Item{ID: stale, Owner: admin.Username, Title: sdk.TempExportTitle(run, "y"), Type: "CSV", Name: "y.zip",
		TypeKeywords: sdk.TempExportMark(run, "77@another-machine")}, 80*time.Hour, true)
	file := writePipeline(t, dir, simSource(srv, admin, "  types = [\"Web Map\"]\n")+
		fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\nrun {\n  prefix = \"E2E\"\n}\n", filepath.Join(dir, "sink")))
	code, out := runCLI(t, "plan", file)
	if code != 0 {
		t.Errorf("plan: exit %d\n%s", code, out)
	}
	if simItemGone(srv, stale) {
		t.Error("plan deleted a temporary export item: a plan must change nothing")
	}
	if !strings.Contains(out, "a run would remove 1 temporary export item(s)") || !strings.Contains(out, stale) {
		t.Errorf("plan does not say what a run would remove:\n%s", out)
	}
	for _, r := range srv.Requests() {
		if r.Endpoint == "delete" {
			t.Errorf("plan sent a delete: %s", r.Path)
		}
	}
}
