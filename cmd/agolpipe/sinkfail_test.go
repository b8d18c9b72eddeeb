//go:build linux

package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
)

// pluginPIDs finds the plugin processes serving kind/name whose parent is
// parent, from /proc (the host starts built-ins as `<exe> plugin serve
// <kind> <name>`).
func pluginPIDs(t *testing.T, parent int, kind, name string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	want := "\x00plugin\x00serve\x00" + kind + "\x00" + name + "\x00"
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		f := strings.Fields(string(rest))
		if len(f) < 2 || f[1] != strconv.Itoa(parent) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), want) {
			out = append(out, pid)
		}
	}
	return out
}

// startCLI starts `agolpipe run <file> --plain` as a subprocess (this test
// binary acting as the CLI), returning it, its combined output and a
// channel that receives its end.
func startCLI(t *testing.T, file string, env ...string) (*exec.Cmd, *lockedBuffer, chan error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "run", file, "--plain")
	cmd.Env = append(append(os.Environ(), cliEnv+"=1"), env...)
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
	return cmd, out, done
}

// waitExit waits (bounded) for the CLI started by startCLI.
func waitExit(t *testing.T, cmd *exec.Cmd, out *lockedBuffer, done chan error, limit time.Duration) int {
	t.Helper()
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("agolpipe run did not end within %s:\n%s", limit, out.String())
	}
	return cmd.ProcessState.ExitCode()
}

// zipEntrySHA256 reads one entry of a zip archive whole and returns its
// sha256 and size.
func zipEntrySHA256(zr *zip.ReadCloser, name string) (string, int64, error) {
	for _, f := range zr.File {
		if f.Name != name {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return "", 0, err
		}
		defer rc.Close()
		h := sha256.New()
		n, err := io.Copy(h, rc) // the zip reader checks the entry's CRC-32 at its end
		return hex.EncodeToString(h.Sum(nil)), n, err
	}
	return "", 0, fmt.Errorf("no entry %s", name)
}

// TestZipRunSurvivesSinkCrash kills -9 the sink plugin of a zipped run in
// the middle of the archive's upload. The run must go on into a new part
// of the archive, store again what the lost part held, count only what the
// sink really holds, say what happened in Results.txt and the manifest,
// and leave no temporary file in the sink and no temporary export item in
// the organization. Every artifact the manifest lists is read back from
// the archive it names and checked against its sha256.
func TestZipRunSurvivesSinkCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, err := sim.Start(e2eOrg(sim.Options{ExportTime: 300 * time.Millisecond, Latency: 2 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	admin, _ := demoAdmin(srv)
	t.Setenv("SIM_PASSWORD", admin.Password)
	sinkDir := filepath.Join(dir, "zipped")
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "zipped" {
  path = %q
  zip  = true
}
run {
  prefix      = "CRASH"
  concurrency = 4
  retries     = 2
}
`, sinkDir))
	cmd, out, done := startCLI(t, file)

	// Kill the sink plugin once a good part of the run is in the archive.
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "[15/") {
		if time.Now().After(deadline) {
			t.Fatalf("the run made no progress in 90 s:\n%s", out.String())
		}
		select {
		case <-done:
			t.Fatalf("the run ended before the sink could be killed:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	pids := pluginPIDs(t, cmd.Process.Pid, "sink", "local")
	if len(pids) != 1 {
		t.Fatalf("sink plugin processes of the run: %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	code := waitExit(t, cmd, out, done, 3*time.Minute)
	t.Logf("exit %d %s after the kill", code, time.Since(killedAt).Round(time.Second))

	runs, _ := filepath.Glob(filepath.Join(sinkDir, "CRASH_*"))
	if len(runs) != 1 {
		t.Fatalf("run folders: %v\n%s", runs, out.String())
	}
	assertNoTempFiles(t, sinkDir)
	m := readManifest(t, runs[0])
	if code != exitOK || m.Status != report.StatusSuccess {
		t.Errorf("exit %d, status %s after the sink plugin was restarted; want a successful run\n%s", code, m.Status, out.String())
	}
	var rs *report.Sink
	for i := range m.Sinks {
		if m.Sinks[i].Name == "zipped" {
			rs = &m.Sinks[i]
		}
	}
	if rs == nil {
		t.Fatal("manifest has no sink zipped")
	}
	if len(rs.Archives) < 2 {
		t.Errorf("manifest names archives %v; want the lost first part and a second", rs.Archives)
	}
	if len(rs.Warnings) == 0 || !strings.Contains(strings.Join(rs.Warnings, " "), "crashed") {
		t.Errorf("manifest's sink warnings do not tell of the crash: %q", rs.Warnings)
	}
	// Every artifact the manifest lists is in the archive it names, whole.
	open := map[string]*zip.ReadCloser{}
	defer func() {
		for _, zr := range open {
			zr.Close()
		}
	}()
	stored := 0
	for _, a := range m.Artifacts {
		for _, o := range a.Sinks {
			if o.Sink != "zipped" || o.Status != report.Stored {
				continue
			}
			if o.Archive == "" {
				t.Errorf("artifact %s: no archive named", o.Path)
				continue
			}
			zr := open[o.Archive]
			if zr == nil {
				zr, err = zip.OpenReader(filepath.Join(sinkDir, filepath.FromSlash(o.Archive)))
				if err != nil {
					t.Errorf("archive %s of artifact %s: %v", o.Archive, o.Path, err)
					continue
				}
				open[o.Archive] = zr
			}
			sum, n, err := zipEntrySHA256(zr, o.Path)
			if err != nil || sum != a.SHA256 || n != a.Size {
				t.Errorf("%s in %s: %d bytes sha256 %s (%v); manifest says %d bytes %s", o.Path, o.Archive, n, sum, err, a.Size, a.SHA256)
			}
			stored++
		}
	}
	if stored != rs.Stored || rs.Missed != 0 || stored != len(m.Artifacts) {
		t.Errorf("manifest counts %d stored, %d missed; %d artifacts read back of %d listed", rs.Stored, rs.Missed, stored, len(m.Artifacts))
	}
	for _, it := range m.Items {
		if it.Status == sdk.StatusFailed || it.Status == report.ItemCanceled {
			t.Errorf("item %s %q %s: %s", it.ID, it.Title, it.Status, it.Reason)
		}
	}
	res, err := os.ReadFile(filepath.Join(runs[0], report.ResultsFile))
	if err != nil || !strings.Contains(string(res), "crashed") {
		t.Errorf("Results.txt beside the archive does not tell of the crash (%v):\n%s", err, res)
	}
	if left := srv.TempItems(); len(left) > 0 {
		t.Errorf("temporary export items left in the organization: %v", left)
	}
	t.Logf("%+v; archives %v", m.Counts, rs.Archives)
}
