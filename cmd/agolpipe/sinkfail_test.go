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
sink "local" "plain" { path = %q }
run {
  prefix      = "CRASH"
  concurrency = 4
  retries     = 2
}
`, sinkDir, filepath.Join(dir, "plain")))
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
	// Each sink block has its own plugin process: the zipped sink's is the
	// one holding a file open under its folder (the archive being written).
	var pids []int
	for _, pid := range pluginPIDs(t, cmd.Process.Pid, "sink", "local") {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, sinkDir+"/") {
				pids = append(pids, pid)
				break
			}
		}
	}
	if len(pids) != 1 {
		t.Fatalf("zipped sink's plugin processes of the run: %v", pids)
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
	// The plain sink was not touched by the crash: it holds the whole run,
	// as its own manifest says.
	plain, _ := filepath.Glob(filepath.Join(dir, "plain", "CRASH_*"))
	if len(plain) != 1 {
		t.Fatalf("plain sink's run folders: %v", plain)
	}
	pm := readManifest(t, plain[0])
	for i := range pm.Sinks {
		if pm.Sinks[i].Name == "plain" && (pm.Sinks[i].Missed != 0 || pm.Sinks[i].Stored != len(pm.Artifacts)) {
			t.Errorf("plain sink: %d stored, %d missed of %d", pm.Sinks[i].Stored, pm.Sinks[i].Missed, len(pm.Artifacts))
		}
	}
	for _, a := range pm.Artifacts {
		for _, o := range a.Sinks {
			if o.Sink != "plain" {
				continue
			}
			sum, n, err := fileSHA256(filepath.Join(plain[0], filepath.FromSlash(o.Path)))
			if err != nil || sum != a.SHA256 || n != a.Size {
				t.Errorf("plain sink %s: %d bytes sha256 %s (%v); manifest says %d bytes %s", o.Path, n, sum, err, a.Size, a.SHA256)
			}
		}
	}
	assertNoTempFiles(t, filepath.Join(dir, "plain"))
	// agolpipe verify reads the run back from both sinks, the zipped one
	// across its parts (each artifact in the part the manifest names),
	// and finds it whole: the lost part is not there, and the replaced
	// entries are out of the archives' listings.
	if code, vout := runCLI(t, "verify", file); code != exitOK {
		t.Errorf("agolpipe verify of the run that survived the crash: exit %d\n%s", code, vout)
	}
	t.Logf("%+v; archives %v", m.Counts, rs.Archives)
}

// mountTmpfs mounts a tmpfs of at most size bytes and inodes files on a new
// folder, unmounted when the test ends. It skips the test where mounting
// is not allowed (not root).
func mountTmpfs(t *testing.T, size int64, inodes int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small filesystem needs root")
	}
	dir, err := os.MkdirTemp("", "agolpipe-full-")
	if err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("size=%d,nr_inodes=%d,mode=0755", size, inodes)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		os.Remove(dir)
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
			return
		}
		os.Remove(dir)
	})
	return dir
}

// TestDiskFullSinkIsStoppedAndNamed backs up to two required sinks, one on
// a 6 MiB filesystem that fills up during the run, through the data
// channel and through gRPC chunks. The full sink must be stopped (nothing more sent,
// no item exported again because of it), the other sink must get the
// whole run, and the console, Results.txt and the manifest must name the
// full sink and the cause.
func TestDiskFullSinkIsStoppedAndNamed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	for _, road := range []string{"data channel", "chunks", "zip"} {
		t.Run(strings.ReplaceAll(road, " ", "_"), func(t *testing.T) {
			small := mountTmpfs(t, 6<<20, 10000)
			dir := t.TempDir()
			srv, err := sim.Start(e2eOrg(sim.Options{}))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			admin, _ := demoAdmin(srv)
			t.Setenv("SIM_PASSWORD", admin.Password)
			disk := filepath.Join(dir, "disk")
			zip := "false"
			if road == "zip" {
				zip = "true" // the archive's stream meets the full disk
			}
			file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "small" {
  path = %q
  zip  = %s
}
sink "local" "disk" { path = %q }
run {
  prefix      = "FULL"
  concurrency = 4
  retries     = 2
}
`, filepath.Join(small, "backups"), zip, disk))
			var env []string
			if road == "chunks" {
				env = append(env, "AGOLPIPE_DATA_CHANNEL=off")
			}
			env = append(env, stateDirEnv+"="+filepath.Join(dir, "state"))
			cmd, out, done := startCLI(t, file, env...)
			code := waitExit(t, cmd, out, done, 3*time.Minute)
			console := out.String()

			runs, _ := filepath.Glob(filepath.Join(disk, "FULL_*"))
			if len(runs) != 1 {
				t.Fatalf("run folders in the disk sink: %v\n%s", runs, console)
			}
			m := readManifest(t, runs[0])
			var rs, ds *report.Sink
			for i := range m.Sinks {
				switch m.Sinks[i].Name {
				case "small":
					rs = &m.Sinks[i]
				case "disk":
					ds = &m.Sinks[i]
				}
			}
			if rs == nil || ds == nil {
				t.Fatalf("manifest sinks: %+v", m.Sinks)
			}
			t.Logf("exit %d; small: %s, %d stored, %d missed, error %q; disk: %d stored", code, rs.Outcome, rs.Stored, rs.Missed, rs.Error, ds.Stored)
			if code != exitPartial || m.Status != report.StatusPartial {
				t.Errorf("exit %d, status %s; want partial: a required sink missed artifacts", code, m.Status)
			}
			want := "incomplete"
			if road == "zip" {
				want = "failed" // its only archive was lost: nothing of the run is in it
			}
			if !strings.Contains(rs.Error, "no space left on device") || rs.Outcome != want || rs.Missed == 0 {
				t.Errorf("small sink's record does not say it is full: outcome %s, %d missed, error %q", rs.Outcome, rs.Missed, rs.Error)
			}
			if ds.Missed != 0 || ds.Stored != len(m.Artifacts) {
				t.Errorf("disk sink: %d stored, %d missed of %d artifacts", ds.Stored, ds.Missed, len(m.Artifacts))
			}
			for _, it := range m.Items {
				if it.Attempts > 1 {
					t.Errorf("item %s %q exported %d times (%s)", it.ID, it.Title, it.Attempts, it.Reason)
				}
				if it.Status == sdk.StatusFailed {
					t.Errorf("item %s %q failed: %s", it.ID, it.Title, it.Reason)
				}
				if it.Status == sdk.StatusPartial && !strings.Contains(it.Reason, `required sink "small"`) {
					t.Errorf("item %s %q partial: %s", it.ID, it.Title, it.Reason)
				}
			}
			// Nothing was sent after the sink was found full: exactly one
			// artifact met the full disk per Put in flight then.
			tried := 0
			for _, a := range m.Artifacts {
				for _, o := range a.Sinks {
					if o.Sink == "small" && o.Status != report.Stored && !strings.HasPrefix(o.Error, "not sent") {
						tried++
					}
				}
			}
			if road == "zip" {
				// The archive holds every artifact until it fails: all are
				// lost with it, none sent after.
				tried = min(tried, 1)
				assertNoTempFiles(t, small)
			}
			if tried == 0 || tried > 4 {
				t.Errorf("%d artifacts were sent to the small sink after it was full (concurrency 4)", tried)
			}
			if !strings.Contains(console, `sink "small"`) || !strings.Contains(console, "is full") || !strings.Contains(console, "no space left on device") {
				t.Errorf("the console does not name the full sink and the cause:\n%s", console)
			}
			res, _ := os.ReadFile(filepath.Join(runs[0], report.ResultsFile))
			if !strings.Contains(string(res), `sink "small"`) || !strings.Contains(string(res), "no space left on device") {
				t.Errorf("Results.txt does not name the full sink and the cause:\n%s", res)
			}
			verifyArtifacts(t, m)
		})
	}
}

