package process

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("Alive says this process is not running")
	}
	if Alive(0) || Alive(-1) {
		t.Fatal("Alive accepts a pid that cannot be a process")
	}
	// A child that has exited: gone once waited for, and (where /proc
	// tells) already gone as a zombie before that.
	name, args := "true", []string(nil)
	if runtime.GOOS == "windows" {
		name, args = "cmd", []string{"/c", "exit"}
	}
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a child: %v", err)
	}
	pid := cmd.Process.Pid
	if runtime.GOOS == "linux" {
		// Wait (at most 5 s) for the child to exit without reaping it.
		for i := 0; i < 500 && Alive(pid); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if Alive(pid) {
			t.Error("an exited, unreaped child (zombie) counts as running")
		}
	}
	_ = cmd.Wait()
	if Alive(pid) {
		t.Errorf("pid %d still counts as running after its process was reaped", pid)
	}
}
