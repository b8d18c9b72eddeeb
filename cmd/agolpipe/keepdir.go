package main

import (
	"path/filepath"

	"github.com/agolpipe/agolpipe/core/runlock"
)

// keepDir is the local folder where a run keeps the reports that a sink
// could not take (it was full), as <folder>/<run folder>/<sink name>: the
// reports folder in agolpipe's state folder (runlock.StateDir:
// $AGOLPIPE_STATE_DIR when set, else %LOCALAPPDATA%\agolpipe on Windows,
// $XDG_STATE_HOME/agolpipe or ~/.local/state/agolpipe elsewhere). "" when
// none can be found (the run then says the reports were lost for that sink).
func keepDir() string {
	d, err := runlock.StateDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "reports")
}

// stateDirEnv overrides the folder agolpipe keeps local state in.
const stateDirEnv = runlock.StateDirEnv
