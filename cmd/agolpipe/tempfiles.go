package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/agolpipe/agolpipe/sdk/process"
)

// staleTempPatterns are the temporary files and folders an agolpipe
// process makes, each named with its pid: run.log while a run lasts
// (core/report) and the data channel's socket folder (sdk/grpcplugin).
// Every exit path removes them; a process killed outright (kill -9, OOM
// killer, power cut) cannot, so the next agolpipe removes those whose pid
// is no longer running.
var staleTempPatterns = []string{"agolpipe-run-*-*.log", "agolpipe-data-*-*"}

// removeStaleTemp removes the temporary files of agolpipe processes that
// are gone, from the temp folder this process uses (TMPDIR). It returns
// what it removed. A pid that runs again (reused) keeps its files until a
// later pass: only the files of a dead pid are ever removed.
func removeStaleTemp() []string {
	var removed []string
	tmp := os.TempDir()
	self := os.Getpid()
	for _, pat := range staleTempPatterns {
		matches, _ := filepath.Glob(filepath.Join(tmp, pat))
		for _, m := range matches {
			pid := tempOwner(filepath.Base(m))
			if pid <= 0 || pid == self || process.Alive(pid) {
				continue
			}
			if err := os.RemoveAll(m); err == nil {
				removed = append(removed, m)
			}
		}
	}
	return removed
}

// tempOwner is the pid in "agolpipe-<kind>-<pid>-<random>", or 0.
func tempOwner(name string) int {
	parts := strings.SplitN(name, "-", 4)
	if len(parts) < 4 || parts[0] != "agolpipe" {
		return 0
	}
	pid, err := strconv.Atoi(parts[2])
	if err != nil {
		return 0
	}
	return pid
}
