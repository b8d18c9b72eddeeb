package main

import (
	"os"
	"path/filepath"
	"runtime"
)

// stateDirEnv overrides the folder agolpipe keeps local state in.
const stateDirEnv = "AGOLPIPE_STATE_DIR"

// keepDir is the local folder where a run keeps the reports that a sink
// could not take (it was full), as <folder>/<run folder>/<sink name>:
// $AGOLPIPE_STATE_DIR/reports when set, else the user's state folder:
// %LOCALAPPDATA%\agolpipe\reports on Windows, $XDG_STATE_HOME/agolpipe/reports
// or ~/.local/state/agolpipe/reports elsewhere. "" when none can be found
// (the run then says the reports were lost for that sink).
func keepDir() string {
	if d := os.Getenv(stateDirEnv); d != "" {
		return filepath.Join(d, "reports")
	}
	if runtime.GOOS == "windows" {
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, "agolpipe", "reports")
		}
		return ""
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "agolpipe", "reports")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "agolpipe", "reports")
	}
	return ""
}
