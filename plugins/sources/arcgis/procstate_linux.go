package arcgis

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"time"
)

// processState says whether the process pid of this machine is running and
// was started before since (so it can be the process that was running
// then, not a later one given the same pid). known is false when that
// cannot be told; the caller then assumes it may be running.
func processState(pid int, since time.Time) (running, known bool) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if os.IsNotExist(err) {
		return false, true
	}
	if err != nil {
		return true, false
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after the last ')' are fixed: state is field 3, starttime 22.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return true, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return true, false
	}
	if f[0] == "Z" || f[0] == "X" { // exited, not yet reaped
		return false, true
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	boot := bootTime()
	if err != nil || boot.IsZero() {
		return true, false
	}
	// USER_HZ is 100 on every Linux agolpipe runs on; an error of a few
	// seconds is covered by the margin below.
	started := boot.Add(time.Duration(ticks) * (time.Second / 100))
	if started.After(since.Add(5 * time.Second)) {
		return false, true // the pid was given to a later process
	}
	return true, true
}

// bootTime is when this machine booted (btime in /proc/stat), or zero.
func bootTime() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
}
