package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
)

// cleanupTimeout bounds the deletes and report writes a cancelled run still
// makes after its context is done.
const cleanupTimeout = 2 * time.Minute

// collectFactor bounds how long a deferred export job may run: this many
// times its export timeout, counted from the start of its item's export (8
// hours with the default 120-minute timeout). A job that outlives the
// timeout is normal for a big service; one that outlives this many is
// taken as hung, so it cannot hold the run forever.
const collectFactor = 4

// defaultExportBound stands for the export timeout of an exporter that
// defers without one.
const defaultExportBound = 120 * time.Minute

// abandonTimeout bounds giving up one deferred job that could not be
// collected (the exporter deletes its temporary item).
const abandonTimeout = 30 * time.Second

// deferredItem is what the first pass of a deferred item left: its
// artifacts (definitions, descriptions) are in the sinks already and join
// the ones written when the job is collected.
type deferredItem struct {
	artifacts []report.Artifact
	stored    map[int]map[string]bool // sink -> paths of artifacts
	warnings  []string
	attempts  int
	took      time.Duration
	started   time.Time // wall clock, for the collection bound
}

// collectDeferred collects, in a second pass of the worker pool, the
// exports deferred in the first (a portal job that outlived its timeout).
// A job is waited for until it has run collectFactor times its export
// timeout, and never past ctx's deadline (run.max_duration); an exporter
// gives up a job still running then and the item fails. Jobs not collected
// at all (the run was cancelled or reached max_duration first) are given
// up too, so no temporary portal item outlives the run.
func (e *engine) collectDeferred(ctx context.Context, deferred []int) {
	if len(deferred) == 0 {
		return
	}
	if ctx.Err() == nil && (e.soft == nil || e.soft.Err() == nil) {
		e.log.Info("collecting deferred exports", "items", len(deferred))
		idx := make(chan int, len(deferred))
		for _, i := range deferred {
			idx <- i
		}
		close(idx)
		e.exportWorkers(ctx, idx, true)
	}
	e.abandonDeferred(ctx)
}

// collectEnd is when collecting a deferred export of ex, whose item
// started exporting at started, ends (see collectFactor), or ctx's
// deadline if that is sooner.
func (e *engine) collectEnd(ctx context.Context, ex Exporter, started time.Time) time.Time {
	end := started.Add(collectFactor * exportBound(ex))
	if !e.deadline.IsZero() && e.deadline.Before(end) {
		end = e.deadline
	}
	return end
}

func exportBound(ex Exporter) time.Duration {
	if ex.Timeout > 0 {
		return ex.Timeout
	}
	return defaultExportBound
}

// collectTimeout is the time left to collect a deferred export (see
// collectEnd). A negative result means none is left: the exporter gives
// the job up at once.
func (e *engine) collectTimeout(ctx context.Context, ex Exporter, started time.Time) time.Duration {
	left := time.Until(e.collectEnd(ctx, ex, started))
	if left <= 0 {
		return -time.Millisecond
	}
	return max(left, time.Millisecond) // the plugin protocol counts milliseconds
}

// collectBound says in words how long collection waited, for a reason.
func (e *engine) collectBound(ctx context.Context, ex Exporter, started time.Time) string {
	if !e.deadline.IsZero() && e.deadline.Before(started.Add(collectFactor*exportBound(ex))) {
		return fmt.Sprintf("the collection stopped at run.max_duration (%s)", e.p.Run.MaxDuration)
	}
	return fmt.Sprintf("a deferred export is collected until it has run %d times its timeout of %s, %s in all; "+
		"raise timeout in the export block if exports of this item really take that long", collectFactor, exportBound(ex), collectFactor*exportBound(ex))
}

// abandonDeferred gives up the deferred exports never collected: each
// exporter is asked to resume with no time left, which deletes the job's
// temporary items without waiting or downloading; the artifacts of the
// first pass are removed like those of any item that did not finish.
func (e *engine) abandonDeferred(ctx context.Context) {
	e.mu.Lock()
	var left []int
	for i := range e.deferredItems {
		left = append(left, i)
	}
	e.mu.Unlock()
	if len(left) == 0 {
		return
	}
	slices.Sort(left)
	e.log.Warn("giving up deferred exports not collected", "items", len(left))
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abandonTimeout)
	defer cancel()
	sem := make(chan struct{}, max(e.p.Run.Concurrency, 1))
	var wg sync.WaitGroup
	for _, i := range left {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			e.abandonItem(ctx, cctx, i)
		})
	}
	wg.Wait()
}

