package main

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
)

// plantRun copies a finished run folder under the name of a run started at
// `at`, with its manifest saying so, as an older run of the same pipeline.
func plantRun(t *testing.T, sinkDir, from string, at time.Time) string {
	t.Helper()
	name := "SIM_" + at.UTC().Format("2006-01-02_15-04-05")
	dst := filepath.Join(sinkDir, name)
	err := filepath.Walk(filepath.Join(sinkDir, from), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(sinkDir, from), p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == report.ManifestFile {
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				return err
			}
			m["run_folder"], m["started"], m["run_id"] = name, at.UTC(), name+"-old"
			b, _ = json.Marshal(m)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755)
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// TestRunZipRetentionOrgMetadata: through plugin subprocesses, a zip = true
// sink gets one archive with every artifact, org/metadata.json and the
// reports; a second run applies retention (delete_after = "30d") and
// deletes only the run planted as 40 days old.
func TestRunZipRetentionOrgMetadata(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 12, Seed: 7, LargeFileSize: 64 << 10})
	pass := admin.Password
	dir := t.TempDir()
	nas, zipped := filepath.Join(dir, "nas"), filepath.Join(dir, "zipped")
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "nas" {
  path = %q
  retention {
    delete_after = "30d"
  }
}
sink "local" "zipped" {
  path = %q
  zip  = true
}
run {
  prefix      = "SIM"
  concurrency = 3
  retries     = 1
}
`, nas, zipped))
	run := func() {
		t.Helper()
		rootCmd.SetArgs([]string{"run", file, "--plain"})
		if code := execute(); code != exitOK && code != exitPartial {
			t.Fatalf("agolpipe run: exit %d", code)
		}
	}
	run()
	first, _ := filepath.Glob(filepath.Join(nas, "SIM_*"))
	if len(first) != 1 {
		t.Fatalf("run folders after the first run: %v", first)
	}
	firstName := filepath.Base(first[0])

	// The zipped sink: one archive holding artifacts, org metadata and
	// reports, with manifest.json beside it naming the archive.
	arch := filepath.Join(zipped, firstName, firstName+".zip")
	zr, err := zip.OpenReader(arch)
	if err != nil {
		t.Fatalf("archive: %v", err)
	}
	entries := map[string]bool{}
	for _, f := range zr.File {
		entries[f.Name] = true
	}
	zr.Close()
	m := readManifest(t, filepath.Join(zipped, firstName))
	for _, a := range m.Artifacts {
		if !entries[a.Path] {
			t.Errorf("artifact %s of the manifest is not in the archive", a.Path)
		}
	}
	for _, name := range []string{"org/metadata.json", report.ResultsFile, report.InventoryFile, report.LogFile, report.ManifestFile} {
		if !entries[name] {
			t.Errorf("archive lacks %s", name)
		}
	}
	var zs *report.Sink
	for i := range m.Sinks {
		if m.Sinks[i].Name == "zipped" {
			zs = &m.Sinks[i]
		}
	}
	if zs == nil || !strings.HasSuffix(zs.RunPath, ".zip") {
		t.Errorf("manifest's zipped sink run path: %+v", zs)
	}

	// The plain sink got the org metadata as a file, in the manifest.
	meta, err := os.ReadFile(filepath.Join(first[0], "org", "metadata.json"))
	if err != nil || !strings.Contains(string(meta), `"agolpipe-org-metadata/1"`) {
		t.Fatalf("org/metadata.json: %v %.100s", err, meta)
	}
	if strings.Contains(string(meta), pass) {
		t.Error("org/metadata.json contains the password")
	}

	// Older runs: one past delete_after, one within it.
	now := time.Now()
	old := plantRun(t, nas, firstName, now.AddDate(0, 0, -40))
	recent := plantRun(t, nas, firstName, now.AddDate(0, 0, -10))
	time.Sleep(1100 * time.Millisecond) // run folders are named to the second
	run()
	ents, _ := os.ReadDir(nas)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 3 || strings.Contains(strings.Join(names, " "), old) || !strings.Contains(strings.Join(names, " "), recent) {
		t.Fatalf("after the second run the sink holds %v; want the first run, %s and the new run (not %s)", names, recent, old)
	}
	var second string
	for _, n := range names {
		if n != firstName && n != recent {
			second = n
		}
	}
	res, _ := os.ReadFile(filepath.Join(nas, second, report.ResultsFile))
	if !strings.Contains(string(res), "Retention: deleted 1 run(s)") || !strings.Contains(string(res), old) {
		t.Errorf("Results.txt of the second run does not report the deletion of %s:\n%s", old, res)
	}
}
