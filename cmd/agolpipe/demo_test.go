package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/examples"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// TestDemo runs `agolpipe demo` in-process on a small simulated org and
// checks that what it tells the user is true: the reports exist, Results.txt
// states the status the items earned, and every artifact the manifest lists
// is on disk, in both sinks, with its recorded size and sha256.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	rootCmd.SetArgs([]string{"demo", "--dir", dir, "--items", "40", "--seed", "3", "--plain"})
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	code := execute()
	rootCmd.SetOut(nil)
	stdout := out.String()
	if code != exitOK && code != exitPartial {
		t.Fatalf("agolpipe demo: exit %d\n%s", code, stdout)
	}
	if _, ok := os.LookupEnv(demoPasswordEnv); ok && os.Getenv(demoPasswordEnv) != "" {
		// The demo must restore the environment it borrowed.
		t.Errorf("%s left set after the demo", demoPasswordEnv)
	}

	// Without --pipeline the built-in demo pipeline is copied next to the
	// backup, byte for byte, so an installed binary needs no source tree.
	if got, err := os.ReadFile(filepath.Join(dir, "demo.hcl")); err != nil || !bytes.Equal(got, examples.Demo) {
		t.Errorf("demo.hcl in %s is not the built-in pipeline (err %v)", dir, err)
	}

	runs, _ := filepath.Glob(filepath.Join(dir, "by-type", "DEMO_*"))
	if len(runs) != 1 {
		t.Fatalf("run folders in %s: %v", dir, runs)
	}
	for _, f := range []string{report.ResultsFile, report.ManifestFile, report.InventoryFile, report.LogFile} {
		p := filepath.Join(runs[0], f)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("report missing: %v", err)
		}
		if !strings.Contains(stdout, p) {
			t.Errorf("the demo does not say where %s is:\n%s", f, stdout)
		}
	}
	m := readManifest(t, runs[0])
	if m.Counts.Discovered != 40 {
		t.Errorf("discovered %d items, the org has 40", m.Counts.Discovered)
	}
	if m.Counts.Exported == 0 {
		t.Fatalf("nothing exported: %+v", m.Counts)
	}

	// Results.txt must state what the items earned.
	want := "SUCCESS"
	wantCode := exitOK
	for _, it := range m.Items {
		if it.Status == sdk.StatusPartial || it.Status == sdk.StatusFailed {
			want, wantCode = "PARTIAL", exitPartial
		}
	}
	if code != wantCode {
		t.Errorf("exit %d, the items earn %d", code, wantCode)
	}
	results, err := os.ReadFile(filepath.Join(runs[0], report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Status:\s+` + want + `\b`).Match(results) {
		t.Errorf("Results.txt does not say %s:\n%.400s", want, results)
	}

	stored := verifyArtifacts(t, m)
	if stored != 2*len(m.Artifacts) {
		t.Errorf("%d artifacts stored across the two sinks, want %d", stored, 2*len(m.Artifacts))
	}
	if b, _ := os.ReadFile(filepath.Join(runs[0], report.LogFile)); strings.Contains(string(b), "sim-sim_admin") {
		t.Error("run.log holds the simulator password")
	}
	if strings.Contains(stdout, "sim-sim_admin") {
		t.Error("the demo printed the password")
	}
}

// TestDemoDefaultIsSmall runs `agolpipe demo` as the executable with its
// defaults, as the README tells a newcomer to: the backup must stay under
// 100 MB (it was 657 MB per run), every item must be exported or skipped by
// the demo pipeline's own rules, and the output must say where it wrote and
// how to remove it.
func TestDemoDefaultIsSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	dir := filepath.Join(t.TempDir(), "demo-out")
	// A home of its own and no state folder set, as a newcomer runs it:
	// the demo must write nowhere but its folder.
	home := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AGOLPIPE_STATE_DIR=") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOME="+home)
	code, out := runExe(t, t.TempDir(), env, "demo", "--dir", dir, "--plain")
	if code != exitOK {
		t.Fatalf("agolpipe demo: exit %d\n%s", code, out)
	}
	size, err := dirSize(dir)
	if err != nil {
		t.Fatal(err)
	}
	if size >= 100<<20 {
		t.Errorf("the default demo wrote %s, want under 100 MB", report.Bytes(size))
	}
	for _, want := range []string{"into " + dir, "delete that folder"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if left, _ := os.ReadDir(home); len(left) > 0 {
		t.Errorf("the demo wrote %v into the home folder; everything it writes belongs in %s", left[0].Name(), dir)
	}
	if _, err := os.Stat(filepath.Join(dir, ".state")); err != nil {
		t.Errorf("the demo's run state is not in its folder: %v", err)
	}
	t.Logf("default demo: %s", report.Bytes(size))
}
