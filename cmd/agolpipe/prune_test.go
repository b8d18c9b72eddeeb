package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
)

// plantManifestRun writes a run folder holding an artifact and a
// manifest.json that says the run started at `at` with status.
func plantManifestRun(t *testing.T, sinkDir string, at time.Time, status string) string {
	t.Helper()
	name := "SIM_" + at.UTC().Format("2006-01-02_15-04-05")
	dir := filepath.Join(sinkDir, name)
	if err := os.MkdirAll(filepath.Join(dir, "Web Map"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Web Map", "City map_abc.json"), []byte(`{"operationalLayers":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r := &report.Run{SchemaVersion: report.SchemaVersion, RunID: name + "-id", RunFolder: name, Started: at.UTC(), Finished: at.UTC().Add(time.Minute), Status: status}
	if err := report.WriteManifest(&b, r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, report.ManifestFile), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestPrune runs `agolpipe prune` through the local sink's plugin process
// against runs planted in a folder: a dry run (by flag, and by dry_run in
// the block) lists and deletes nothing; a real one deletes exactly the runs
// past delete_after, never a folder agolpipe did not write, and says so
// with the lines Results.txt uses.
func TestPrune(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	nas := filepath.Join(dir, "nas")
	now := time.Now()
	old := plantManifestRun(t, nas, now.AddDate(0, 0, -40), "success")
	oldFailed := plantManifestRun(t, nas, now.AddDate(0, 0, -35), "failed")
	recent := plantManifestRun(t, nas, now.AddDate(0, 0, -10), "success")
	newest := plantManifestRun(t, nas, now.AddDate(0, 0, -1), "partial")
	// Not agolpipe's: a folder of notes, and a manifest.json of another tool.
	for p, body := range map[string]string{"notes/todo.txt": "keep me", "other/manifest.json": `{"name":"not ours"}`, "other/data.bin": "x"} {
		f := filepath.Join(nas, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(f, now.AddDate(-1, 0, 0), now.AddDate(-1, 0, 0))
	}
	pipelineFile := func(dry bool) string {
		f := filepath.Join(dir, fmt.Sprintf("p-%v.hcl", dry))
		hcl := fmt.Sprintf(`
source "arcgis" "prod" { url = "https://gis.example.invalid/portal" }
sink "local" "nas" {
  path = %q
  retention {
    delete_after = "30d"
    dry_run      = %v
  }
}
`, nas, dry)
		if err := os.WriteFile(f, []byte(hcl), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	all := []string{newest, recent, oldFailed, old, "notes", "other"}
	tests := []struct {
		name    string
		args    []string
		verb    string
		remains []string
	}{
		// Flags keep their value between executions in one process, so
		// every case sets --dry-run.
		{"--dry-run", []string{"prune", pipelineFile(false), "--dry-run"}, "would delete (dry_run)", all},
		{"dry_run in the block", []string{"prune", pipelineFile(true), "--dry-run=false"}, "would delete (dry_run)", all},
		{"real", []string{"prune", pipelineFile(false), "--dry-run=false"}, "deleted", []string{newest, recent, "notes", "other"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d, want 0; output:\n%s", code, out)
			}
			want := []string{
				fmt.Sprintf("sink %q (local, %s):", "nas", nas),
				fmt.Sprintf("  Retention: %s 2 run(s), 4 object(s), ", tc.verb),
				"; kept 2 run(s)",
				"    - " + old + " (started ", "success): deleted: older than delete_after",
				"    - " + oldFailed + " (started ", "failed): deleted: older than delete_after",
				"    - " + newest + " (started ", "partial): kept: newest complete run",
				"    - " + recent + " (started ", "success): kept: younger than delete_after",
				"    - ignored ",
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			ents, _ := os.ReadDir(nas)
			var got []string
			for _, e := range ents {
				got = append(got, e.Name())
			}
			if strings.Join(got, ",") != strings.Join(slices.Sorted(slices.Values(tc.remains)), ",") {
				t.Errorf("sink holds %v, want %v", got, slices.Sorted(slices.Values(tc.remains)))
			}
			if b, err := os.ReadFile(filepath.Join(nas, "notes", "todo.txt")); err != nil || string(b) != "keep me" {
				t.Errorf("a file agolpipe did not write was touched: %v %q", err, b)
			}
		})
	}
}
