package engine

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/retention"
	"github.com/agolpipe/agolpipe/sdk"
)

// retentionSkip says why a sink's retention must not run after this run, or
// "" when it may. Pruning is for runs that left a complete backup behind:
// the run ended with success or partial (exit 0 or 1, every item tried),
// and this sink holds all of it: every artifact, manifest.json and the
// reports (and, with zip = true, the sealed archive). A failed, cancelled
// or stopped run never prunes, so a broken night cannot eat older backups.
func (e *engine) retentionSkip(s *sinkState, rs *report.Sink) string {
	switch {
	case e.rep.Status != report.StatusSuccess && e.rep.Status != report.StatusPartial:
		return fmt.Sprintf("the run ended %s; retention runs only after a run that left a complete backup", e.rep.Status)
	case !s.alive:
		return "the sink failed its preflight"
	case rs.Missed > 0 || rs.Outcome != "ok":
		return "this sink missed artifacts of the run, so it does not hold a complete backup"
	case !rs.Reports:
		return "the run's manifest and reports could not be written to this sink"
	case rs.Verified != nil && !rs.Verified.OK:
		return "the run's copy in this sink does not read back whole (run verify), so older runs are kept"
	}
	return ""
}

// DefaultRetentionTimeout bounds a run's retention in one sink (listing
// the sink's runs and deleting the expired ones); DefaultSinkScanTimeout
// bounds the look for this pipeline's unfinished runs in one sink. Each
// sink call is bounded by its progress as well (core/sinkwatch); these
// bound a listing that goes on moving (a bucket of millions of objects).
// RetentionTimeoutEnv and SinkScanTimeoutEnv override them with a
// duration ("45m"): for a sink known to list slowly, and for tests.
const (
	DefaultRetentionTimeout = 30 * time.Minute
	DefaultSinkScanTimeout  = 5 * time.Minute
	RetentionTimeoutEnv     = "AGOLPIPE_RETENTION_TIMEOUT"
	SinkScanTimeoutEnv      = "AGOLPIPE_SINK_SCAN_TIMEOUT"
)

// bounded is ctx ending after d, with a cause that says which bound
// (what) ran out and how to raise it (env).
func bounded(ctx context.Context, d time.Duration, what, env string) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, sdk.Retryable("%s did not finish within %s; set %s to allow longer", what, d, env))
}

// boundErr is err, or the bound's cause when the bound (not the caller)
// ended the work.
func boundErr(ctx, bctx context.Context, err error) error {
	if err != nil && bctx.Err() != nil && ctx.Err() == nil {
		return context.Cause(bctx)
	}
	return err
}

// applyRetention applies each sink's retention block (the same
// retention.Apply that `agolpipe prune` runs) after the reports are in, and
// then rewrites Results.txt and run.log so they say what was deleted.
func (e *engine) applyRetention(ctx context.Context) {
	asked := false
	var wg sync.WaitGroup
	for i, s := range e.sinks {
		if s.Block.Retention == nil {
			continue
		}
		asked = true
		rs := &e.rep.Sinks[i]
		if why := e.retentionSkip(s, rs); why != "" {
			rs.Retention = &report.Retention{Skipped: why}
			e.log.Warn("retention not applied", "sink", s.name, "reason", why)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			policy := retention.FromPipeline(s.Block.Retention)
			// Deletions go to the configured sink itself: a zipped run is a
			// folder there like any other (archive + manifest.json beside).
			// Bounded: a sink that stops answering must not hold a run that
			// is otherwise over; what is left is prune's (the warning says).
			rctx, cancel := bounded(ctx, e.retentionTimeout, "retention", RetentionTimeoutEnv)
			defer cancel()
			res, err := retention.Apply(rctx, s.inner, policy, retention.Options{Now: e.now(), PipelineID: e.rep.PipelineID, Sink: s.name, RunPrefix: e.p.Run.Prefix})
			err = boundErr(ctx, rctx, err)
			out := RetentionRecord(res)
			out.KeptRuns, out.Others = nil, nil // Results.txt keeps to the counts; prune lists them
			if err != nil {
				out.Error = err.Error()
				e.warn(fmt.Sprintf("sink %q: retention stopped: %v; the runs listed were deleted before it stopped, run `agolpipe prune` to finish", s.name, err))
			}
			verb := "retention deleted a run"
			if res.DryRun {
				verb = "retention would delete a run (dry_run)"
			}
			for _, d := range out.Deleted {
				e.log.Info(verb, "sink", s.name, "run", d.Folder, "started", d.Started, "status", d.Status, "reason", d.Reason)
			}
			if k := out.Retained; k != nil {
				e.warn(fmt.Sprintf("sink %q: retention deleted %d run(s), but %d object(s), %s of them are still stored: %s", s.name, len(out.Deleted), k.Objects, report.Bytes(k.Bytes), k.Reason))
			}
			for _, why := range res.Ignored {
				e.log.Warn("retention ignored a manifest.json it does not recognise", "sink", s.name, "detail", why)
			}
			e.log.Info("retention applied", "sink", s.name, "deleted", len(out.Deleted), "kept", out.Kept, "objects", out.Objects, "bytes", out.Bytes, "dry_run", out.DryRun)
			e.mu.Lock()
			rs.Retention = out
			e.mu.Unlock()
		}()
	}
	wg.Wait()
	if asked || e.verifyRan {
		e.rewriteReports(ctx)
	}
}