func (e *engine) abandonItem(ctx, cctx context.Context, i int) {
	e.mu.Lock()
	prev := e.deferredItems[i]
	delete(e.deferredItems, i)
	r := e.rep.Items[i]
	e.mu.Unlock()
	item := e.itemOf(r)
	ex := e.o.Exporters[item.Type]
	log := e.log.With("item", item.ID, "title", item.Title, "type", item.Type, "exporter", ex.Name)
	e.giveUpJob(cctx, item, ex, log)
	e.cleanup(ctx, prev.stored, nil, log)
	stopped := e.stopReason(ctx)
	e.setResult(i, func(it *report.Item) {
		it.Attempts, it.Warnings, it.Duration = prev.attempts, prev.warnings, prev.took
		if stopped.canceled {
			it.Status, it.Reason = report.ItemCanceled, "the run was cancelled while the portal's export job was still running; the job was given up"
			return
		}
		e.stopped.Add(1)
		it.Status, it.ErrorKind = sdk.StatusFailed, "timeout"
		it.Reason = "the portal's export job was still running when " + stopped.why + "; the job was given up"
		it.Hint = report.HintFor("timeout")
	})
	e.emit(Event{Type: EventItemFinished, Item: item, Status: e.itemStatus(i)})
}

// giveUpJob asks ex to give up the deferred job of item at once (Resume
// with a negative Timeout: its temporary items deleted, nothing written),
// within abandonTimeout.
func (e *engine) giveUpJob(ctx context.Context, item sdk.Item, ex Exporter, log *slog.Logger) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abandonTimeout)
	defer cancel()
	req := sdk.ExportRequest{Item: item, RunID: e.rep.RunID, Org: e.org, Resume: true, Timeout: -time.Millisecond, Format: ex.Format}
	res, err := safeExport(cctx, ex.Exporter, req, &host{e: e, item: item, log: log}, refuseWrites{})
	if err != nil {
		log.Warn("the exporter could not give up its deferred export job; a later run removes its temporary items", "error", err)
		return
	}
	log.Info("deferred export job given up", "reason", res.Reason)
}

func (e *engine) itemStatus(i int) sdk.ExportStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rep.Items[i].Status
}

// refuseWrites is the artifact writer of a call that must not write.
type refuseWrites struct{}

func (refuseWrites) Write(context.Context, sdk.Artifact, io.Reader) error {
	return sdk.Permanent("no artifact may be written while giving up a deferred export")
}

// exportWorkers exports the items received from idx, until it is closed, with
// run.concurrency workers and returns the indexes of items whose export was
// deferred.
func (e *engine) exportWorkers(ctx context.Context, idx <-chan int, resume bool) []int {
	workers := max(e.p.Run.Concurrency, 1)
	jobs := make(chan int)
	var mu sync.Mutex
	var deferred []int
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				// The portal's throttling lowers how many items export at
				// once (throttle.go); workers above the limit wait here.
				mark, ok := e.throttle.acquire(ctx)
				if !ok {
					continue // cancelled: the item stays not started
				}
				d := e.exportItem(ctx, i, resume)
				e.throttle.release(mark)
				if d {
					mu.Lock()
					deferred = append(deferred, i)
					mu.Unlock()
				}
			}
		}()
	}
	// No item starts once the run is cancelled or reaches max_duration
	// (e.soft); the ones not started keep no status, settled by the caller.
	soft := e.soft
	if soft == nil {
		soft = ctx
	}
