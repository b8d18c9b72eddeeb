// Package engine runs a backup: it preflights the sinks, connects the
// source, lists the items and exports each, as soon as it is listed, with a
// pool of workers while every artifact streams to all sinks at once, and
// writes the run's reports into every sink. It works only against the sdk interfaces, so the components
// may be in-process fakes or plugin subprocesses.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agolpipe/agolpipe/core/objectpath"
	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/sinkwatch"
	"github.com/agolpipe/agolpipe/core/ziprun"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
	"github.com/agolpipe/agolpipe/sdk/version"
)

// Exit codes of a run, and of every agolpipe command: the process exit
// status. They are a contract with the schedulers and alerting that run
// agolpipe, listed in the README; this is the one place they are defined.
const (
	ExitOK       = 0
	ExitPartial  = 1   // some item failed or is partial; reports still written
	ExitUsage    = 2   // configuration or usage error
	ExitCanceled = 130 // interrupted (SIGINT or SIGTERM)
)

// Exporter is the exporter that handles one item type, with the settings of
// its export block.
type Exporter struct {
	// Name is the exporter component's name, for the manifest and logs.
	Name     string
	Exporter sdk.Exporter
	Format   string
	Timeout  time.Duration
	// Skip turns the item type off (`skip = true`): its items are excluded.
	Skip bool
}

// Sink is a configured sink and its block. Features is what the sink's
// Configure returned.
type Sink struct {
	Block    *pipeline.SinkBlock
	Sink     sdk.Sink
	Features sdk.SinkFeatures
}

// Notifier is a configured notifier and its block.
type Notifier struct {
	Block    *pipeline.NotifierBlock
	Notifier sdk.Notifier
}

// Options is everything a run needs. The caller owns the components: it
// configured them and closes them after Run returns.
type Options struct {
	Pipeline *pipeline.Pipeline
	Source   sdk.Source
	// Exporters maps an item type ("Web Map") to its exporter. Items of a
	// type with no entry are skipped with a reason.
	Exporters map[string]Exporter
	Sinks     []Sink
	Notifiers []Notifier
	// Log is run.log; nil makes a text log that only the sinks receive.
	// Run does not close it.
	Log *report.Log
	// Progress, when set, is called from many goroutines at once.
	Progress func(Event)
	// Now is the clock (tests make it deterministic); nil is time.Now.
	Now func() time.Time
	// DryRun lists and plans without preflight writes, exports or reports
	// (`agolpipe plan`).
	DryRun bool
	// Retry overrides the retry policy's delays and clock (tests); its
	// Retries is always taken from the pipeline's run block.
	Retry retry.Policy
	// ChunkSize and SinkQueue tune fan-out buffering; zero means defaults.
	ChunkSize, SinkQueue int
	// KeepDir is the local folder that keeps a sink's reports when they
	// cannot be stored in it (a full disk), in <KeepDir>/<run folder>/<sink>;
	// empty keeps none.
	KeepDir string
	// StateDir holds the pipeline's retry state: the items a run did not
	// back up, which the next run exports again whatever its
	// modified_within window says. Empty keeps no state.
	StateDir string
}

// EventType says what an Event reports.
type EventType int

const (
	// EventListed: listing is done; Total items will be exported. Items
	// start exporting before it, as they are listed.
	EventListed EventType = iota
	EventItemStarted
	// EventItemFinished carries the item's final Status.
	EventItemFinished
	// EventBytes: Bytes more bytes of artifacts went through.
	EventBytes
	// EventItemProgress relays an exporter's own progress (Stage, Percent).
	EventItemProgress
	// EventReports: the reports are being written.
	EventReports
	// EventQueued: listing goes on; Total items to export so far (the
	// final count comes with EventListed).
	EventQueued
	// EventThrottled: the portal started throttling; Stage says what the
	// run does about it (fewer items at once, backoff).
	EventThrottled
)

// Event is one progress report for the live display.
type Event struct {
	Type    EventType
	Total   int
	Item    sdk.Item
	Status  sdk.ExportStatus
	Bytes   int64
	Stage   string
	Percent float64
}

