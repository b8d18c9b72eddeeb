//go:build !linux

package arcgis

import "time"

// processState cannot tell here whether a process is still the one that
// ran a run (no /proc to read its start time, and pids are reused), so it
// says so: the sweep then waits for a leftover to be 3 days old.
func processState(pid int, since time.Time) (running, known bool) { return true, false }
