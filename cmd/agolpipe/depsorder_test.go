package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
)

// restoreOrgsNoDeps is restoreOrgs with org A backed up by a source that
// does not collect dependencies (`dependencies = false`): the run's
// manifest records none.
func restoreOrgsNoDeps(t *testing.T, dir string) (a, b *sim.Server, aFile, bFile string) {
	t.Helper()
	a, adminA := startSim(t, sim.Options{Items: 60, Seed: 11})
	b, err := sim.Start(sim.Options{Items: 60, Seed: 12, Empty: true})
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
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	if err := os.WriteFile(aFile, []byte(simSource(a, adminA, "  dependencies = false")+sinkA+"\nrun {\n  prefix = \"A\"\n  concurrency = 4\n}\n"), 0o644); err != nil {
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

// TestRestoreParallelWithoutRecordedDependencies: a run made with the
// source's `dependencies = false` records no item's dependencies. Restored
// into another org with --parallel, every web map must still come after
// the services it uses (the plan reads the references from the items'
// JSON), so it points at B's copies, never at A's services.
func TestRestoreParallelWithoutRecordedDependencies(t *testing.T) {
	dir := t.TempDir()
	_, b, aFile, bFile := restoreOrgsNoDeps(t, dir)
	mA := readManifest(t, latestRun(t, filepath.Join(dir, "a", "sink"), "A_"))
	for _, it := range mA.Items {
		if len(it.Dependencies) > 0 {
			t.Fatalf("item %s of a run without dependencies records %v", it.ID, it.Dependencies)
		}
	}
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--type", "Feature Service", "--type", "Web Map", "--to", bFile,
		"--parallel", "8", "--yes")
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "records no dependencies") {
		t.Errorf("the plan does not say the references were read from the items' JSON:\n%s", out)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	o := b.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	checked := 0
	for _, e := range rep.Items {
		if e.Type != "Web Map" || e.Outcome != restore.Restored {
			continue
		}
		it := o.Item(e.NewItemID)
		if it == nil {
			t.Fatalf("web map %s: restored as %s, which B does not hold", e.ID, e.NewItemID)
		}
		for old, nu := range rep.Remap {
			if old == e.ID {
				continue
			}
			if bytes.Contains(it.Body, []byte(old)) {
				t.Errorf("web map %s %q (-> %s) still refers to A's %s (restored as %s): it did not wait for it", e.ID, e.Title, e.NewItemID, old, nu)
			}
			if bytes.Contains(it.Body, []byte(nu)) {
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no restored web map refers to a restored service: the test proves nothing\n%s", out)
	}
}

// TestRestoreNoDependenciesUsesEarlierCopies: a web map restored on its
// own (--no-dependencies) into another org, where an earlier restore made
// a copy of one of its services, points at that copy (its id and URL, as
// the earlier restore's report records them); a service of it that is
// neither restored nor copied keeps its backup reference, with a warning
// in the plan and in the report.
func TestRestoreNoDependenciesUsesEarlierCopies(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	_, b, aFile, bFile := restoreOrgs(t, dir, sinkA)
	mA := readManifest(t, latestRun(t, filepath.Join(dir, "a", "sink"), "A_"))
	byID := map[string]report.Item{}
	for _, it := range mA.Items {
		byID[it.ID] = it
	}
	var wm report.Item
	var svcs []string
	for _, it := range mA.Items {
		if it.Type != "Web Map" || it.Status != sdk.StatusExported {
			continue
		}
		svcs = svcs[:0]
		for _, d := range it.Dependencies {
			if dep, ok := byID[d]; ok && dep.Type == "Feature Service" && dep.Status == sdk.StatusExported {
				svcs = append(svcs, d)
			}
		}
		if len(svcs) >= 2 {
			wm = it
			break
		}
	}
	if wm.ID == "" {
		t.Fatal("no web map of A uses two feature services")
	}
	copied, left := svcs[0], svcs[1:]
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--item", copied, "--no-dependencies", "--to", bFile, "--yes")
	if code != exitOK {
		t.Fatalf("restore of service %s: exit %d\n%s", copied, code, out)
	}
	first := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	copyID := first.Remap[copied]
	if copyID == "" {
		t.Fatalf("service %s was not restored:\n%s", copied, out)
	}
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", wm.ID, "--no-dependencies", "--to", bFile, "--yes")
	if code != exitOK {
		t.Fatalf("restore of web map %s: exit %d\n%s", wm.ID, code, out)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	if rep.RestoreID == first.RestoreID || len(rep.Items) != 1 || rep.Items[0].Outcome != restore.Restored {
		t.Fatalf("the web map's restore: %+v\n%s", rep.Items, out)
	}
	if rep.Remap[copied] != copyID {
		t.Errorf("the report's remap leads service %s to %q, not to its copy %s", copied, rep.Remap[copied], copyID)
	}
	o := b.Org()
	o.Mu.RLock()
	body := append([]byte(nil), o.Item(rep.Items[0].NewItemID).Body...)
	o.Mu.RUnlock()
	for old, nu := range first.Remap {
		if bytes.Contains(body, []byte(old)) {
			t.Errorf("the web map in B still refers to A's %s, which B holds as %s", old, nu)
		}
	}
	if !bytes.Contains(body, []byte(copyID)) {
		t.Errorf("the web map in B does not refer to the service's copy %s:\n%s", copyID, body)
	}
	for _, d := range left {
		if !bytes.Contains(body, []byte(d)) {
			t.Errorf("the web map lost its reference to service %s, restored nowhere", d)
		}
		warned := func(ws []string) bool {
			for _, w := range ws {
				if strings.Contains(w, d) && strings.Contains(w, wm.ID) && strings.Contains(w, "does not restore") {
					return true
				}
			}
			return false
		}
		if !warned(rep.Warnings) {
			t.Errorf("the report does not warn that service %s stays the backup's: %v", d, rep.Warnings)
		}
		if !strings.Contains(out, "warning: item "+wm.ID) || !strings.Contains(out, d) {
			t.Errorf("the plan does not warn that service %s stays the backup's:\n%s", d, out)
		}
	}
}