feed:
	for i := range idx {
		if ctx.Err() != nil || soft.Err() != nil {
			break
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		case <-soft.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	slices.Sort(deferred)
	return deferred
}

// itemFailure carries the failure category Results.txt groups by.
type itemFailure struct {
	kind string
	err  error
}

func (f *itemFailure) Error() string { return f.err.Error() }
func (f *itemFailure) Unwrap() error { return f.err }

// exportItem exports one item with retries and records its result. It
// returns true when the export was deferred. With resume it collects a
// deferred export: the exporter gets the time left to collect (see
// collectTimeout), and what the first pass wrote joins the result.
func (e *engine) exportItem(ctx context.Context, i int, resume bool) (deferred bool) {
	e.mu.Lock()
	it := e.rep.Items[i]
	var prev *deferredItem
	if resume {
		prev = e.deferredItems[i]
		delete(e.deferredItems, i)
	}
	e.mu.Unlock()
	if resume && prev == nil {
		prev = &deferredItem{started: time.Now()}
	}
	item := e.itemOf(it)
	ex := e.o.Exporters[item.Type]
	e.emit(Event{Type: EventItemStarted, Item: item})
	started, wall := e.now(), time.Now()
	log := e.log.With("item", item.ID, "title", item.Title, "type", item.Type, "exporter", ex.Name)
	if why := e.noSinkLeft(); why != "" {
		// Exporting would cost the portal a job for bytes no sink can take.
		if prev != nil {
			// A deferred job: given up, and what its first pass wrote goes.
			e.giveUpJob(ctx, item, ex, log)
			e.cleanup(ctx, prev.stored, nil, log)
		}
		e.setResult(i, func(r *report.Item) {
			r.Status, r.Reason, r.ErrorKind, r.Hint = sdk.StatusFailed, why, "sink", report.HintFor("sink")
			r.Duration = e.now().Sub(started)
		})
		e.emit(Event{Type: EventItemFinished, Item: item, Status: sdk.StatusFailed})
		return false
	}
	log.Info("export starting", "resume", resume)

	stored := map[int]map[string]bool{} // sink -> paths written by any attempt
	if prev != nil {
		for si, paths := range prev.stored {
			stored[si] = maps.Clone(paths)
		}
	}
	var w *artifactWriter
	var res sdk.ExportResult
	attempts := 0
	pol := e.policy
	pol.OnRetry = func(attempt int, err error, d time.Duration) {
		log.Warn("export failed, retrying", "attempt", attempt, "error", err, "delay", d.String())
	}
	err := pol.Do(ctx, func(ctx context.Context, attempt int) error {
		attempts = attempt
		w = &artifactWriter{e: e, item: item, exporter: ex.Name, last: attempt >= e.attempts, names: map[string]int{}, stored: stored}
		req := sdk.ExportRequest{Item: item, RunID: e.rep.RunID, Org: e.org, Resume: resume, Timeout: ex.Timeout, Format: ex.Format}
		if resume {
			req.Timeout = e.collectTimeout(ctx, ex, prev.started)
		} else if !e.deadline.IsZero() {
			// A portal job is waited for until max_duration at most: the
			// exporter then defers it, and it is given up in a call the run
			// waits for (a cancelled call's clean-up may be cut short).
			left := time.Until(e.deadline)
			if left <= 0 {
				e.stopped.Add(1)
				return &itemFailure{kind: "timeout", err: sdk.Permanent("%s before this item finished", e.stopReason(ctx).why)}
			}
			if req.Timeout <= 0 || left < req.Timeout {
				req.Timeout = max(left, time.Millisecond)
			}
		}
		var err error
		res, err = safeExport(ctx, ex.Exporter, req, &host{e: e, item: item, log: log}, w)
		// A required sink's transient failure exports the item again, but
		// not once its portal job is deferred: that would start a second
		// job. What the sink missed stays in the record (requiredMisses).
		if err == nil && w.retryErr != nil && res.Status != sdk.StatusDeferred {
			err = w.retryErr // a required sink failed transiently: export again
		}
		if err == nil && res.Status == sdk.StatusDeferred && resume {
			err = &itemFailure{kind: "timeout", err: sdk.Permanent("the exporter deferred the item again when asked to collect it: %s", firstNonEmpty(res.Reason, "no reason given"))}
		}
		if err == nil && res.Status == sdk.StatusFailed {
			reason := firstNonEmpty(res.Reason, "the exporter reported a failure without a reason")
			if resume && time.Until(e.collectEnd(ctx, ex, prev.started)) <= 0 {
				if e.pastDeadline() {
					e.stopped.Add(1)
				}
				return &itemFailure{kind: "timeout", err: sdk.Permanent("%s (%s)", reason, e.collectBound(ctx, ex, prev.started))}
			}
			err = sdk.Permanent("%s", reason)
		}
		return err
	})

	// The artifacts of the item's export: those of the last attempt, and on
	// resume those of the first pass that the collection did not write again
	// (the same name lands on the same path).
	var arts []report.Artifact
	if err == nil && w != nil {
		arts = w.artifacts
		if prev != nil {
			arts = mergeArtifacts(prev.artifacts, w.artifacts)
		}
	}
	final := map[int]map[string]bool{}
	for _, a := range arts {
		for _, o := range a.Sinks {
			if o.Status == report.Stored {
				k := e.sinkIndex(o.Sink)
				if final[k] == nil {
					final[k] = map[string]bool{}
				}
				final[k][o.Path] = true
			}
		}
	}
	// What earlier attempts (or a failed or cancelled item) left in the
	// sinks is removed: only an item's last complete export stays.
	e.cleanup(ctx, stored, final, log)

	rec := func(f func(it *report.Item)) { e.setResult(i, f) }
	var took time.Duration
	if prev != nil {
		attempts += prev.attempts
		took = prev.took
		res.Warnings = append(slices.Clip(prev.warnings), res.Warnings...)
	}
	switch {
	case err != nil && (sdk.KindOf(err) == sdk.KindCanceled || ctx.Err() != nil):
		if stop := e.stopReason(ctx); !stop.canceled {
			e.stopped.Add(1)
			log.Warn("export stopped", "reason", stop.why)
			rec(func(r *report.Item) {
				r.Status, r.ErrorKind, r.Attempts, r.Warnings = sdk.StatusFailed, "timeout", attempts, res.Warnings
				r.Reason = stop.why + " before this item finished"
				r.Hint = report.HintFor("timeout")
			})
			break
		}
		log.Warn("export cancelled")
		rec(func(r *report.Item) {
			r.Status, r.Reason, r.Attempts = report.ItemCanceled, "the run was cancelled before this item finished", attempts
		})
	case err != nil:
		kind := sdk.KindOf(err).String()
		if r := sdk.ReasonOf(err); r == sdk.ReasonThrottled || r == sdk.ReasonUnreachable {
			kind = r.String() // grouped apart in Results.txt, never as "refused"
		}
		if errors.Is(err, grpcplugin.ErrChecksumMismatch) {
			kind = "plugin" // the plugin host stopped a plugin whose binary changed
		}
		var f *itemFailure
		if errors.As(err, &f) {
			kind = f.kind
		}
		log.Error("export failed", "error", err, "attempts", attempts, "kind", kind)
		rec(func(r *report.Item) {
			r.Status, r.Reason, r.ErrorKind, r.Attempts, r.Warnings = sdk.StatusFailed, err.Error(), kind, attempts, res.Warnings
			r.Hint = report.HintFor(kind)
		})
	case res.Status == sdk.StatusDeferred:
		log.Info("export deferred; collected before the run ends", "reason", res.Reason)
		e.mu.Lock()
		e.deferredItems[i] = &deferredItem{artifacts: w.artifacts, stored: final, warnings: res.Warnings, attempts: attempts, took: e.now().Sub(started), started: wall}
		e.mu.Unlock()
		return true
	default:
		status := res.Status
		switch status {
		case sdk.StatusExported, sdk.StatusPartial, sdk.StatusSkipped, sdk.StatusExcluded:
		default:
			status = sdk.StatusFailed
			res.Reason = fmt.Sprintf("the exporter returned the unknown status %q", res.Status)
		}
		w.artifacts = arts
		reason := res.Reason
		if status == sdk.StatusExported || status == sdk.StatusPartial {
			if missed := w.requiredMisses(); missed != "" {
				status = sdk.StatusPartial
				reason = joinReasons(reason, missed)
			}
		}
		e.mu.Lock()
		e.rep.Artifacts = append(e.rep.Artifacts, arts...)
		e.mu.Unlock()
		log.Info("export finished", "status", status, "artifacts", len(arts), "attempts", attempts)
		rec(func(r *report.Item) {
			r.Status, r.Reason, r.Attempts, r.Warnings = status, reason, attempts, res.Warnings
			// The data's format as the exporter reports it (after any
			// fallback) wins over the configured one; the first
			// artifact's is a last resort (often service.json: "JSON").
			switch {
			case res.Format != "":
				r.Format = res.Format
			case len(arts) > 0 && r.Format == "":
				r.Format = arts[0].Format
			}
		})
	}
	e.mu.Lock()
	e.rep.Items[i].Duration = took + e.now().Sub(started)
	final2 := e.rep.Items[i].Status
	e.mu.Unlock()
	e.emit(Event{Type: EventItemFinished, Item: item, Status: final2})
	return false
}

// mergeArtifacts is the first pass's artifacts that the collection did not
// write again, then the collection's.
func mergeArtifacts(first, again []report.Artifact) []report.Artifact {
	rewritten := map[[2]string]bool{}
	for _, a := range again {
		for _, o := range a.Sinks {
			rewritten[[2]string{o.Sink, o.Path}] = true
		}
	}
	out := make([]report.Artifact, 0, len(first)+len(again))
	for _, a := range first {
		if !slices.ContainsFunc(a.Sinks, func(o report.SinkOutcome) bool { return rewritten[[2]string{o.Sink, o.Path}] }) {
			out = append(out, a)
		}
	}
	return append(out, again...)
}

func joinReasons(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func (e *engine) setResult(i int, f func(*report.Item)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(&e.rep.Items[i])
}

// itemOf is the item as the source listed it, Raw and every field, for its
// exporter. list keeps it only for items to export (and for none in a dry
// run); for any other the zero Item is returned.
func (e *engine) itemOf(r report.Item) sdk.Item {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.listed[r.ID]
}

func (e *engine) sinkIndex(name string) int {
	for i, s := range e.sinks {
		if s.name == name {
			return i
		}
	}
	return -1
}

// cleanup deletes objects an item wrote that are not part of its final
// export. It runs even after cancellation, with its own deadline.
func (e *engine) cleanup(ctx context.Context, stored, keep map[int]map[string]bool, log interface{ Warn(string, ...any) }) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	for si, paths := range stored {
		for p := range paths {
			if keep[si][p] {
				continue
			}
			if err := e.sinks[si].out.Delete(cctx, e.rep.RunFolder+"/"+p); err != nil && !sdk.IsNotFound(err) {
				log.Warn("could not remove an artifact of an unfinished export", "sink", e.sinks[si].name, "path", p, "error", err)
			}
		}
	}
}

// safeExport turns an exporter's panic into a failure of its item, so one
// bad item never takes the run down.
func safeExport(ctx context.Context, ex sdk.Exporter, req sdk.ExportRequest, h *host, w sdk.ArtifactWriter) (res sdk.ExportResult, err error) {
	var stack string
	defer func() {
		if stack != "" {
			h.log.Error("exporter panic", "stack", stack) // for the bug report; too long for Results.txt
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			stack = string(debug.Stack())
			err = &itemFailure{kind: "crash", err: sdk.Permanent("the exporter crashed: %v", r)}
		}
	}()
	return ex.Export(ctx, req, h, w)
}

// artifactWriter is the sdk.ArtifactWriter of one export attempt.
type artifactWriter struct {
	e        *engine
	item     sdk.Item
	exporter string
	last     bool

	mu    sync.Mutex
	names map[string]int // next occurrence of each artifact name
	// free holds occurrences of writes that stored nothing (the download
	// broke, no sink took it): the exporter's retry of that artifact gets
	// the same name, not "<name>_2".
	free      map[string][]int
	artifacts []report.Artifact
	stored    map[int]map[string]bool
	retryErr  error
}

// Write streams one artifact to every live sink at once (see fanout).
func (w *artifactWriter) Write(ctx context.Context, a sdk.Artifact, body io.Reader) error {
	e := w.e
	occ := w.take(a.Name)
	recorded := false
	defer func() {
		if !recorded {
			w.release(a.Name, occ)
		}
	}()

	var targets []target
	var sinkIdx []int
	var notSent []report.SinkOutcome // sinks that are full
	var full []string
	rec := report.Artifact{Name: a.Name, ItemID: w.item.ID, ItemType: w.item.Type, Exporter: w.exporter, Format: a.Format, MediaType: a.MediaType}
	for _, s := range e.sinks {
		if !s.alive || !e.targetsOnly(w.item.ID, s.idx) {
			continue
		}
		p, err := s.builder.Artifact(w.item, a.Name, occ)
		if err != nil {
			return &itemFailure{kind: "permanent", err: fmt.Errorf("sink %q: %w", s.name, err)}
		}
		if down := e.downErr(s); down != nil {
			notSent = append(notSent, report.SinkOutcome{Sink: s.name, Path: strings.TrimPrefix(p, e.rep.RunFolder+"/"), Status: report.Missed,
				Error: "not sent: the sink is full (" + down.Error() + ")"})
			full = append(full, fmt.Sprintf("sink %q is full (%v)", s.name, down))
			continue
		}
		// Manifest paths are relative to the run folder, so a run folder
		// that is moved or copied elsewhere still verifies.
		targets = append(targets, target{sink: s.out, path: p})
		sinkIdx = append(sinkIdx, s.idx)
		rec.Sinks = append(rec.Sinks, report.SinkOutcome{Sink: s.name, Path: strings.TrimPrefix(p, e.rep.RunFolder+"/")})
	}
	if len(targets) == 0 {
		if len(full) > 0 {
			return &itemFailure{kind: "sink", err: sdk.WithReason(sdk.KindPermanent, sdk.ReasonNoSpace, fmt.Errorf("artifact %q was not stored: %s", a.Name, strings.Join(full, "; ")))}
		}
		return &itemFailure{kind: "sink", err: sdk.Permanent("no sink is available")}
	}
	r := fanout(ctx, &e.pool, e.chunk, e.queue, targets, a, body, func(n int64) { e.emit(Event{Type: EventBytes, Bytes: n}) })
	if r.srcErr != nil {
		return r.srcErr
	}
	rec.Size, rec.SHA256 = r.size, r.sha256
	storedAny := false
	var retryable error
	for k, err := range r.errs {
		o := &rec.Sinks[k]
		if err == nil {
			o.Status = report.Stored
			storedAny = true
			w.mu.Lock()
			if w.stored[sinkIdx[k]] == nil {
				w.stored[sinkIdx[k]] = map[string]bool{}
			}
			w.stored[sinkIdx[k]][o.Path] = true
			w.mu.Unlock()
			continue
		}
		o.Status, o.Error = report.Missed, err.Error()
		e.log.Warn("sink did not store an artifact", "sink", o.Sink, "item", w.item.ID, "path", o.Path, "error", err)
		if sdk.ReasonOf(err) == sdk.ReasonNoSpace {
			e.sinkFull(e.sinks[sinkIdx[k]], err)
		}
		if e.sinks[sinkIdx[k]].Block.Required && sdk.KindOf(err) == sdk.KindRetryable && retryable == nil {
			retryable = fmt.Errorf("sink %q: %w", o.Sink, err)
		}
	}
	if ctx.Err() != nil {
		return sdk.Classify(sdk.KindCanceled, ctx.Err())
	}
	if !storedAny {
		return &itemFailure{kind: "sink", err: withKind(combine(r.errs), fmt.Sprintf("artifact %q was not stored in any sink: %v", a.Name, combine(r.errs)))}
	}
	rec.Sinks = append(rec.Sinks, notSent...)
	w.mu.Lock()
	w.artifacts = append(w.artifacts, rec)
	recorded = true
	if retryable != nil && !w.last && w.retryErr == nil {
		w.retryErr = retryable
	}
	w.mu.Unlock()
	if retryable != nil && !w.last {
		return retryable // stop this attempt early; the item is exported again
	}
	return nil
}

// take gives a write of an artifact named name its occurrence (0 for the
// first of that name in the item), reusing one a failed write gave back.
func (w *artifactWriter) take(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if f := w.free[name]; len(f) > 0 {
		i := slices.Index(f, slices.Min(f))
		occ := f[i]
		w.free[name] = slices.Delete(f, i, i+1)
		return occ
	}
	occ := w.names[name]
	w.names[name]++
	return occ
}

// release gives back the occurrence of a write that stored nothing.
func (w *artifactWriter) release(name string, occ int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.free == nil {
		w.free = map[string][]int{}
	}
	w.free[name] = append(w.free[name], occ)
}

// requiredMisses says which required sinks lack an artifact, or "".
func (w *artifactWriter) requiredMisses() string {
	missed := map[string]int{}
	why := map[string]string{} // the first error, so the reason says why
	var order []string
	for _, a := range w.artifacts {
		for _, o := range a.Sinks {
			if o.Status != report.Stored && w.e.sinks[w.e.sinkIndex(o.Sink)].Block.Required {
				if missed[o.Sink] == 0 {
					order = append(order, o.Sink)
				}
				missed[o.Sink]++
				if why[o.Sink] == "" {
					why[o.Sink] = o.Error
				}
			}
		}
	}
	var b bytes.Buffer
	for i, s := range order {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%d artifact(s) not stored in required sink %q", missed[s], s)
		if why[s] != "" {
			fmt.Fprintf(&b, " (first: %s)", why[s])
		}
	}
	return b.String()
}
