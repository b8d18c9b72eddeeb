package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
)

// exportStarts counts, per source item id, the portal export jobs the
// simulator started (its "export ... of <id> ... started" lines).
type exportStarts struct {
	mu sync.Mutex
	n  map[string]int
}

var exportStartLine = regexp.MustCompile(`^export .+ of ([0-9a-f]{32}) \(.*\) started as `)

func (c *exportStarts) logf(format string, args ...any) {
	if m := exportStartLine.FindStringSubmatch(fmt.Sprintf(format, args...)); m != nil {
		c.mu.Lock()
		c.n[m[1]]++
		c.mu.Unlock()
	}
}

func (c *exportStarts) get(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

// longExportRun backs up the feature services and tile layers of sim_admin
// in srv with the given export timeout and run block lines, in-process
// through the plugin subprocesses. It returns the exit code, what the run
// printed, the run folder and its manifest.
func longExportRun(t *testing.T, srv *sim.Server, timeout, runExtra string) (int, string, string, *report.Run) {
	t.Helper()
	dir := t.TempDir()
	admin, ok := demoAdmin(srv)
	if !ok {
		t.Fatal("no admin in the simulated org")
	}
	t.Setenv("SIM_PASSWORD", admin.Password)
	file := writePipeline(t, dir, simSource(srv, admin, `  owners = ["sim_admin"]
  types  = ["Feature Service", "Map Service"]`)+fmt.Sprintf(`
export "Feature Service" { timeout = %[1]q }
export "Map Service" { timeout = %[1]q }
sink "local" "disk" { path = %[2]q }
run {
  prefix      = "LONG"
  concurrency = 4
  %[3]s
}
`, timeout, filepath.Join(dir, "sink"), runExtra))
	code, out := runCLI(t, "run", file, "--plain")
	runs, _ := filepath.Glob(filepath.Join(dir, "sink", "LONG_*"))
	if len(runs) != 1 {
		t.Fatalf("exit %d, run folders %v\n%s", code, runs, out)
	}
	return code, out, runs[0], readManifest(t, runs[0])
}

// unlistedFiles are the files in a run folder that its manifest does not
// list (the reports aside): verify and restore would never see them.
func unlistedFiles(t *testing.T, runDir string, m *report.Run) []string {
	t.Helper()
	listed := map[string]bool{report.ManifestFile: true, report.InventoryFile: true, report.ResultsFile: true, report.LogFile: true}
	for _, a := range m.Artifacts {
		for _, o := range a.Sinks {
			if o.Status == report.Stored {
				listed[o.Path] = true
			}
		}
	}
	var out []string
	filepath.WalkDir(runDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(runDir, p)
		if !listed[filepath.ToSlash(rel)] {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// sinkServices are the ids of sim_admin's hosted feature services (the
// items of longExportRun that go through the export API).
func adminFeatureServices(srv *sim.Server) []string {
	o := srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	var ids []string
	for _, it := range o.Items {
		if it.Owner == "sim_admin" && it.Type == "Feature Service" && !it.Temp && !it.Deleted {
			ids = append(ids, it.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// orgWithHungExport starts a test org whose export jobs take exportTime,
// except the first of sim_admin's feature services (hung), whose job never
// ends. A first org with the same seed is started only to learn the ids.
func orgWithHungExport(t *testing.T, exportTime time.Duration) (*sim.Server, *exportStarts, []string, string) {
	t.Helper()
	starts := &exportStarts{n: map[string]int{}}
	o := e2eOrg(sim.Options{ExportTime: exportTime, Logf: starts.logf})
	probe, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	fsIDs := adminFeatureServices(probe)
	probe.Close()
	hung := fsIDs[0]
	o.ExportFaults = map[string]sim.ExportFault{hung: sim.ExportHang}
	srv, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv, starts, fsIDs, hung
}

// checkRunFolder: however a long run ended, its folder holds only what the
// manifest lists, each artifact as the manifest says, and no temporary
// export item is left in the portal.
func checkRunFolder(t *testing.T, srv *sim.Server, runDir string, m *report.Run) {
	t.Helper()
	if extra := unlistedFiles(t, runDir, m); len(extra) > 0 {
		t.Errorf("%d files in the run folder are not in the manifest: %v", len(extra), extra)
	}
	verifyArtifacts(t, m)
	if left := srv.TempItems(); len(left) > 0 {
		t.Errorf("temporary export items left: %v", left)
	}
}

// TestLongExportsDeferOnce: export jobs that outlive the export timeout
// (8 s jobs, 4 s timeout) are deferred, not restarted: each item gets one
// portal export job in the run, every job is collected before the run
// ends, and everything the items wrote (definitions and descriptions from
// before the deferral, data after) is in the manifest.
func TestLongExportsDeferOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	starts := &exportStarts{n: map[string]int{}}
	srv, err := sim.Start(e2eOrg(sim.Options{ExportTime: 8 * time.Second, Logf: starts.logf}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fsIDs := adminFeatureServices(srv)
	if len(fsIDs) < 4 {
		t.Fatalf("want several feature services of sim_admin, have %v", fsIDs)
	}
	began := time.Now()
	code, out, runDir, m := longExportRun(t, srv, "4s", "")
	t.Logf("run took %s: %+v", time.Since(began).Round(time.Millisecond), m.Counts)
	if code != 0 {
		t.Errorf("exit %d, want 0\n%s", code, out)
	}
	items := statuses(m)
	for _, id := range fsIDs {
		it := items[id]
		if it.Status != "exported" {
			t.Errorf("feature service %s: %s (%s)", id, it.Status, it.Reason)
		}
		if n := starts.get(id); n != 1 {
			t.Errorf("feature service %s: %d portal export jobs in one run, want exactly 1", id, n)
		}
		names := map[string]bool{}
		for _, a := range m.Artifacts {
			if a.ItemID == id {
				names[a.Name] = true
			}
		}
		for _, want := range []string{"data.gdb.zip", "service.json", "layers.json", "item.json"} {
			if !names[want] {
				t.Errorf("feature service %s: %s not in the manifest (has %v)", id, want, names)
			}
		}
	}
	log, _ := os.ReadFile(filepath.Join(runDir, report.LogFile))
	if d := strings.Count(string(log), "export deferred"); d < len(fsIDs) {
		t.Errorf("%d exports deferred, want every feature service's (%d): the test no longer exercises deferral", d, len(fsIDs))
	}
	exportTiles := 0
	for _, r := range srv.Requests() {
		if r.Endpoint == "exportTiles" {
			exportTiles++
		}
	}
	if exportTiles != 1 {
		t.Errorf("%d exportTiles jobs for the one tile layer, want 1", exportTiles)
	}
	checkRunFolder(t, srv, runDir, m)
}

// TestHungExportGivenUp: a portal export job that never ends does not hold
// the run. With a 2 s timeout the hung job is collected until it has run
// 4 times that, then given up: its item fails with the reason, its
// temporary item is deleted, the other items (3 s jobs, deferred too) are
// collected, the reports are written and the exit code is 1.
func TestHungExportGivenUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, starts, fsIDs, hung := orgWithHungExport(t, 3*time.Second)

	began := time.Now()
	code, out, runDir, m := longExportRun(t, srv, "2s", "")
	took := time.Since(began)
	t.Logf("run took %s: %+v", took.Round(time.Millisecond), m.Counts)
	if took > 40*time.Second {
		t.Errorf("the run took %s with a 2 s timeout: the hung job held it", took)
	}
	if code != 1 || m.Status != "partial" {
		t.Errorf("exit %d, status %s; want 1, partial\n%s", code, m.Status, out)
	}
	items := statuses(m)
	h := items[hung]
	if h.Status != "failed" || h.ErrorKind != "timeout" || !strings.Contains(h.Reason, "given up") || !strings.Contains(h.Reason, "4 times") {
		t.Errorf("hung item: %s (%s) %q", h.Status, h.ErrorKind, h.Reason)
	}
	for _, id := range fsIDs {
		if id != hung && items[id].Status != "exported" {
			t.Errorf("feature service %s: %s (%s)", id, items[id].Status, items[id].Reason)
		}
		if n := starts.get(id); n != 1 {
			t.Errorf("feature service %s: %d portal export jobs, want 1", id, n)
		}
	}
	for _, a := range m.Artifacts {
		if a.ItemID == hung {
			t.Errorf("the failed item still has %s in the manifest", a.Name)
		}
	}
	res, _ := os.ReadFile(filepath.Join(runDir, report.ResultsFile))
	if !strings.Contains(string(res), hung) || !strings.Contains(string(res), "given up") {
		t.Errorf("Results.txt does not say the hung item's job was given up:\n%s", res)
	}
	checkRunFolder(t, srv, runDir, m)
}

// TestMaxDuration: run.max_duration stops a run whose exports cannot all
// finish in time (6 s jobs, a 3 s timeout, one job that never ends, 8 s for
// the run): what is still pending fails with the reason, every portal job
// given up has its temporary item deleted, the reports are written and the
// exit code is 1, soon after the bound.
func TestMaxDuration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, starts, fsIDs, hung := orgWithHungExport(t, 6*time.Second)

	began := time.Now()
	code, out, runDir, m := longExportRun(t, srv, "3s", `max_duration = "8s"`)
	took := time.Since(began)
	t.Logf("run took %s: %+v", took.Round(time.Millisecond), m.Counts)
	if took > 25*time.Second {
		t.Errorf("the run took %s with max_duration = 8s", took)
	}
	if code != 1 || m.Status == "success" || m.Status == "canceled" {
		t.Errorf("exit %d, status %s; want 1, failed or partial\n%s", code, m.Status, out)
	}
	if !strings.Contains(m.Error, "max_duration") {
		t.Errorf("manifest error %q does not name max_duration", m.Error)
	}
	failed := 0
	for _, it := range m.Items {
		if it.Exporter == "" {
			continue // excluded by the source filters
		}
		switch it.Status {
		case "exported":
		case "failed":
			failed++
			if it.ErrorKind != "timeout" || !strings.Contains(it.Reason, "run.max_duration (8s)") {
				t.Errorf("item %s failed with %s %q, want the max_duration reason", it.ID, it.ErrorKind, it.Reason)
			}
		default:
			t.Errorf("item %s: %s (%s), want exported or failed", it.ID, it.Status, it.Reason)
		}
	}
	if h := statuses(m)[hung]; h.Status != "failed" {
		t.Errorf("hung item: %s (%s)", h.Status, h.Reason)
	}
	if failed == 0 {
		t.Error("no item failed at max_duration")
	}
	for _, id := range fsIDs {
		if n := starts.get(id); n > 1 {
			t.Errorf("feature service %s: %d portal export jobs, want at most 1", id, n)
		}
	}
	res, _ := os.ReadFile(filepath.Join(runDir, report.ResultsFile))
	if !strings.Contains(string(res), "max_duration") {
		t.Errorf("Results.txt does not mention max_duration:\n%s", res)
	}
	checkRunFolder(t, srv, runDir, m)
}
