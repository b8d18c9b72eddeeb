package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
)

// twoSinkPipeline writes a pipeline backing up srv into a local sink "nas"
// and a zipped local sink "zipped" under dir, with extra lines in the file.
func twoSinkPipeline(t *testing.T, srv *sim.Server, admin sim.User, dir, extra string) string {
	t.Helper()
	return writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "nas" { path = %q }
sink "local" "zipped" {
  path = %q
  zip  = true
}
run {
  prefix      = "SIM"
  concurrency = 3
  retries     = 1
}
%s
`, filepath.Join(dir, "nas"), filepath.Join(dir, "zipped"), extra))
}

// backup runs the pipeline and returns the run's manifest in the nas sink.
func backup(t *testing.T, file string, dir string) *report.Run {
	t.Helper()
	code, out := runCLI(t, "run", file, "--plain")
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "nas", "SIM_*"))
	latest := ""
	for _, r := range runs {
		if r > latest {
			latest = r
		}
	}
	return readManifest(t, latest)
}

// TestRunsListAndShow backs up a simulated org twice into a plain and a
// zipped local sink, with one web map edited between the runs, then reads
// the runs back through the sink plugins: `runs` lists both in each sink,
// newest first, the zipped sink's as zipped; `runs show latest` shows the
// newest run; `--item` tells the edited web map changed and another item
// did not.
func TestRunsListAndShow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 12, Seed: 7, LargeFileSize: 64 << 10})
	dir := t.TempDir()
	file := twoSinkPipeline(t, srv, admin, dir, "")
	first := backup(t, file, dir)
	var edited, same string
	for _, it := range first.Items {
		if it.Status != sdk.StatusExported {
			continue
		}
		if it.Type == "Web Map" && edited == "" {
			edited = it.ID
		} else if it.Type != "Feature Service" && same == "" {
			same = it.ID
		}
	}
	if edited == "" || same == "" {
		t.Fatalf("the org has no exported web map and other item: %+v", first.Items)
	}
	o := srv.Org()
	o.Mu.Lock()
	o.Item(edited).Description = "Edited between the two runs"
	o.Item(edited).Modified = time.Now().UnixMilli()
	o.Mu.Unlock()
	time.Sleep(time.Second) // run folders are named to the second
	second := backup(t, file, dir)

	code, out := runCLI(t, "runs", file)
	if code != exitOK {
		t.Fatalf("runs: exit %d\n%s", code, out)
	}
	for _, sink := range []string{"nas", "zipped"} {
		re := regexp.MustCompile(fmt.Sprintf(`(?s)sink %q \(local, [^)]*\): 2 run\(s\) of pipeline.*?RUN +STARTED \(UTC\) +STATUS +ITEMS +ARTIFACTS +BYTES +ZIPPED\n +%s +\S+ \S+ +success +\d+/12 +%d +\S+ \S+ +%s\n +%s `,
			sink, second.RunFolder, second.Counts.Artifacts, map[string]string{"nas": "no", "zipped": "yes"}[sink], first.RunFolder))
		if !re.MatchString(out) {
			t.Errorf("runs: sink %s does not list %s then %s:\n%s", sink, second.RunFolder, first.RunFolder, out)
		}
	}

	code, out = runCLI(t, "runs", file, "--sink", "zipped", "--json")
	if code != exitOK {
		t.Fatalf("runs --json: exit %d\n%s", code, out)
	}
	var listed []runsJSON
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("runs --json: %v\n%s", err, out)
	}
	if len(listed) != 1 || listed[0].Sink != "zipped" || len(listed[0].Runs) != 2 || !listed[0].Runs[0].Zipped ||
		listed[0].Runs[0].Folder != second.RunFolder || listed[0].Runs[0].Counts.Bytes != second.Counts.Bytes {
		t.Errorf("runs --sink zipped --json: %+v", listed)
	}

	code, out = runCLI(t, "runs", "show", file, "latest")
	if code != exitOK {
		t.Fatalf("runs show latest: exit %d\n%s", code, out)
	}
	for _, w := range []string{"Run " + second.RunFolder + " (id " + second.RunID + "), read from sink \"nas\"", "Status:    success",
		fmt.Sprintf("Artifacts: %d (%s)", second.Counts.Artifacts, report.Bytes(second.Counts.Bytes)), "zipped (local): ok"} {
		if !strings.Contains(out, w) {
			t.Errorf("runs show latest lacks %q:\n%s", w, out)
		}
	}

	code, out = runCLI(t, "runs", "show", file, "latest", "--sink", "zipped", "--item", edited)
	if code != exitOK {
		t.Fatalf("runs show --item: exit %d\n%s", code, out)
	}
	if !regexp.MustCompile(`(?m)^ +`+second.RunFolder+` .* exported .* changed since the run before$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^ +`+first.RunFolder+` .* exported .* first backup held$`).MatchString(out) ||
		!strings.Contains(out, " in "+second.RunFolder+"/"+second.RunFolder+".zip") {
		t.Errorf("runs show --item %s (edited) in the zipped sink:\n%s", edited, out)
	}
	code, out = runCLI(t, "runs", "show", file, first.RunFolder, "--item", same)
	if code != exitOK || !regexp.MustCompile(`(?m)^ +`+second.RunFolder+` .* same as the run before$`).MatchString(out) {
		t.Errorf("runs show --item %s (not edited): exit %d\n%s", same, code, out)
	}

	if code, out = runCLI(t, "runs", "show", file, "SIM_1999-01-01_00-00-00"); code != exitUsage {
		t.Errorf("runs show of an unknown run: exit %d, want %d\n%s", code, exitUsage, out)
	}
}