// TestDiskFullOnlySinkKeepsReportsLocally: with a single sink that is full
// (no file can be created), the run stops exporting once it knows (no item
// is exported for nothing), and the reports, which cannot land in the
// sink, are kept in the local state folder, whose path the console prints,
// with the cause recorded.
func TestDiskFullOnlySinkKeepsReportsLocally(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	// Three files (inodes): its root, the sink's folder and preflight's
	// test file, deleted again: the disk is full from the run's first
	// folder on, and the reports cannot be created in it either.
	small := mountTmpfs(t, 1<<20, 3)
	dir := t.TempDir()
	srv, err := sim.Start(e2eOrg(sim.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	admin, _ := demoAdmin(srv)
	t.Setenv("SIM_PASSWORD", admin.Password)
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "small" { path = %q }
run {
  prefix      = "FULL"
  concurrency = 4
  retries     = 2
}
`, filepath.Join(small, "backups")))
	state := filepath.Join(dir, "state")
	cmd, out, done := startCLI(t, file, stateDirEnv+"="+state)
	code := waitExit(t, cmd, out, done, 3*time.Minute)
	console := out.String()
	if code != exitPartial {
		t.Errorf("exit %d, want %d", code, exitPartial)
	}
	kept, _ := filepath.Glob(filepath.Join(state, "reports", "FULL_*", "small"))
	if len(kept) != 1 {
		t.Fatalf("reports kept locally: %v\n%s", kept, console)
	}
	if !strings.Contains(console, kept[0]) {
		t.Errorf("the console does not print where the reports are kept (%s):\n%s", kept[0], console)
	}
	if !strings.Contains(console, `sink "small"`) || !strings.Contains(console, "no space left on device") {
		t.Errorf("the console does not name the full sink and the cause:\n%s", console)
	}
	m := readManifest(t, kept[0])
	if len(m.Sinks) != 1 || !strings.Contains(m.Sinks[0].Error, "no space left on device") || m.Sinks[0].ReportsKept != kept[0] || m.Sinks[0].Outcome == "ok" {
		t.Errorf("kept manifest's sink: %+v", m.Sinks)
	}
	for _, f := range []string{report.ResultsFile, report.InventoryFile, report.LogFile} {
		b, err := os.ReadFile(filepath.Join(kept[0], f))
		if err != nil || len(b) == 0 {
			t.Errorf("kept %s: %v", f, err)
		}
	}
	notExported := 0
	for _, it := range m.Items {
		if it.Attempts > 1 {
			t.Errorf("item %s %q exported %d times (%s)", it.ID, it.Title, it.Attempts, it.Reason)
		}
		if it.Status == sdk.StatusFailed && strings.HasPrefix(it.Reason, "not exported:") {
			notExported++
		}
	}
	if notExported == 0 {
		t.Errorf("every item was exported although the only sink was full: %+v", m.Counts)
	}
	// Every artifact the manifest counts as stored is in the sink, whole.
	m.Sinks[0].RunPath = filepath.Join(small, "backups", m.RunFolder)
	verifyArtifacts(t, m)
	t.Logf("exit %d: %+v", code, m.Counts)
}
