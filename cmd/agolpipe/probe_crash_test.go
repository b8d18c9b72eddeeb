package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/sim"
)

// TestProbeRestorePluginCrash: the exporter plugin doing the restoring is
// killed in the middle of a restore. The host restarts it; the items it
// had in hand fail saying so, the others are restored, and what the
// killed plugin had made of its items (created, not finished) is deleted
// by the host, which saw the create answers pass: before, it stayed in the
// target unnamed by the report, and a later restore took it for a changed
// copy. Undo then has nothing of the failed items to remove.
func TestProbeRestorePluginCrash(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Latency: 40 * time.Millisecond})
	exe, _ := os.Executable()
	cmd := exec.Command(exe, "restore", aFile, "--run", "latest", "--type", "Web Map", "--no-dependencies", "--to", bFile, "--yes")
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for !strings.Contains(out.String(), "] restored ") {
		select {
		case <-done:
			t.Fatalf("ended early:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	killed := 0
	for _, c := range childPIDs(cmd.Process.Pid) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
		if strings.Contains(string(b), "item_json") {
			// os.Process.Kill is SIGKILL here, and compiles for Windows
			// too (CI vets the tests for every OS).
			if p, err := os.FindProcess(c); err == nil {
				_ = p.Kill()
			}
			killed++
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("no end 2 minutes after the plugin was killed:\n%s", out.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("the restore said:\n%s", out.String())
		}
	}()
	if killed == 0 || cmd.ProcessState.ExitCode() != exitPartial {
		t.Fatalf("killed %d plugin processes; exit %d, want %d", killed, cmd.ProcessState.ExitCode(), exitPartial)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	failed := 0
	for _, e := range rep.Items {
		switch e.Outcome {
		case restore.Failed:
			failed++
			if !strings.Contains(e.Error, "crashed") {
				t.Errorf("item %s failed without saying its plugin crashed: %s", e.ID, e.Error)
			}
		case restore.Restored:
		default:
			t.Errorf("item %s: %s %s", e.ID, e.Outcome, e.Error)
		}
	}
	if failed == 0 || failed == len(rep.Items) {
		t.Errorf("%d of %d items failed: want those in hand only", failed, len(rep.Items))
	}
	restored := map[string]bool{}
	for _, e := range rep.Items {
		if e.Outcome == restore.Restored {
			restored[e.NewItemID] = true
		}
	}
	for id, title := range markedItems(b) {
		if !restored[id] {
			t.Errorf("the target holds %s %q, made by the restore but not reported restored", id, title)
		}
	}
	if code, uout := runCLI(t, "restore", "undo", aFile, rep.RestoreID, "--to", bFile, "--yes"); code != exitOK {
		t.Errorf("undo: exit %d\n%s", code, uout)
	}
	for id, title := range markedItems(b) {
		t.Errorf("after the undo the target still holds %s %q", id, title)
	}
}
