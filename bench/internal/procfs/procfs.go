// Package procfs reads the few Linux /proc facts the benchmarks report:
// a process's children, CPU time, resident memory and the load average.
// Every function answers -1 (or nil) when the process is gone, so a
// benchmark sampling a process tree never fails on one that just exited.
package procfs

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Stat returns the fields of /proc/<pid>/stat after the command name, which
// may hold spaces: f[0] is the state, f[1] the parent pid.
func Stat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// Parent is the parent pid of pid, -1 when unknown.
func Parent(pid int) int {
	f := Stat(pid)
	if len(f) < 2 {
		return -1
	}
	p, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return p
}

// Pids lists every process id in /proc.
func Pids() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Children lists the processes whose parent is pid.
func Children(pid int) []int {
	var out []int
	for _, p := range Pids() {
		if Parent(p) == pid {
			out = append(out, p)
		}
	}
	return out
}

// CPUSeconds is the user+system CPU time of a process so far, -1 when it
// is gone. utime and stime are fields 14 and 15 of stat, in clock ticks
// (100 per second on Linux).
func CPUSeconds(pid int) float64 {
	f := Stat(pid)
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

// StatusKiB reads one "<key>: N kB" line of /proc/<pid>/status, such as
// VmHWM (peak resident set) or VmRSS; -1 when absent.
func StatusKiB(pid int, key string) int64 {
	return kibLine(fmt.Sprintf("/proc/%d/status", pid), key)
}

// PssKiB is the proportional set size from smaps_rollup: pages shared
// between processes (the same agolpipe binary) are counted once across them.
func PssKiB(pid int) int64 {
	return kibLine(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss")
}

func kibLine(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// LoadAvg is the one-minute load average, -1 when unreadable.
func LoadAvg() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// TreeRSS sums VmRSS of root and all its descendants, in bytes, and gives
// each process's by its role (see Role).
func TreeRSS(root int) (int64, map[string]int64) {
	var total int64
	by := map[string]int64{}
	for _, pid := range Tree(root) {
		r := max(0, StatusKiB(pid, "VmRSS")) << 10
		total += r
		by[Role(pid, pid == root)] += r
	}
	return total, by
}

// TreeCPU gives the CPU seconds so far (CPUSeconds) of root and each of its
// descendants, and each one's role (see Role), by pid.
func TreeCPU(root int) (map[int]float64, map[int]string) {
	cpu, roles := map[int]float64{}, map[int]string{}
	for _, pid := range Tree(root) {
		if c := CPUSeconds(pid); c >= 0 {
			cpu[pid], roles[pid] = c, Role(pid, pid == root)
		}
	}
	return cpu, roles
}

// Tree lists root and all its descendants. One pass over /proc builds the
// whole tree: asking for each process's children in turn would read every
// stat file once per process.
func Tree(root int) []int {
	children := map[int][]int{}
	for _, pid := range Pids() {
		if ppid := Parent(pid); ppid >= 0 {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	stack := []int{root}
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		out = append(out, pid)
		stack = append(stack, children[pid]...)
	}
	return out
}

// Role names a process of an agolpipe process tree: "host" for the root,
// "<kind> <name>" for a plugin served by `agolpipe plugin serve <kind>
// <name>`, "other" for anything else.
func Role(pid int, root bool) string {
	if root {
		return "host"
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i := 0; i+3 < len(args); i++ {
		if args[i] == "plugin" && args[i+1] == "serve" {
			return args[i+2] + " " + args[i+3]
		}
	}
	return "other"
}
