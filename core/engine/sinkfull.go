package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// A sink that reports it is full (sdk.ReasonNoSpace: no space left on the
// device, a quota reached) stays full for the rest of the run: nothing more
// is sent to it, and no item is exported again on its account (the other
// sinks go on; a retry would only fill the disk again). Its artifacts from
// then on are recorded as missed with the cause, the sink's report names
// it, and when its reports cannot be stored there either they are kept in a
// local folder (Options.KeepDir) whose path the run prints.

// sinkFull marks s as full with err, once.
func (e *engine) sinkFull(s *sinkState, err error) {
	e.mu.Lock()
	first := s.down == nil
	if first {
		s.down = err
		rs := &e.rep.Sinks[s.idx]
		rs.Error = firstNonEmpty(rs.Error, "full: "+err.Error())
	}
	e.mu.Unlock()
	if first {
		e.warn(fmt.Sprintf("sink %q (%s at %s) is full: %v — nothing more is sent to it in this run; the other sinks go on. Free space on it (or raise its quota, or point it at a larger disk) and run again",
			s.name, s.Block.Type, s.Block.DeclRange, err))
	}
}

// downErr is why nothing is sent to s any more, or nil.
func (e *engine) downErr(s *sinkState) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return s.down
}

// noSinkLeft says why no item can be stored any more (every sink that
// passed preflight is full), or "".
func (e *engine) noSinkLeft() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var why []string
	for _, s := range e.sinks {
		if !s.alive {
			continue
		}
		if s.down == nil {
			return ""
		}
		why = append(why, fmt.Sprintf("sink %q is full (%v)", s.name, s.down))
	}
	if len(why) == 0 {
		return ""
	}
	return "not exported: " + strings.Join(why, "; ") + "; free space on it and run again"
}

// keepReports writes a sink's reports into the local folder KeepDir/<run
// folder>/<sink name> when they could not be stored in the sink, and says
// so in the sink's record. It returns the folder, or "" when there is none
// to keep them in.
func (e *engine) keepReports(s *sinkState, inv, res []byte, cause error) string {
	rs := &e.rep.Sinks[s.idx]
	if e.o.KeepDir == "" {
		e.log.Error("the reports could not be stored in the sink and there is no local folder to keep them", "sink", s.name, "error", cause)
		return ""
	}
	dir := filepath.Join(e.o.KeepDir, e.rep.RunFolder, s.name)
	write := func() error {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		var m bytes.Buffer
		e.mu.Lock()
		rs.ReportsKept = dir
		err := report.WriteManifest(&m, e.rep.ForSink(s.name))
		e.mu.Unlock()
		if err != nil {
			return err
		}
		rd, n, err := e.runLog.Snapshot()
		if err != nil {
			return err
		}
		log := make([]byte, 0, n)
		buf := bytes.NewBuffer(log)
		if _, err := buf.ReadFrom(rd); err != nil {
			return err
		}
		for name, b := range map[string][]byte{report.InventoryFile: inv, report.ResultsFile: res, report.LogFile: buf.Bytes(), report.ManifestFile: m.Bytes()} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(); err != nil {
		e.mu.Lock()
		rs.ReportsKept = ""
		e.mu.Unlock()
		e.log.Error("the reports could not be stored in the sink, nor kept locally", "sink", s.name, "error", cause, "local_folder", dir, "local_error", err)
		return ""
	}
	e.warn(fmt.Sprintf("sink %q: the reports could not be stored there (%v); they are kept in %s", s.name, cause, dir))
	return dir
}

// downTarget is the sink that receives a full sink's reports: the
// configured sink itself (a zipped sink's archive is given up: it holds
// only what went in before the disk filled up).
func (e *engine) downTarget(s *sinkState) sdk.Sink {
	if s.zip != nil {
		s.zip.Abort(s.down)
		return s.inner
	}
	return s.out
}
