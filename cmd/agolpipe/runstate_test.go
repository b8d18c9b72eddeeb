package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
)

// startCLIRun starts `agolpipe run file` as a real subprocess (this test
// binary acting as the CLI, its plugins real subprocesses too) and waits
// until it has finished `progress` items. The caller ends it.
func startCLIRun(t *testing.T, file string, progress int) (*exec.Cmd, *lockedBuffer, chan error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "run", file, "--plain")
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), fmt.Sprintf("[%d/", progress)) {
		if time.Now().After(deadline) {
			t.Fatalf("the run made no progress in 60 s:\n%s", out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended early (%v):\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return cmd, out, done
}

// runFolders lists the run folders in a local sink, sorted.
func runFolders(t *testing.T, sink string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(sink, "E2E_*"))
	slices.Sort(m)
	return m
}

// TestKilledRunThenNextRun kills `agolpipe run` with SIGKILL mid-run. Its
// run folder must already say whose it is and that it never finished (a
// manifest.json with status running, host and pid); its run.log and data
// channel folder are left in TMPDIR, as nothing can remove them then. The
// next run removes those temporary files (their pid is dead), writes into
// a folder of its own, and reports the broken folder in its warnings and
// Results.txt, naming the dead run's pid.
func TestKilledRunThenNextRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	os.MkdirAll(tmp, 0o700)
	t.Setenv("TMPDIR", tmp)
	t.Setenv("AGOLPIPE_STATE_DIR", filepath.Join(dir, "state"))
	srv, err := sim.Start(smallSlowOrg())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	file := writeE2EPipeline(t, srv, dir, "")
	sink := filepath.Join(dir, "sink")

	cmd, out, done := startCLIRun(t, file, 5)
	pid := cmd.Process.Pid
	folders := runFolders(t, sink)
	if len(folders) != 1 {
		t.Fatalf("run folders while running: %v", folders)
	}
	dead := folders[0]
	m := readManifest(t, dead)
	if m.Status != report.StatusRunning || m.PID != pid || m.Host == "" || m.PipelineID == "" {
		t.Errorf("while running, the run folder's manifest says status %q pid %d host %q pipeline %q; want running, pid %d", m.Status, m.PID, m.Host, m.PipelineID, pid)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	own := func() []string {
		var l []string
		for _, pat := range []string{"agolpipe-run-%d-*.log", "agolpipe-data-%d-*"} {
			g, _ := filepath.Glob(filepath.Join(tmp, fmt.Sprintf(pat, pid)))
			l = append(l, g...)
		}
		return l
	}
	if len(own()) == 0 {
		t.Fatalf("the killed run left no temporary file in %s, so this test proves nothing; its output:\n%s", tmp, out.String())
	}
	// The plugins notice their host is gone within a second or two.
	time.Sleep(2500 * time.Millisecond)

	code, stdout := runCLI(t, "run", file, "--plain")
	if code != exitOK {
		t.Fatalf("the next run: exit %d\n%s", code, stdout)
	}
	if left := own(); len(left) > 0 {
		t.Errorf("the killed run's temporary files are still there after the next run: %v", left)
	}
	folders = runFolders(t, sink)
	if len(folders) != 2 || folders[0] != dead {
		t.Fatalf("run folders after the next run: %v", folders)
	}
	next := readManifest(t, folders[1])
	wantWarn := fmt.Sprintf("run %s of this pipeline never finished (started ", filepath.Base(dead))
	wantPID := fmt.Sprintf("by pid %d on host ", pid)
	found := false
	for _, w := range next.Warnings {
		if strings.Contains(w, wantWarn) && strings.Contains(w, wantPID) {
			found = true
		}
	}
	if !found {
		t.Errorf("the next run's warnings do not report the broken folder %s of pid %d: %q", filepath.Base(dead), pid, next.Warnings)
	}
	if res, _ := os.ReadFile(filepath.Join(folders[1], report.ResultsFile)); !bytes.Contains(res, []byte(wantWarn)) {
		t.Errorf("Results.txt does not report the broken folder:\n%s", res)
	}
	if !strings.Contains(stdout, wantWarn) {
		t.Errorf("the summary does not report the broken folder:\n%s", stdout)
	}
	// And the next run's own temporary files are gone with it.
	if left, _ := filepath.Glob(filepath.Join(tmp, "agolpipe-*")); len(left) > 0 {
		t.Errorf("temporary files left after a clean run: %v", left)
	}
}

// TestOverlappingRunsRefused starts a run of a pipeline and, while it
// runs, the same pipeline again: the second is refused at once (exit 1),
// naming the first's pid and host, and writes nothing into the sink. Then
// a run whose folder name is already taken in the sink (another run that
// started in the same second) writes into a folder of its own.
func TestOverlappingRunsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	t.Setenv("AGOLPIPE_STATE_DIR", filepath.Join(dir, "state"))
	srv, err := sim.Start(smallSlowOrg())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	file := writeE2EPipeline(t, srv, dir, "")
	sink := filepath.Join(dir, "sink")
	cmd, _, done := startCLIRun(t, file, 3)

	var code int
	stderr := captureStderr(t, func() { code, _ = runCLI(t, "run", file, "--plain") })
	host, _ := os.Hostname()
	if code != exitPartial {
		t.Errorf("second run while the first runs: exit %d, want %d\n%s", code, exitPartial, stderr)
	}
	for _, w := range []string{"another run of this pipeline is running", fmt.Sprintf("pid %d on host %s", cmd.Process.Pid, host)} {
		if !strings.Contains(stderr, w) {
			t.Errorf("the refusal lacks %q:\n%s", w, stderr)
		}
	}
	if f := runFolders(t, sink); len(f) != 1 {
		t.Errorf("run folders while one run runs and one was refused: %v", f)
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the first run did not end 60 s after SIGINT")
	}

	// Folders named for the next seconds are taken: the run must not
	// write into any of them.
	now := time.Now()
	var taken []string
	for s := 0; s < 30; s++ {
		name := "E2E_" + now.Add(time.Duration(s)*time.Second).Format("2006-01-02_15-04-05")
		os.MkdirAll(filepath.Join(sink, name), 0o755)
		if err := os.WriteFile(filepath.Join(sink, name, "other-run.txt"), []byte("not yours"), 0o644); err != nil {
			t.Fatal(err)
		}
		taken = append(taken, name)
	}
	code, stdout := runCLI(t, "run", file, "--plain")
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, stdout)
	}
	var mine string
	for _, f := range runFolders(t, sink) {
		if _, err := os.Stat(filepath.Join(f, report.ManifestFile)); err == nil && readManifest(t, f).Status == report.StatusSuccess {
			mine = filepath.Base(f)
		}
	}
	if mine == "" || slices.Contains(taken, mine) || !strings.HasSuffix(mine, "_2") {
		t.Errorf("the run wrote into %q; want a name of its own (<taken name>_2)", mine)
	}
	for _, name := range taken {
		ents, _ := os.ReadDir(filepath.Join(sink, name))
		if len(ents) != 1 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("the run wrote into %s, which another run holds: %v", name, names)
		}
	}
}

