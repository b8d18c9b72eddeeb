//go:build windows

package grpcplugin

import (
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// watchParent exits the plugin when the host dies; on Windows a process
// keeps its parent's pid, so wait on the parent's handle instead.
func watchParent() {
	ppid := os.Getppid()
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(ppid))
	if err != nil {
		return
	}
	go func() {
		_, _ = windows.WaitForSingleObject(h, windows.INFINITE)
		time.Sleep(100 * time.Millisecond)
		os.Exit(1)
	}()
}