// Run runs the pipeline and returns its record, which is also what was
// written as manifest.json. The record is non-nil even when Run returns an
// error; its ExitCode is the process exit code. The error is set when the run
// could not start or finish its work (a sink failed preflight, the source
// could not connect, the run was cancelled).
func Run(ctx context.Context, o Options) (*report.Run, error) {
	e, err := newEngine(o)
	if err != nil {
		return &report.Run{SchemaVersion: report.SchemaVersion, Status: report.StatusFailed, ExitCode: ExitUsage, Error: err.Error()}, err
	}
	defer e.closeLog()
	rep, err := e.run(ctx)
	e.abortZips(err)
	return rep, err
}

type engine struct {
	o        Options
	p        *pipeline.Pipeline
	now      func() time.Time
	log      *slog.Logger
	runLog   *report.Log
	ownLog   bool
	rep      *report.Run
	sinks    []*sinkState
	policy   retry.Policy
	attempts int       // per item: 1 + retries
	throttle *throttle // adaptive concurrency of item exports
	org      sdk.OrgInfo
	pool     sync.Pool
	chunk    int
	queue    int

	// retentionTimeout and scanTimeout bound retention and the look for
	// unfinished runs in one sink (DefaultRetentionTimeout, ...).
	retentionTimeout, scanTimeout time.Duration

	listed  map[string]sdk.Item // items to export, by id, as the source listed them
	results string              // Results.txt, for notifiers
	// only, while restoreLost runs, limits each item's export to the sinks
	// that lost its artifacts (by item id, sink index); nil otherwise.
	only map[string]map[int]bool

	// retry are the items earlier runs did not back up (nil: no state);
	// listedAll says this run's listing completed.
	retry     map[string]retryEntry
	listedAll bool
	// deferredItems holds, by index in rep.Items, the exports deferred and
	// not collected yet.
	deferredItems map[int]*deferredItem
	// deadline is when run.max_duration ends the run's work (zero: none),
	// and soft a context that ends then: no item starts after it, and
	// portal jobs are waited for until it. Calls in flight then get
	// stopGrace more to give their jobs up themselves (deleting temporary
	// items in a call the run waits for) before they are cancelled.
	deadline time.Time
	soft     context.Context
	// overran is set when the run reached run.max_duration with work pending.
	overran bool
	// stopped counts the items failed because the run reached max_duration.
	stopped atomic.Int64
	// verifyRan says run verify read the sinks' copies back: the
	// manifests are rewritten with its outcome (rewriteReports).
	verifyRan bool

	mu sync.Mutex // guards rep.Items[i] results, rep.Artifacts, rep.Warnings

	// scan is the look for unfinished earlier runs (scanUnfinished); the
	// reports wait for it, as it adds warnings.
	scan sync.WaitGroup
}

type sinkState struct {
	Sink
	name    string
	idx     int
	builder *objectpath.Builder
	alive   bool // passed preflight
	// down is why nothing more is sent to the sink in this run (it said it
	// is full); guarded by engine.mu.
	down error
	// out is where the run writes the sink's artifacts and reports: the
	// configured sink (inner), or for a sink with zip = true the archive
	// being written (zip), with inner underneath it.
	out   sdk.Sink
	zip   *ziprun.Sink
	inner sdk.Sink
}