// RetentionRecord is the record of what retention.Apply did, as Results.txt
// and `agolpipe prune` show it (report.WriteRetention), kept runs included.
func RetentionRecord(res retention.Result) *report.Retention {
	out := &report.Retention{DryRun: res.DryRun, Kept: len(res.Kept), Objects: res.DeletedObjects, Bytes: res.DeletedBytes, Ignored: res.Ignored}
	pruned := func(r retention.Run) report.PrunedRun {
		return report.PrunedRun{Folder: r.Folder, Started: r.Manifest.Started.UTC(), Status: r.Manifest.Status, Kind: r.Kind(), Reason: r.Reason, Retained: retainedRecord(r.Retained)}
	}
	out.Retained = retainedRecord(res.Retained)
	for _, r := range res.Others {
		out.Others = append(out.Others, pruned(r))
	}
	for _, r := range res.Deleted {
		out.Deleted = append(out.Deleted, pruned(r))
	}
	for _, r := range res.Kept {
		out.KeptRuns = append(out.KeptRuns, pruned(r))
	}
	return out
}

// rewriteReports stores Results.txt and run.log again, now with the
// retention outcome, in every sink that got the reports. manifest.json is
// rewritten only after run verify (its outcome, and the status it may have
// changed, are part of the run's record); retention does not change the
// run. For a zipped sink the archive is sealed, so the copies beside it are
// the ones updated.
func (e *engine) rewriteReports(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var res bytes.Buffer
	e.mu.Lock()
	err := report.WriteResults(&res, e.rep)
	e.mu.Unlock()
	if err != nil {
		e.log.Error("writing Results.txt", "error", err)
		return
	}
	e.results = res.String()
	for i, s := range e.sinks {
		if !s.alive || !e.rep.Sinks[i].Reports {
			continue
		}
		err := e.policy.Do(cctx, func(ctx context.Context, _ int) error {
			_, err := s.inner.Put(ctx, sdk.PutRequest{Path: e.rep.RunFolder + "/" + report.ResultsFile, MediaType: mediaType(report.ResultsFile), Size: int64(res.Len()), Body: bytes.NewReader(res.Bytes())})
			return err
		})
		if err == nil && e.verifyRan {
			var m bytes.Buffer
			e.mu.Lock()
			err = report.WriteManifest(&m, e.rep.ForSink(s.name))
			e.mu.Unlock()
			if err == nil {
				err = e.policy.Do(cctx, func(ctx context.Context, _ int) error {
					_, err := s.inner.Put(ctx, sdk.PutRequest{Path: e.rep.RunFolder + "/" + report.ManifestFile, MediaType: mediaType(report.ManifestFile), Size: int64(m.Len()), Body: bytes.NewReader(m.Bytes())})
					return err
				})
			}
		}
		if err == nil && s.zip == nil {
			err = e.policy.Do(cctx, func(ctx context.Context, _ int) error {
				rd, n, err := e.runLog.Snapshot()
				if err != nil {
					return err
				}
				_, err = s.inner.Put(ctx, sdk.PutRequest{Path: e.rep.RunFolder + "/" + report.LogFile, MediaType: "text/plain", Size: n, Body: rd})
				return err
			})
		}
		if err != nil {
			// The first Results.txt is still there; only the retention lines are missing.
			e.log.Error("rewriting Results.txt and run.log with the retention outcome", "sink", s.name, "error", err)
		}
	}
}

// retainedRecord is the report of what a sink kept stored, nil if nothing.
func retainedRecord(k retention.Retained) *report.Retained {
	if k.Objects == 0 {
		return nil
	}
	r := &report.Retained{Objects: k.Objects, Bytes: k.Bytes, LegalHolds: k.LegalHolds, Reason: k.Reason}
	if !k.Until.IsZero() {
		u := k.Until.UTC()
		r.Until = &u
	}
	return r
}