// smallSlowOrg is an organization whose export jobs take long enough to
// catch a run mid-way, small enough for a whole run in seconds.
func smallSlowOrg() sim.Options {
	o := e2eOrg(sim.Options{ExportTime: 1500 * time.Millisecond, Latency: 5 * time.Millisecond})
	o.Items = 24
	return o
}

// TestConfigErrorLeavesNoTempFiles runs `agolpipe run` and `agolpipe
// plan` as subprocesses on a pipeline with configuration errors: exit 2
// with the diagnostics, and nothing left in TMPDIR (neither run.log nor
// the plugins' sockets).
func TestConfigErrorLeavesNoTempFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	tmp := filepath.Join(dir, "tmp")
	os.MkdirAll(tmp, 0o700)
	file := writePipeline(t, dir, `source "arcgis" "prod" {
  url = "https://gis.example.invalid/portal"
  auth {
    username = "u"
    password = "p"
  }
}
sink "local" "nas" { path = "" }
`)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"run", "plan"} {
		cmd := exec.Command(exe, verb, file)
		cmd.Env = append(os.Environ(), cliEnv+"=1", "TMPDIR="+tmp)
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(string(out), "Empty path") || strings.Contains(string(out), "panic") {
			t.Errorf("agolpipe %s: exit %d, want %d with the diagnostic:\n%s", verb, code, exitUsage, out)
		}
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			var names []string
			for _, e := range left {
				names = append(names, e.Name())
				os.RemoveAll(filepath.Join(tmp, e.Name()))
			}
			t.Errorf("agolpipe %s on a configuration error left %v in TMPDIR", verb, names)
		}
	}
}
