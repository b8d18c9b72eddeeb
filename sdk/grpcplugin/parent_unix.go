//go:build !windows

package grpcplugin

import (
	"os"
	"time"
)

// watchParent exits the plugin when the host dies: an orphan is re-parented,
// so its parent pid changes. go-plugin kills plugins on a clean host exit;
// this covers a host killed with SIGKILL or a crash.
func watchParent() {
	ppid := os.Getppid()
	go func() {
		for range time.Tick(time.Second) {
			if os.Getppid() != ppid {
				os.Exit(1)
			}
		}
	}()
}
