package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
)

// corruptWhenStored watches the sink folder dir for a new run folder (not
// in before) and flips a byte of the first feature service export stored
// in it, as soon as the sink has published it (local writes are atomic: a
// visible file is complete). It returns the path it damaged (once done).
func corruptWhenStored(t *testing.T, dir string, before map[string]bool, stop <-chan struct{}) *atomic.Value {
	t.Helper()
	var done atomic.Value
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			runs, _ := filepath.Glob(filepath.Join(dir, "SIM_*"))
			for _, r := range runs {
				if before[filepath.Base(r)] {
					continue
				}
				files, _ := filepath.Glob(filepath.Join(r, "Feature Service", "*data.gdb.zip"))
				if len(files) == 0 {
					continue
				}
				b, err := os.ReadFile(files[0])
				if err != nil || len(b) < 100 {
					continue
				}
				b[len(b)/2] ^= 0x01
				if os.WriteFile(files[0], b, 0o644) == nil {
					done.Store(files[0])
					return
				}
			}
		}
	}()
	return &done
}

// TestRunVerify runs backups with run { verify = true } through the
// binary's plugins. An intact run reads every sink's copy back (a plain and
// a zipped local sink), records it in the manifest and Results.txt, and
// exits 0. Then a run whose stored copy is damaged in one sink after it
// was written (bit rot between write and read-back) is told: exit 1,
// status partial, the sink's verification names the artifact and item, and
// that sink's retention is not applied, so the older run it would have
// deleted is still there.
func TestRunVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 12, Seed: 7, LargeFileSize: 64 << 10})
	dir := t.TempDir()
	nas := filepath.Join(dir, "nas")
	file := writePipeline(t, dir, simSource(srv, admin, "")+`
sink "local" "nas" {
  path = "`+nas+`"
  retention {
    delete_after = "30d"
  }
}
sink "local" "zipped" {
  path = "`+filepath.Join(dir, "zipped")+`"
  zip  = true
}
run {
  prefix      = "SIM"
  concurrency = 3
  retries     = 1
  verify      = true
}
`)
	first := backup(t, file, dir)
	for _, s := range first.Sinks {
		if s.Verified == nil || !s.Verified.OK || s.Verified.Checked != len(first.Artifacts) {
			t.Errorf("sink %s: verified %+v, want every one of %d artifacts read back OK", s.Name, s.Verified, len(first.Artifacts))
		}
	}
	res, err := os.ReadFile(filepath.Join(nas, first.RunFolder, report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(res), "Verify: read back ") != 2 {
		t.Errorf("Results.txt does not say both sinks verified:\n%s", res)
	}

	old := plantRun(t, nas, first.RunFolder, time.Now().AddDate(0, 0, -40))
	before := map[string]bool{}
	runs, _ := filepath.Glob(filepath.Join(nas, "SIM_*"))
	for _, r := range runs {
		before[filepath.Base(r)] = true
	}
	time.Sleep(time.Second) // run folders are named to the second
	stop := make(chan struct{})
	damaged := corruptWhenStored(t, nas, before, stop)
	code, out := runCLI(t, "run", file, "--plain")
	close(stop)
	if damaged.Load() == nil {
		t.Fatalf("the test did not get to damage a stored export\n%s", out)
	}
	if code != exitPartial {
		t.Errorf("run with a copy damaged after it was written: exit %d, want %d\n%s", code, exitPartial, out)
	}
	var second string
	runs, _ = filepath.Glob(filepath.Join(nas, "SIM_*"))
	for _, r := range runs {
		if !before[filepath.Base(r)] {
			second = r
		}
	}
	m := readManifest(t, second)
	if m.Status != report.StatusPartial || m.ExitCode != exitPartial {
		t.Errorf("manifest status %s, exit code %d; want partial, 1", m.Status, m.ExitCode)
	}
	rel, _ := filepath.Rel(nas, damaged.Load().(string))
	for _, s := range m.Sinks {
		switch s.Name {
		case "nas":
			if s.Verified == nil || s.Verified.OK || s.Verified.ProblemCount != 1 || len(s.Verified.Problems) != 1 ||
				!strings.HasPrefix(s.Verified.Problems[0], "corrupt: "+filepath.ToSlash(rel)+" (item ") {
				t.Errorf("sink nas: verified %+v, want one corrupt: %s", s.Verified, rel)
			}
		case "zipped":
			if s.Verified == nil || !s.Verified.OK {
				t.Errorf("sink zipped: verified %+v, want OK", s.Verified)
			}
		}
	}
	res, _ = os.ReadFile(filepath.Join(second, report.ResultsFile))
	for _, w := range []string{"Verify: FAILED: 1 problem(s)", "- corrupt: " + filepath.ToSlash(rel), "Retention: not applied: the run's copy in this sink does not read back whole",
		"Status:    PARTIAL (exit code 1)", `sink "nas": the run's copy does not read back whole`} {
		if !strings.Contains(string(res), w) {
			t.Errorf("Results.txt lacks %q:\n%s", w, res)
		}
	}
	code, out = runCLI(t, "runs", "show", file, filepath.Base(second))
	if code != exitOK || !strings.Contains(out, "read back after the run: FAILED, 1 problem(s)") || !strings.Contains(out, "read back after the run: "+fmt.Sprint(len(m.Artifacts))) {
		t.Errorf("runs show does not tell the run's read-back per sink: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(nas, old, report.ManifestFile)); err != nil {
		t.Errorf("the 40-day-old run was deleted although the new run's copy does not verify: %v", err)
	}
}