func newEngine(o Options) (*engine, error) {
	if o.Pipeline == nil || o.Source == nil {
		return nil, errors.New("engine: Pipeline and Source are required")
	}
	if len(o.Sinks) == 0 && !o.DryRun {
		return nil, errors.New("the pipeline has no sink block: add one, for example sink \"local\" \"nas\" { path = \"/mnt/gis-backups\" }")
	}
	e := &engine{o: o, p: o.Pipeline, now: o.Now, runLog: o.Log, chunk: o.ChunkSize, queue: o.SinkQueue, deferredItems: map[int]*deferredItem{}}
	if e.now == nil {
		e.now = time.Now
	}
	if e.chunk <= 0 {
		e.chunk = defaultChunkSize
	}
	if e.queue <= 0 {
		e.queue = defaultSinkQueue
	}
	size := e.chunk
	e.pool.New = func() any { b := make([]byte, size); return &b }
	if e.runLog == nil {
		l, err := report.NewLog("text", e.p.Sensitive, nil)
		if err != nil {
			return nil, err
		}
		e.runLog, e.ownLog = l, true
	}
	e.log = e.runLog.Logger()
	e.policy = o.Retry
	e.policy.Retries = e.p.Run.Retries
	if e.policy.Retries == 0 {
		e.policy.Retries = -1 // `retries = 0` means no retries, not the default
	}
	e.attempts = 1 + max(e.p.Run.Retries, 0)
	// Every call of the run to a sink is bounded by its progress
	// (sinkwatch): a store that stops answering fails the call within
	// minutes instead of holding the run, whatever max_duration says.
	idle, err := sinkwatch.IdleTimeout()
	if err != nil {
		return nil, err
	}
	if e.retentionTimeout, err = sinkwatch.DurationFromEnv(RetentionTimeoutEnv, DefaultRetentionTimeout); err != nil {
		return nil, err
	}
	if e.scanTimeout, err = sinkwatch.DurationFromEnv(SinkScanTimeoutEnv, DefaultSinkScanTimeout); err != nil {
		return nil, err
	}
	e.o.Sinks = slices.Clone(o.Sinks)
	for i := range e.o.Sinks {
		e.o.Sinks[i].Sink = sinkwatch.Wrap(o.Sinks[i].Sink, o.Sinks[i].Block.Name, idle)
	}
	e.throttle = newThrottle(e.p.Run.Concurrency, e.now)
	e.throttle.onCut = func(limit, signals int, first bool) {
		e.log.Warn("the portal is throttling requests: fewer items are exported at once", "concurrency", limit, "configured", e.p.Run.Concurrency, "throttled_requests", signals)
		if first {
			e.emit(Event{Type: EventThrottled, Stage: fmt.Sprintf("the portal is throttling requests: exporting %d items at once instead of %d, and backing off", limit, e.p.Run.Concurrency)})
		}
	}
	return e, nil
}

func (e *engine) closeLog() {
	if e.ownLog {
		e.runLog.Close()
	}
}

func (e *engine) emit(ev Event) {
	if e.o.Progress != nil {
		e.o.Progress(ev)
	}
}

