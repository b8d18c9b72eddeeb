package procfs

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

// TestOwnProcess reads this test process and a child it starts, so every
// parser is checked against the real /proc of the machine.
func TestOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	me := os.Getpid()
	if got := Parent(me); got != os.Getppid() {
		t.Errorf("Parent(%d) = %d, want %d", me, got, os.Getppid())
	}
	// RSS first: the peak read after it can only be as large or larger.
	rss := StatusKiB(me, "VmRSS")
	if hwm := StatusKiB(me, "VmHWM"); rss <= 0 || hwm < rss {
		t.Errorf("VmHWM %d KiB, VmRSS %d KiB: want 0 < rss <= hwm", hwm, rss)
	}
	if StatusKiB(me, "NoSuchKey") != -1 {
		t.Error("a missing status key should read -1")
	}
	if CPUSeconds(me) < 0 {
		t.Error("CPUSeconds of a live process is negative")
	}
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start sleep:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if kids := Children(me); !slices.Contains(kids, cmd.Process.Pid) {
		t.Errorf("Children(%d) = %v, want it to hold %d", me, kids, cmd.Process.Pid)
	}
	// The tree is this process (the "host") and the sleep ("other": not a
	// plugin), both resident.
	total, by := TreeRSS(me)
	if by["host"] <= 0 || by["other"] <= 0 || total != by["host"]+by["other"] {
		t.Errorf("TreeRSS(%d) = %d, %v: want host and other both > 0, summing to the total", me, total, by)
	}
	const gone = 1 << 30
	if Stat(gone) != nil || CPUSeconds(gone) != -1 || StatusKiB(gone, "VmRSS") != -1 || Parent(gone) != -1 {
		t.Error("a process that does not exist should read as gone")
	}
	if LoadAvg() < 0 {
		t.Error("LoadAvg unreadable")
	}
}
