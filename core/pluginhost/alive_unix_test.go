//go:build unix

package pluginhost

import "syscall"

// processAlive says whether a process with this pid exists (signal 0 is a
// permission and existence check that sends nothing).
func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }
