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
// manifest.json that says the run started at `at` with status, written by
// pipeline id (see pipeline.Pipeline.ID) into its sink "nas".
func plantManifestRun(t *testing.T, sinkDir string, at time.Time, status, id string) string {
	t.Helper()
	return plantRunFolder(t, sinkDir, plantedRun{prefix: "SIM", at: at, status: status, id: id, sink: "nas"})
}

// plantedRun is a run folder a test writes as agolpipe would have.
type plantedRun struct {
	prefix     string
	at         time.Time
	status, id string
	sink       string
	// since, when set, makes it an incremental run (modified_within).
	since time.Time
}

func plantRunFolder(t *testing.T, sinkDir string, pr plantedRun) string {
	t.Helper()
	at, status := pr.at, pr.status
	name := pr.prefix + "_" + at.UTC().Format("2006-01-02_15-04-05")
	dir := filepath.Join(sinkDir, name)
	if err := os.MkdirAll(filepath.Join(dir, "Web Map"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Web Map", "City map_abc.json"), []byte(`{"operationalLayers":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r := &report.Run{SchemaVersion: report.SchemaVersion, RunID: name + "-id", RunFolder: name, PipelineID: pr.id, Sink: pr.sink, Started: at.UTC(), Finished: at.UTC().Add(time.Minute), Status: status}
	if !pr.since.IsZero() {
		since := pr.since.UTC()
		r.ModifiedSince = &since
	}
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
	const id = "agolpipe arcgis https://gis.example.invalid/portal" // the pipeline below
	old := plantManifestRun(t, nas, now.AddDate(0, 0, -40), "success", id)
	oldFailed := plantManifestRun(t, nas, now.AddDate(0, 0, -35), "failed", id)
	recent := plantManifestRun(t, nas, now.AddDate(0, 0, -10), "success", id)
	newest := plantManifestRun(t, nas, now.AddDate(0, 0, -1), "partial", id)
	// Runs that are not this pipeline's in this sink, all old enough to go
	// if they were: another organization's pipeline sharing the folder,
	// this pipeline's runs under another sink name, a run written before
	// manifests named their pipeline, and this pipeline's runs in a sink
	// folder nested inside this one.
	foreign := plantRunFolder(t, nas, plantedRun{prefix: "agolpipe", at: now.AddDate(0, 0, -50), status: "success", id: "agolpipe arcgis https://other.example.invalid/portal", sink: "nas"})
	otherSink := plantRunFolder(t, nas, plantedRun{prefix: "agolpipe", at: now.AddDate(0, 0, -51), status: "success", id: id, sink: "offsite"})
	legacy := plantRunFolder(t, nas, plantedRun{prefix: "agolpipe", at: now.AddDate(0, 0, -52), status: "success"})
	// Unfinished runs (manifest still saying running): one killed three
	// days ago goes; one started an hour ago may still be going and stays.
	crashed := plantManifestRun(t, nas, now.Add(-72*time.Hour), "running", id)
	going := plantManifestRun(t, nas, now.Add(-time.Hour), "running", id)
	nested := plantRunFolder(t, filepath.Join(nas, "incremental"), plantedRun{prefix: "SIM", at: now.AddDate(0, 0, -53), status: "success", id: id, sink: "nas"})
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
	alone := []string{foreign, otherSink, legacy, "incremental", "notes", "other"}
	all := append([]string{newest, recent, oldFailed, old, crashed, going}, alone...)
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
		{"real", []string{"prune", pipelineFile(false), "--dry-run=false"}, "deleted", append([]string{newest, recent, going}, alone...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d, want 0; output:\n%s", code, out)
			}
			want := []string{
				fmt.Sprintf("sink %q (local, %s), runs of pipeline %q:", "nas", nas, id),
				fmt.Sprintf("  Retention: %s 3 run(s), 6 object(s), ", tc.verb),
				"; kept 3 run(s)",
				"    - " + crashed + " (started ", "running): deleted: unfinished (status running) and 3 days old",
				"    - " + going + " (started ", "running): kept: unfinished (status running) and 1h0m0s old: may still be going",
				"    - " + old + " (started ", "success): deleted: older than delete_after",
				"    - " + oldFailed + " (started ", "failed): deleted: older than delete_after",
				"    - " + newest + " (started ", "partial): kept: newest complete full run",
				"    - " + recent + " (started ", "success): kept: younger than delete_after",
				"    - ignored ",
				"  Left alone: 3 run(s) of other pipelines or sinks in this folder",
				"    - " + foreign + " (started ", `success): left alone: a run of pipeline "agolpipe arcgis https://other.example.invalid/portal", sink "nas", not this one`,
				"    - " + otherSink + " (started ", `success): left alone: a run of pipeline "` + id + `", sink "offsite", not this one`,
				"    - " + legacy + " (started ", "success): left alone: a run with no pipeline_id",
				"manifest.json file(s) in subfolders, such as incremental/" + nested + "/manifest.json",
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
			if _, err := os.Stat(filepath.Join(nas, "incremental", nested, "Web Map", "City map_abc.json")); err != nil {
				t.Errorf("a run of the sink nested inside this one was touched: %v", err)
			}
			if b, err := os.ReadFile(filepath.Join(nas, "notes", "todo.txt")); err != nil || string(b) != "keep me" {
				t.Errorf("a file agolpipe did not write was touched: %v %q", err, b)
			}
		})
	}
}

// TestPrune200DaysNightlyAndIncremental plants 200 days of runs in the
// layout the examples used to ship: the nightly full runs in the sink's
// folder and the incremental pipeline's runs (every 6 hours) in a folder
// inside it. Each pipeline's prune, through the local sink's plugin, keeps
// to its own runs: the nightly one keeps every full run younger than 90
// days plus one full run in each older month (keep_monthly), and never
// touches an incremental run; the incremental one deletes only its own
// runs past two weeks.
func TestPrune200DaysNightlyAndIncremental(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "gis-backups")
	incr := filepath.Join(root, "incremental")
	const url = "https://gis.example.invalid/portal"
	nightlyID, incrID := "PROD arcgis "+url, "PROD-INCR arcgis "+url
	// Runs are whole hours (and half hours) apart from now, so none lies
	// within seconds of a 90-day or 2-week boundary when prune looks.
	now := time.Now()
	type planted struct {
		name string
		at   time.Time
	}
	var fulls, incs []planted
	for d := 0; d < 200; d++ {
		at := now.AddDate(0, 0, -d).Add(-time.Hour)
		fulls = append(fulls, planted{plantRunFolder(t, root, plantedRun{prefix: "PROD", at: at, status: "success", id: nightlyID, sink: "nas"}), at})
		for h := 0; h < 24; h += 6 {
			at := now.AddDate(0, 0, -d).Add(-time.Duration(h)*time.Hour - 30*time.Minute)
			incs = append(incs, planted{plantRunFolder(t, incr, plantedRun{prefix: "PROD-INCR", at: at, status: "success", id: incrID, sink: "nas", since: at.Add(-24 * time.Hour)}), at})
		}
	}
	write := func(name, prefix, path, retention string) string {
		f := filepath.Join(dir, name)
		hcl := fmt.Sprintf(`
source "arcgis" "prod" { url = %q }
sink "local" "nas" {
  path = %q
  retention {
%s
  }
}
run { prefix = %q }
`, url, path, retention, prefix)
		if err := os.WriteFile(f, []byte(hcl), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	nightly := write("nightly.hcl", "PROD", root, `    delete_after = "90d"
    keep_weekly  = 8
    keep_monthly = 12`)
	incremental := write("incremental.hcl", "PROD-INCR", incr, `    delete_after = "2w"`)

	for _, f := range []string{nightly, incremental} {
		if code, out := runCLI(t, "prune", f, "--dry-run=false"); code != exitOK {
			t.Fatalf("prune %s: exit %d\n%s", f, code, out)
		}
	}
	exists := func(base, name string) bool {
		_, err := os.Stat(filepath.Join(base, name, report.ManifestFile))
		return err == nil
	}
	// Nightly: every run of the last 90 days, and before that the newest
	// full run of each month (all older months fit in keep_monthly 12).
	months := map[string]bool{}
	for _, f := range fulls {
		age := now.Sub(f.at)
		month := f.at.In(time.Local).Format("2006-01")
		wantKept := age <= 90*24*time.Hour || !months[month]
		months[month] = true
		if got := exists(root, f.name); got != wantKept {
			t.Errorf("full run %s (%d days old): kept %v, want %v", f.name, int(age.Hours()/24), got, wantKept)
		}
	}
	oldFullKept := 0
	for _, f := range fulls {
		if now.Sub(f.at) > 90*24*time.Hour && exists(root, f.name) {
			oldFullKept++
		}
	}
	if oldFullKept < 3 {
		t.Errorf("only %d full runs older than 90 days remain; the monthly backups are gone", oldFullKept)
	}
	// Incremental: its own two weeks, nothing else.
	for _, r := range incs {
		want := now.Sub(r.at) <= 14*24*time.Hour
		if got := exists(incr, r.name); got != want {
			t.Errorf("incremental run %s (%s old): kept %v, want %v", r.name, now.Sub(r.at).Round(time.Hour), got, want)
		}
	}
}