func (e *engine) run(ctx context.Context) (*report.Run, error) {
	start := e.now()
	folder := objectpath.RunFolder(e.p.Run.Prefix, start)
	if !e.o.DryRun {
		folder = e.uniqueFolder(ctx, folder)
	}
	host, _ := os.Hostname()
	e.rep = &report.Run{
		SchemaVersion: report.SchemaVersion, AgolpipeVersion: version.Version,
		RunID: folder + "-" + randomHex(4), RunFolder: folder, PipelineID: e.p.ID(),
		Host: host, PID: os.Getpid(),
		Pipeline: report.Pipeline{File: e.p.Filename, SHA256: e.p.Hash},
		Started:  start.UTC(), Items: []report.Item{}, Artifacts: []report.Artifact{},
	}
	if d := e.p.Run.ModifiedWithin; d > 0 {
		since := start.Add(-d).UTC()
		e.rep.ModifiedSince = &since
	}
	if c := e.p.Source; c != nil {
		e.rep.Source = report.Source{Type: c.Type, Name: c.Name, ItemCount: -1}
	}
	e.log.Info("run starting", "run", folder, "pipeline", e.p.Filename, "sha256", e.p.Hash, "version", version.Version, "dry_run", e.o.DryRun)
	e.loadRetry()

	// wctx bounds the run's work by run.max_duration; ctx is the user's
	// (Ctrl-C). Reports, clean-up and notifications after the work use ctx,
	// each with its own bound.
	wctx := ctx
	e.soft = ctx
	if d := e.p.Run.MaxDuration; d > 0 && !e.o.DryRun {
		e.deadline = time.Now().Add(d)
		var cancelSoft, cancelHard context.CancelFunc
		e.soft, cancelSoft = context.WithDeadlineCause(ctx, e.deadline, errMaxDuration)
		defer cancelSoft()
		wctx, cancelHard = context.WithDeadlineCause(ctx, e.deadline.Add(stopGrace), errMaxDuration)
		defer cancelHard()
	}
	if err := e.setupSinks(e.soft); err != nil {
		return e.fatal(ctx, e.overrunErr(e.soft, err, "preparing the sinks"), false)
	}
	if !e.o.DryRun {
		e.markRunning(ctx)
		e.scanUnfinished(ctx)
	}
	if err := e.connect(e.soft); err != nil {
		return e.fatal(ctx, e.overrunErr(e.soft, err, "connecting to the source"), true)
	}
	if e.o.DryRun {
		if _, err := e.list(ctx, nil); err != nil {
			return e.fatal(ctx, err, true)
		}
		e.rep.Finished = e.now().UTC()
		e.count()
		return e.rep, nil
	}
	// Items export as they are listed: listing a large organization takes
	// seconds to minutes, and waiting for its end left every worker idle.
	// The listing's own failure stops starting items (lctx), but lets the
	// ones started finish and keep their results.
	lctx, stopStarting := context.WithCancel(e.soft)
	defer stopStarting()
	feed := make(chan int)
	var pool sync.WaitGroup
	var deferred []int
	pool.Go(func() { deferred = e.exportWorkers(wctx, queued(lctx, feed), false) })
	_, err := e.list(e.soft, func(i int) error {
		select {
		case feed <- i:
			return nil
		case <-lctx.Done():
			return lctx.Err()
		}
	})
	e.listedAll = err == nil
	// The org metadata streams to the sinks while items export: it is
	// independent of them and can take long in a large organization. It
	// starts only now because a source's sharing section covers the items
	// of its last whole listing (sdk.OrgMetadataSource).
	var meta sync.WaitGroup
	if err == nil {
		meta.Go(func() { e.orgMetadata(wctx) })
	} else {
		stopStarting()
	}
	close(feed)
	pool.Wait()
	// Exports deferred are collected (or, when the run is stopping, given
	// up) even after the listing failed: their jobs run on the portal.
	e.collectDeferred(wctx, deferred)
	meta.Wait()
	e.restoreLost(wctx)
	if msg := e.throttle.summary(); msg != "" {
		e.warn(msg + "; if items failed as throttled, lower run.concurrency")
	}
	if ctx.Err() == nil && e.pastDeadline() {
		e.stopAtMaxDuration(e.stopReason(wctx).why, err)
		return e.finish(ctx, nil)
	}
	if err != nil {
		if ctx.Err() == nil && sdk.KindOf(err) != sdk.KindCanceled {
			// (A cancelled run's finish says "cancelled" for these.)
			for i := range e.rep.Items {
				if e.rep.Items[i].Status == "" {
					e.rep.Items[i].Status, e.rep.Items[i].Reason = report.ItemCanceled, "not started: listing the items failed"
				}
			}
		}
		return e.fatal(ctx, err, true)
	}
	return e.finish(ctx, nil)
}

// errMaxDuration is the cause of the end of a run's work context at
// run.max_duration.
var errMaxDuration = errors.New("run.max_duration reached")

// stopGrace is how long the calls in flight at run.max_duration have to
// end by themselves (an exporter gives its portal job up and deletes the
// temporary item) before they are cancelled.
const stopGrace = 30 * time.Second

// pastDeadline reports whether run.max_duration has been reached.
func (e *engine) pastDeadline() bool {
	return !e.deadline.IsZero() && !time.Now().Before(e.deadline)
}

// stop says why a run's work stopped: cancelled by the user, or out of
// time (why says how, for reasons).
type stop struct {
	canceled bool
	why      string
}

// stopReason reads why ctx (the work context or one derived from it)
// ended.
func (e *engine) stopReason(ctx context.Context) stop {
	maxDur := stop{why: fmt.Sprintf("the run reached run.max_duration (%s)", e.p.Run.MaxDuration)}
	if errors.Is(context.Cause(ctx), errMaxDuration) {
		return maxDur
	}
	if ctx.Err() != nil {
		return stop{canceled: true}
	}
	if e.pastDeadline() {
		return maxDur
	}
	return stop{why: "the time to collect it ran out"}
}

