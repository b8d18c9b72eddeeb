// Package runlock keeps two runs of one pipeline from running at once on
// a machine: a run holds an exclusive lock on a file named after its
// pipeline's identity in agolpipe's state folder for as long as it runs.
// The operating system releases the lock when the process ends in any way
// (kill -9 and power cuts included), so a crashed run never leaves a stale
// lock. The file records the holder (host, pid, start, pipeline file), so
// the run that is refused can say who holds it.
package runlock

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// StateDirEnv overrides the folder agolpipe keeps its state in.
const StateDirEnv = "AGOLPIPE_STATE_DIR"

// StateDir is where agolpipe keeps state across runs: $AGOLPIPE_STATE_DIR,
// else %LOCALAPPDATA%\agolpipe on Windows, else $XDG_STATE_HOME/agolpipe
// or ~/.local/state/agolpipe.
func StateDir() (string, error) {
	if d := os.Getenv(StateDirEnv); d != "" {
		return d, nil
	}
	if runtime.GOOS == "windows" {
		d, err := os.UserCacheDir() // %LOCALAPPDATA%
		if err != nil {
			return "", err
		}
		return filepath.Join(d, "agolpipe"), nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "agolpipe"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no folder for agolpipe's state (set %s): %w", StateDirEnv, err)
	}
	return filepath.Join(home, ".local", "state", "agolpipe"), nil
}

// Holder is who holds a lock.
type Holder struct {
	PipelineID string    `json:"pipeline_id"`
	File       string    `json:"pipeline_file"`
	Host       string    `json:"host"`
	PID        int       `json:"pid"`
	Started    time.Time `json:"started"`
}

func (h Holder) String() string {
	return fmt.Sprintf("pid %d on host %s, started %s (pipeline file %s)", h.PID, h.Host, h.Started.UTC().Format("2006-01-02 15:04:05 MST"), h.File)
}

// HeldError says the lock is held by another run.
type HeldError struct {
	Holder Holder
	// Known is false when the holder's record could not be read.
	Known bool
	Path  string
}

func (e *HeldError) Error() string {
	who := "another process"
	if e.Known {
		who = e.Holder.String()
	}
	return fmt.Sprintf("another run of this pipeline is running: %s; lock file %s. Wait for it to end (the lock is released when that process ends, even if it is killed), or give the pipelines different run prefixes if they are different backups", who, e.Path)
}

// Lock is a held lock; Release it when the run ends.
type Lock struct {
	f    *os.File
	path string
}

// Path is the lock file's path.
func (l *Lock) Path() string { return l.path }

// Acquire takes the lock of pipeline h.PipelineID in dir without waiting.
// When another process holds it, the error is a *HeldError naming it.
func Acquire(dir string, h Holder) (*Lock, error) {
	if err := os.MkdirAll(filepath.Join(dir, "locks"), 0o700); err != nil {
		return nil, fmt.Errorf("run lock: %w (set %s to a writable folder)", err, StateDirEnv)
	}
	sum := sha256.Sum256([]byte(h.PipelineID))
	path := filepath.Join(dir, "locks", "run-"+hex.EncodeToString(sum[:8])+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("run lock: %w (set %s to a writable folder)", err, StateDirEnv)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errHeld) {
			he := &HeldError{Path: path}
			if b, rerr := os.ReadFile(path); rerr == nil && json.Unmarshal(b, &he.Holder) == nil && he.Holder.PID != 0 {
				he.Known = true
			}
			return nil, he
		}
		return nil, fmt.Errorf("run lock %s: %w", path, err)
	}
	b, _ := json.Marshal(h)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Release unlocks. The file stays (removing it would race with a run
// that just opened it); its record is emptied. Idempotent.
func (l *Lock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = unlockFile(l.f)
	l.f.Close()
	l.f = nil
}

var errHeld = errors.New("held")
