package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// The retry state is a small local file per pipeline listing the items a
// run meant to back up and did not (failed, cancelled, never started), so
// the next run exports them again even when an incremental window would
// call them unchanged: an item that failed once is not left out of every
// backup until it happens to change. A local file, not the sinks'
// manifests: it is read before any sink is touched, needs no listing of
// remote runs, and is the same whatever sinks the pipeline has. Losing it
// (a new machine) loses only the retry of earlier failures; a full run
// rebuilds it.

// RetryStateFormat names the state file's layout.
const RetryStateFormat = "agolpipe-retry/1"

type retryState struct {
	Format     string                `json:"format"`
	PipelineID string                `json:"pipeline_id"`
	Updated    time.Time             `json:"updated"`
	Items      map[string]retryEntry `json:"items"`
}

// retryEntry is one item to export again, with the run that missed it.
type retryEntry struct {
	Title  string           `json:"title"`
	Type   string           `json:"type"`
	Run    string           `json:"run"`
	Status sdk.ExportStatus `json:"status"`
	Reason string           `json:"reason,omitempty"`
}

// retryStatePath is the pipeline's state file under dir: named by a hash
// of the pipeline's identity (its prefix and source), so two pipelines
// never share one and renaming the file does not lose it.
func retryStatePath(dir, pipelineID string) string {
	sum := sha256.Sum256([]byte(pipelineID))
	return filepath.Join(dir, "retry-"+hex.EncodeToString(sum[:8])+".json")
}

// loadRetry reads the pipeline's retry state; a missing file is an empty
// state, an unreadable one a warning in run.log (and an empty state).
func (e *engine) loadRetry() {
	if e.o.StateDir == "" || e.o.DryRun {
		return
	}
	p := retryStatePath(e.o.StateDir, e.rep.PipelineID)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		e.retry = map[string]retryEntry{}
		return
	}
	var st retryState
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err == nil && st.PipelineID != e.rep.PipelineID {
		err = errors.New("it belongs to pipeline " + st.PipelineID)
	}
	if err != nil {
		e.log.Warn("retry state unreadable; items earlier runs missed are not retried by this run (it is rewritten at the end)", "file", p, "error", err)
		e.retry = map[string]retryEntry{}
		return
	}
	if st.Items == nil {
		st.Items = map[string]retryEntry{}
	}
	e.retry = st.Items
	if len(e.retry) > 0 {
		e.log.Info("exporting again the items earlier runs did not back up", "items", len(e.retry), "state", p)
	}
}

// retryIDs are the ids the source must list as changed.
func (e *engine) retryIDs() []string {
	ids := make([]string, 0, len(e.retry))
	for id := range e.retry {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// saveRetry writes the state after a run: an entry stays until a run backs
// its item up (exported, partial, skipped) or leaves it out (excluded),
// or, when the listing was complete, the item is gone from the
// organization; every item this run meant to export and did not is added.
func (e *engine) saveRetry(listed bool) {
	if e.o.StateDir == "" || e.o.DryRun || e.retry == nil {
		return
	}
	next := map[string]retryEntry{}
	seen := make(map[string]bool, len(e.rep.Items))
	for _, it := range e.rep.Items {
		seen[it.ID] = true
	}
	for id, ent := range e.retry {
		if listed && !seen[id] {
			continue // no longer in the organization
		}
		next[id] = ent
	}
	for _, it := range e.rep.Items {
		switch it.Status {
		case sdk.StatusExported, sdk.StatusPartial, sdk.StatusSkipped, sdk.StatusExcluded:
			delete(next, it.ID)
		case sdk.StatusFailed, report.ItemCanceled, "":
			if it.Exporter == "" {
				continue // never meant to be exported (no exporter for its type)
			}
			next[it.ID] = retryEntry{Title: it.Title, Type: it.Type, Run: e.rep.RunID, Status: it.Status, Reason: it.Reason}
		}
	}
	st := retryState{Format: RetryStateFormat, PipelineID: e.rep.PipelineID, Updated: e.now().UTC(), Items: next}
	p := retryStatePath(e.o.StateDir, e.rep.PipelineID)
	if err := writeFileAtomic(p, st); err != nil {
		e.warn("could not save the list of items to export again next run (" + p + "): " + err.Error() + "; the next incremental run will not retry this run's failures unless they change")
		return
	}
	e.log.Info("retry state saved", "items_to_retry", len(next), "file", p)
}

// writeFileAtomic writes v as JSON to p through a temporary file and a
// rename, so a crash never leaves half a state file.
func writeFileAtomic(p string, v any) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".retry-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