// overrunErr gives err, which ended a phase of the run, the reason
// run.max_duration when that is what stopped it (not a cancellation).
func (e *engine) overrunErr(wctx context.Context, err error, phase string) error {
	if st := e.stopReason(wctx); err != nil && wctx.Err() != nil && !st.canceled {
		e.overran = true
		return sdk.Retryable("%s while %s; raise max_duration in the run block if the run needs longer", st.why, phase)
	}
	return err
}

// stopAtMaxDuration settles a run whose work reached run.max_duration:
// items not started fail with the reason (the ones in flight already did),
// and the run is never a success.
func (e *engine) stopAtMaxDuration(why string, listErr error) {
	n := 0
	e.mu.Lock()
	for i := range e.rep.Items {
		if e.rep.Items[i].Status == "" {
			e.rep.Items[i].Status, e.rep.Items[i].ErrorKind = sdk.StatusFailed, "timeout"
			e.rep.Items[i].Reason = "not started: " + why
			e.rep.Items[i].Hint = report.HintFor("timeout")
			n++
		}
	}
	e.mu.Unlock()
	if n == 0 && listErr == nil && e.stopped.Load() == 0 {
		return // everything ended within the grace after the bound
	}
	e.overran = true
	msg := why + "; what was still pending failed"
	if listErr != nil {
		msg += " (the listing of the items did not finish: items not listed are not in this run)"
	}
	e.rep.Error = msg + "; raise max_duration in the run block if the run needs longer"
	e.log.Error("run stopped at max_duration", "max_duration", e.p.Run.MaxDuration.String(), "not_started", n, "listing_finished", listErr == nil)
}

// queued hands the indexes received from in to the returned channel in
// order, holding any number of them, so the listing never waits for a free
// worker. The returned channel closes when in is closed and drained, or at
// once when ctx ends (items not handed out then stay not started).
func queued(ctx context.Context, in <-chan int) <-chan int {
	out := make(chan int)
	go func() {
		defer close(out)
		var pending []int
		for in != nil || len(pending) > 0 {
			var send chan<- int
			next := -1
			if len(pending) > 0 {
				send, next = out, pending[0]
			}
			select {
			case i, ok := <-in:
				if !ok {
					in = nil
					continue
				}
				pending = append(pending, i)
			case send <- next:
				pending = pending[1:]
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// setupSinks builds each sink's paths and preflights them all in parallel.
func (e *engine) setupSinks(ctx context.Context) error {
	limit := 0 // the strictest sink's limit, so every sink's paths fit everywhere a restore may go
	for _, s := range e.o.Sinks {
		if m := s.Features.MaxPathLength; m > 0 && (limit == 0 || m < limit) {
			limit = m
		}
	}
	var errs []error
	for i, s := range e.o.Sinks {
		layout, err := objectpath.ParseLayout(s.Block.Layout)
		if err != nil {
			errs = append(errs, fmt.Errorf("sink %q (%s): %w", s.Block.Name, s.Block.DeclRange, err))
			continue
		}
		st := &sinkState{Sink: s, name: s.Block.Name, idx: i, builder: objectpath.NewBuilder(e.rep.RunFolder, layout, limit), alive: true, inner: s.Sink, out: s.Sink}
		rs := report.Sink{
			Name: s.Block.Name, Type: s.Block.Type, Location: s.Features.Location, Required: s.Block.Required,
			Layout: string(layout), Outcome: "ok", RunPath: joinLocation(s.Features.Location, e.rep.RunFolder), MaxPath: st.builder.MaxPathLength(),
		}
		if s.Block.Zip && !e.o.DryRun {
			st.zip = e.zipSink(s.Sink)
			st.out = st.zip
			rs.Archive = st.zip.ArchivePath()
			rs.RunPath = joinLocation(s.Features.Location, rs.Archive)
		}
		e.sinks = append(e.sinks, st)
		e.rep.Sinks = append(e.rep.Sinks, rs)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if e.o.DryRun {
		return nil
	}
	perr := make([]error, len(e.sinks))
	var wg sync.WaitGroup
	for i, s := range e.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			perr[i] = e.policy.Do(ctx, func(ctx context.Context, _ int) error { return s.out.Preflight(ctx) })
		}()
	}
	wg.Wait()
	for i, s := range e.sinks {
		err := perr[i]
		if err == nil {
			e.log.Info("sink ready", "sink", s.name, "type", s.Block.Type, "location", s.Features.Location)
			continue
		}
		if sdk.KindOf(err) == sdk.KindCanceled {
			return err
		}
		s.alive = false
		rs := &e.rep.Sinks[i]
		rs.Outcome, rs.Error = "failed", err.Error()
		msg := fmt.Sprintf("sink %q (%s at %s) failed its preflight: %v", s.name, s.Block.Type, s.Block.DeclRange, err)
		if s.Block.Required {
			errs = append(errs, withKind(err, msg+" — fix the sink's settings or credentials, or set required = false to run without it"))
		} else {
			e.warn(msg + "; the run goes on without it because it has required = false")
		}
	}
	return errors.Join(errs...)
}

// withKind keeps err's classification (kind, reason) under a better message.
func withKind(err error, msg string) error {
	return &sdk.Error{Kind: sdk.KindOf(err), Err: errors.New(msg), RetryAfter: sdk.RetryAfterOf(err), Reason: sdk.ReasonOf(err), Exhausted: sdk.IsExhausted(err)}
}

func (e *engine) connect(ctx context.Context) error {
	var org sdk.OrgInfo
	err := e.policy.Do(ctx, func(ctx context.Context, _ int) error {
		var err error
		org, err = e.o.Source.Connect(ctx)
		return err
	})
	if err != nil {
		where := ""
		if c := e.p.Source; c != nil {
			where = fmt.Sprintf(" %q (%s)", c.Name, c.DeclRange)
		}
		return withKind(err, fmt.Sprintf("source%s could not connect: %v", where, err))
	}
	e.org = org
	e.rep.Source.PortalURL, e.rep.Source.OrgID, e.rep.Source.OrgName = org.PortalURL, org.OrgID, org.OrgName
	e.rep.Source.Mode, e.rep.Source.Username, e.rep.Source.ItemCount = org.Mode, org.Username, org.ItemCount
	e.rep.Source.Admin = org.IsAdmin
	for _, w := range org.Warnings {
		e.warn("source: " + w)
	}
	e.log.Info("connected", "portal", org.PortalURL, "org", org.OrgName, "user", org.Username, "admin", org.IsAdmin)
	return nil
}

// list records every item the source reports and decides which to export.
// When export is set it is called, from the listing goroutine, with the
// index in rep.Items of each item to export as soon as it is listed; an
// error it returns stops the listing. rep.Items grows under e.mu, as
// workers may be reading and writing it meanwhile.
func (e *engine) list(ctx context.Context, export func(int) error) ([]int, error) {
	req := sdk.ListItemsRequest{}
	if e.rep.ModifiedSince != nil {
		// The window the manifest records, from the run's start.
		req.Since = *e.rep.ModifiedSince
		// Items earlier runs missed are changed whatever their dates.
		req.Retry = e.retryIDs()
	}
	var todo []int
	// Sized from the portal's own count: growing by doubling to 100,000
	// items kept the old and the new array (tens of MB) alive at the peak.
	n := 0
	if c := e.rep.Source.ItemCount; c > 0 && c < 10_000_000 {
		n = int(c) + int(c)/50
	}
	e.mu.Lock()
	e.rep.Items = slices.Grow(e.rep.Items, n)
	e.listed = map[string]sdk.Item{}
	e.mu.Unlock()
	seen := make(map[string]bool, n)
	// Exports start while the listing goes on, so the listing can meet the
	// temporary items this run's exporters create and delete; they are not
	// the organization's content. The source leaves out items with
	// agolpipe's mark; this catches one of this run's between its creation
	// and its mark: an export result titled with this run's own id, which
	// no earlier item can be. It is only left out of the listing, never
	// deleted on that ground.
	ownTemp := sdk.TempExportTitle(e.rep.RunID, "")
	temps := 0
	err := e.policy.Do(ctx, func(ctx context.Context, attempt int) error {
		// A retried listing starts over; keep what the first pass found.
		return e.o.Source.ListItems(ctx, req, func(li sdk.ListedItem) error {
			if seen[li.Item.ID] {
				return nil
			}
			seen[li.Item.ID] = true
			if strings.HasPrefix(li.Item.Title, ownTemp) && sdk.IsTempExportType(li.Item.Type) {
				temps++
				return nil
			}
			it := itemRecord(li.Item)
			toExport := false
			switch ex, ok := e.o.Exporters[li.Item.Type]; {
			case li.Excluded:
				it.Status, it.Reason = sdk.StatusExcluded, li.Reason
			case ok && ex.Skip:
				it.Status, it.Reason = sdk.StatusExcluded, fmt.Sprintf("item type turned off by export %q { skip = true }", li.Item.Type)
			case !ok:
				it.Status, it.Reason = sdk.StatusSkipped, fmt.Sprintf("no exporter handles item type %q; add an export %q block naming one", li.Item.Type, li.Item.Type)
			default:
				it.Exporter, it.Format = ex.Name, ex.Format
				toExport = true
			}
			e.mu.Lock()
			i := len(e.rep.Items)
			e.rep.Items = append(e.rep.Items, it)
			// Only items to export are kept whole, and only when they
			// will be: the item JSON as listed (Raw) is half the memory
			// of a listing, and a 100,000-item plan or a run leaving most
			// types out does not need it.
			if toExport && !e.o.DryRun {
				e.listed[li.Item.ID] = li.Item
			}
			e.mu.Unlock()
			if !toExport {
				return nil
			}
			todo = append(todo, i)
			e.emit(Event{Type: EventQueued, Total: len(todo)})
			if export != nil {
				return export(i)
			}
			return nil
		})
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, sdk.Classify(sdk.KindCanceled, ctx.Err())
		}
		return nil, withKind(err, "listing items: "+err.Error())
	}
	// Reverse dependencies need every item; only the reports read them,
	// so they are computed now, while workers may be exporting.
	e.mu.Lock()
	e.reverseDependencies()
	n = len(e.rep.Items)
	e.mu.Unlock()
	e.listWarnings()
	e.log.Info("items listed", "discovered", n, "to_export", len(todo), "own_temporary_items_left_out", temps)
	e.emit(Event{Type: EventListed, Total: len(todo)})
	return todo, nil
}

func itemRecord(i sdk.Item) report.Item {
	return report.Item{ID: i.ID, Title: i.Title, Type: i.Type, Owner: i.Owner, Folder: i.FolderTitle,
		Created: i.Created.UTC(), Modified: i.Modified.UTC(), Access: i.Access, Size: i.Size, Dependencies: i.Dependencies}
}

// fatal ends a run that could not do its work. Reports go to the sinks that
// passed preflight only when exporting could have started (wrote=true).
func (e *engine) fatal(ctx context.Context, err error, writeReports bool) (*report.Run, error) {
	e.log.Error("run stopped", "error", err)
	if sdk.KindOf(err) == sdk.KindCanceled || ctx.Err() != nil {
		return e.finish(ctx, err)
	}
	e.rep.Error = err.Error()
	e.rep.Status = report.StatusFailed
	e.rep.ExitCode = ExitPartial
	switch sdk.KindOf(err) {
	case sdk.KindAuth, sdk.KindPermanent, sdk.KindNotFound:
		// Credentials, paths and settings: the pipeline needs a change.
		e.rep.ExitCode = ExitUsage
	}
	e.rep.Finished = e.now().UTC()
	e.settleZips()
	e.count()
	e.saveRetry(e.listedAll)
	if writeReports && !e.o.DryRun {
		e.writeReports(ctx)
	}
	if !e.o.DryRun {
		e.notify(ctx)
	}
	return e.rep, err
}

// finish settles the status, writes the reports and notifies.
func (e *engine) finish(ctx context.Context, cause error) (*report.Run, error) {
	e.scan.Wait()
	for i := range e.rep.Items {
		if e.rep.Items[i].Status == "" {
			e.rep.Items[i].Status = report.ItemCanceled
			e.rep.Items[i].Reason = "not started: the run was cancelled"
		}
	}
	e.rep.Finished = e.now().UTC()
	e.settleZips()
	e.count()
	c := e.rep.Counts
	requiredMissed := false
	for i := range e.rep.Sinks {
		rs := &e.rep.Sinks[i]
		if e.sinks[i].down != nil && rs.Missed == 0 {
			// Full before any artifact could be recorded against it (the
			// items failed): never "ok".
			rs.Outcome = "failed"
			if rs.Stored > 0 {
				rs.Outcome = "incomplete"
			}
			if rs.Required {
				requiredMissed = true
			}
		}
		if rs.Missed > 0 && e.sinks[i].alive {
			rs.Outcome = "incomplete"
			if rs.Stored == 0 {
				rs.Outcome = "failed"
			}
			if rs.Required {
				requiredMissed = true
			} else {
				e.warn(fmt.Sprintf("sink %q (optional) missed %d artifact(s)", rs.Name, rs.Missed))
			}
		}
	}
	var err error
	switch {
	case ctx.Err() != nil || sdk.KindOf(cause) == sdk.KindCanceled:
		e.rep.Status, e.rep.ExitCode = report.StatusCanceled, ExitCanceled
		err = sdk.Classify(sdk.KindCanceled, context.Canceled)
		e.rep.Error = "the run was cancelled; the reports cover the items that finished"
	case c.Failed > 0 && c.Exported+c.Partial == 0 || e.overran && c.Exported+c.Partial == 0:
		e.rep.Status, e.rep.ExitCode = report.StatusFailed, ExitPartial
	case c.Failed > 0 || c.Partial > 0 || requiredMissed || e.overran:
		e.rep.Status, e.rep.ExitCode = report.StatusPartial, ExitPartial
	default:
		e.rep.Status, e.rep.ExitCode = report.StatusSuccess, ExitOK
	}
	e.saveRetry(e.listedAll)
	if !e.writeReports(ctx) && e.rep.ExitCode == ExitOK {
		// A required sink without its manifest cannot be verified or
		// restored from: never a success. (Results.txt already says success
		// in the sinks that got it; the exit code and notifications do not.)
		e.rep.Status, e.rep.ExitCode = report.StatusPartial, ExitPartial
	}
	e.verifyCopies(ctx)
	e.applyRetention(ctx)
	e.log.Info("run finished", "status", e.rep.Status, "exit_code", e.rep.ExitCode, "duration", e.rep.Duration().String())
	e.notify(ctx)
	return e.rep, err
}

// count fills the counts and the per-sink tallies from the records.
func (e *engine) count() {
	c := report.Counts{Discovered: len(e.rep.Items)}
	for _, it := range e.rep.Items {
		switch it.Status {
		case sdk.StatusExported:
			c.Exported++
		case sdk.StatusPartial:
			c.Partial++
		case sdk.StatusFailed:
			c.Failed++
		case sdk.StatusSkipped:
			c.Skipped++
		case sdk.StatusExcluded:
			c.Excluded++
		case report.ItemCanceled:
			c.Canceled++
		}
	}
	for i := range e.rep.Sinks {
		e.rep.Sinks[i].Stored, e.rep.Sinks[i].Missed, e.rep.Sinks[i].Bytes = 0, 0, 0
	}
	byName := map[string]*report.Sink{}
	for i := range e.rep.Sinks {
		byName[e.rep.Sinks[i].Name] = &e.rep.Sinks[i]
	}
	for _, a := range e.rep.Artifacts {
		c.Artifacts++
		c.Bytes += a.Size
		for _, o := range a.Sinks {
			if s := byName[o.Sink]; s != nil {
				if o.Status == report.Stored {
					s.Stored++
					s.Bytes += a.Size
				} else {
					s.Missed++
				}
			}
		}
	}
	e.rep.Counts = c
}

func (e *engine) warn(msg string) {
	e.mu.Lock()
	e.rep.Warnings = append(e.rep.Warnings, msg)
	e.mu.Unlock()
	e.log.Warn(msg)
}

func joinLocation(loc, folder string) string {
	if loc == "" {
		return folder
	}
	sep := "/"
	if len(loc) > 0 && (loc[len(loc)-1] == '/' || loc[len(loc)-1] == '\\') {
		sep = ""
	} else if len(loc) > 2 && (loc[1] == ':' || loc[:2] == `\\`) {
		sep = `\`
	}
	return loc + sep + folder
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
