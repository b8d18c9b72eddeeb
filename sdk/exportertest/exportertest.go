// Package exportertest is the contract suite every agolpipe exporter runs,
// the exporter's counterpart of sdk/sinktest. An exporter needs a portal to
// export from, so the caller brings a Host (for the built-ins and for an
// outside author alike, a Host whose Portal reaches the simulated org
// through a signed-in arcgis source: plugins/exporters/simhost.Start)
// and the requests to export:
//
//	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5})
//	exportertest.Run(t, myexporter.New, exportertest.Options{
//		Host:     env.Host,
//		Requests: []sdk.ExportRequest{env.Request(someItem)},
//	})
//
// Run runs every check twice, as the subtests "in-process" and "grpc" (the
// exporter served through sdk/grpcplugin's real adapters inside the test,
// its Host travelling over go-plugin's broker, the road every run takes).
// Over gRPC the client adapter itself returns when the context ends and
// lets no write reach the host once Export returned, so an exporter's own
// handling of cancellation and late writes shows in the in-process pass.
//
// It checks the parts of sdk.Exporter's contract every exporter shares,
// whatever it exports: a result is a final status, and a partial, skipped,
// excluded or failed one carries a Reason; artifacts are written one after
// the other, with names unique within the item and free of path
// separators, and a body as long as the size it declared; nothing is
// written after Export returned; a cancelled context is honoured promptly
// (cancelled before the start, while an artifact is being written, and
// while a portal request hangs) with an error of kind canceled; and a
// portal that refuses one of the requests gives a failed or a degraded
// export, never a hang or a result that breaks these rules. What an
// exporter saves is its own tests' business.
package exportertest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

// Names of the checks, usable as keys of Options.KnownGaps.
const (
	CheckExport                   = "Export"
	CheckFaultyPortal             = "FaultyPortal"
	CheckCanceledBefore           = "CanceledBefore"
	CheckCanceledWhileWriting     = "CanceledWhileWriting"
	CheckCanceledWhilePortalHangs = "CanceledWhilePortalHangs"
	CheckCloseIdempotent          = "CloseIdempotent"
)

const (
	defaultHangLimit = 10 * time.Second
	// cancelAfter is how long a portal request hangs before the check
	// cancels the export.
	cancelAfter = 300 * time.Millisecond
	// lateWriteWait is how long a check waits after Export returned for a
	// Write from a goroutine the exporter left behind.
	lateWriteWait       = 200 * time.Millisecond
	errRefusedOnPurpose = "exportertest: the portal refused this request on purpose"
)

// Checks lists every check Run performs, in order.
var Checks = []string{
	CheckExport, CheckFaultyPortal, CheckCanceledBefore, CheckCanceledWhileWriting,
	CheckCanceledWhilePortalHangs, CheckCloseIdempotent,
}

// Options say how to run the exporter under test.
type Options struct {
	// Host gives the exporter its portal (required).
	Host sdk.Host
	// Requests are the exports to run: items of the org behind Host that
	// this exporter handles, with RunID and Org set as the engine sets
	// them (required, at least one). Keep them few and small: each check
	// exports each of them.
	Requests []sdk.ExportRequest
	// Config holds the attributes of the exporter's configuration; the
	// others are null, as when an export block leaves them out.
	Config map[string]cty.Value
	// HangLimit is how long a cancelled Export may take to return before
	// the suite calls it a hang (default 10 s). It is a deadlock detector,
	// not a speed target.
	HangLimit time.Duration
	// KnownGaps maps a check name to the reason the exporter cannot pass
	// it; such checks are skipped with that reason. A name that matches no
	// check fails the run.
	KnownGaps map[string]string
}

// Run runs every contract check against exporters made by newExporter, in
// this process and over gRPC. Each check configures a fresh exporter from
// opts.Config and closes it.
func Run(t *testing.T, newExporter func() sdk.Exporter, opts Options) {
	t.Helper()
	if opts.Host == nil || len(opts.Requests) == 0 {
		t.Fatal("exportertest: Options.Host and at least one Options.Requests entry are required")
	}
	if opts.HangLimit <= 0 {
		opts.HangLimit = defaultHangLimit
	}
	for name := range opts.KnownGaps {
		if !contains(Checks, name) {
			t.Errorf("exportertest: KnownGaps names %q, which is not a check (checks: %s)", name, strings.Join(Checks, ", "))
		}
	}
	t.Run("in-process", func(t *testing.T) { runChecks(t, func(*testing.T) sdk.Exporter { return newExporter() }, opts) })
	t.Run("grpc", func(t *testing.T) {
		runChecks(t, func(t *testing.T) sdk.Exporter { return grpctest.Exporter(t, newExporter()) }, opts)
	})
}

type suite struct {
	newExporter func(t *testing.T) sdk.Exporter
	opts        Options
}

func runChecks(t *testing.T, newExporter func(t *testing.T) sdk.Exporter, opts Options) {
	s := &suite{newExporter: newExporter, opts: opts}
	checks := map[string]func(t *testing.T){
		CheckExport:                   s.export,
		CheckFaultyPortal:             s.faultyPortal,
		CheckCanceledBefore:           s.canceledBefore,
		CheckCanceledWhileWriting:     s.canceledWhileWriting,
		CheckCanceledWhilePortalHangs: s.canceledWhilePortalHangs,
		CheckCloseIdempotent:          s.closeIdempotent,
	}
	for _, name := range Checks {
		t.Run(name, func(t *testing.T) {
			if reason, ok := opts.KnownGaps[name]; ok {
				t.Skipf("known gap of this exporter: %s", reason)
			}
			checks[name](t)
		})
	}
}

// configured returns a configured exporter, closed when the check ends.
func (s *suite) configured(t *testing.T) sdk.Exporter {
	t.Helper()
	e := s.newExporter(t)
	cfg, err := e.Schema().ConfigValue(s.opts.Config)
	if err != nil {
		t.Fatalf("exportertest: configuration: %v", err)
	}
	if d := e.Configure(context.Background(), sdk.ConfigureRequest{Config: cfg}); d.HasErrors() {
		t.Fatalf("Configure: %v", d.Err())
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// outcome is what one Export call did.
type outcome struct {
	req  sdk.ExportRequest
	res  sdk.ExportResult
	err  error
	took time.Duration
	w    *writer
}

func (o outcome) what() string {
	return fmt.Sprintf("Export of %s %q (%s)", o.req.Item.ID, o.req.Item.Title, o.req.Item.Type)
}

// export runs one Export with a fresh contract-checking writer and marks
// the writer closed when Export returns, so a later Write is caught.
func export(ctx context.Context, e sdk.Exporter, req sdk.ExportRequest, host sdk.Host, hook func(w *writer)) outcome {
	w := &writer{names: map[string]bool{}, hook: hook}
	start := time.Now()
	res, err := e.Export(ctx, req, host, w)
	w.close()
	return outcome{req: req, res: res, err: err, took: time.Since(start), w: w}
}

// checkRules reports every broken rule of o that holds whatever happened:
// a final status with its reason, and the writer's findings.
func checkRules(t *testing.T, o outcome) {
	t.Helper()
	if o.err == nil {
		switch o.res.Status {
		case sdk.StatusExported:
		case sdk.StatusPartial, sdk.StatusSkipped, sdk.StatusExcluded, sdk.StatusFailed:
			if strings.TrimSpace(o.res.Reason) == "" {
				t.Errorf("%s: status %s without a Reason; say what is missing or why, in words a GIS administrator understands", o.what(), o.res.Status)
			}
		case sdk.StatusDeferred:
			if o.req.Timeout == 0 {
				t.Errorf("%s: deferred although the request set no timeout", o.what())
			}
		default:
			t.Errorf("%s: unknown status %q", o.what(), o.res.Status)
		}
	}
	for _, v := range o.w.findings() {
		t.Errorf("%s: %s", o.what(), v)
	}
}

// lateWrites waits briefly and reports a Write that came after Export
// returned (a goroutine the exporter left behind).
func lateWrites(t *testing.T, outs []outcome) {
	t.Helper()
	time.Sleep(lateWriteWait)
	for _, o := range outs {
		if n := o.w.late(); n > 0 {
			t.Errorf("%s: %d Write call(s) after Export returned", o.what(), n)
		}
	}
}

func (s *suite) export(t *testing.T) {
	e := s.configured(t)
	var outs []outcome
	for _, req := range s.opts.Requests {
		o := export(context.Background(), e, req, s.opts.Host, nil)
		outs = append(outs, o)
		checkRules(t, o)
		if o.err == nil && o.res.Status == sdk.StatusExported && o.w.count() == 0 {
			t.Errorf("%s: exported without writing an artifact", o.what())
		}
		t.Logf("%s: %s %v, %d artifacts, %v", o.what(), o.res.Status, o.err, o.w.count(), o.took.Round(time.Millisecond))
	}
	lateWrites(t, outs)
}

func (s *suite) faultyPortal(t *testing.T) {
	e := s.configured(t)
	var outs []outcome
	for _, req := range s.opts.Requests {
		// Count the portal requests of a clean export, then refuse one of
		// them as not found (the answer of a portal whose item changed
		// under the export): the second, one in the middle and the last,
		// where the optional parts (thumbnail, metadata, resources) tend
		// to be fetched and a partial result is the right answer.
		counter := &faultyHost{Host: s.opts.Host}
		clean := export(context.Background(), e, req, counter, nil)
		outs = append(outs, clean)
		n := counter.calls()
		seen := map[int]bool{}
		for _, at := range []int{2, (n + 1) / 2, n} {
			if at < 1 || at > n || seen[at] {
				continue
			}
			seen[at] = true
			h := &faultyHost{Host: s.opts.Host, refuseAt: at}
			o := exportWithin(t, s.opts.HangLimit*3, func() outcome { return export(context.Background(), e, req, h, nil) })
			outs = append(outs, o)
			checkRules(t, o)
			t.Logf("%s with portal request %d of %d refused: %s %q %v", o.what(), at, n, o.res.Status, o.res.Reason, o.err)
		}
	}
	lateWrites(t, outs)
}

func (s *suite) canceledBefore(t *testing.T) {
	e := s.configured(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := s.opts.Requests[0]
	o := exportWithin(t, s.opts.HangLimit, func() outcome { return export(ctx, e, req, s.opts.Host, nil) })
	checkRules(t, o)
	wantCanceled(t, o)
	if n := o.w.count(); n > 0 {
		t.Errorf("%s with a context cancelled before the start wrote %d artifact(s)", o.what(), n)
	}
	lateWrites(t, []outcome{o})
}

func (s *suite) canceledWhileWriting(t *testing.T) {
	e := s.configured(t)
	wrote := false
	var outs []outcome
	for _, req := range s.opts.Requests {
		ctx, cancel := context.WithCancel(context.Background())
		o := exportWithin(t, s.opts.HangLimit*3, func() outcome {
			return export(ctx, e, req, s.opts.Host, func(*writer) { cancel() })
		})
		cancel()
		outs = append(outs, o)
		checkRules(t, o)
		if o.w.count() == 0 && !o.w.hooked() {
			continue // this item writes nothing, so there is nothing to interrupt
		}
		wrote = true
		wantCanceled(t, o)
	}
	lateWrites(t, outs)
	if !wrote {
		t.Skip("no request wrote an artifact; give Options.Requests one that does")
	}
}

func (s *suite) canceledWhilePortalHangs(t *testing.T) {
	e := s.configured(t)
	req := s.opts.Requests[0]
	h := &hangingHost{Host: s.opts.Host, hung: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.hung:
			time.Sleep(cancelAfter)
			cancel()
		case <-ctx.Done():
		}
	}()
	o := exportWithin(t, s.opts.HangLimit+cancelAfter, func() outcome { return export(ctx, e, req, h, nil) })
	select {
	case <-h.hung:
	default:
		t.Skipf("%s made no portal request", o.what())
	}
	checkRules(t, o)
	wantCanceled(t, o)
	lateWrites(t, []outcome{o})
}

func (s *suite) closeIdempotent(t *testing.T) {
	e := s.newExporter(t)
	if err := e.Close(); err != nil {
		t.Errorf("Close of an unconfigured exporter: %v", err)
	}
	e = s.newExporter(t)
	cfg, err := e.Schema().ConfigValue(s.opts.Config)
	if err != nil {
		t.Fatalf("exportertest: configuration: %v", err)
	}
	if d := e.Configure(context.Background(), sdk.ConfigureRequest{Config: cfg}); d.HasErrors() {
		t.Fatalf("Configure: %v", d.Err())
	}
	for i := range 2 {
		if err := e.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
}

// exportWithin runs f and fails the test when it has not returned within
// limit: an exporter that does not honour its context hangs the run.
func exportWithin(t *testing.T, limit time.Duration, f func() outcome) outcome {
	t.Helper()
	done := make(chan outcome, 1)
	go func() { done <- f() }()
	select {
	case o := <-done:
		return o
	case <-time.After(limit):
		t.Fatalf("Export did not return within %v", limit)
		return outcome{}
	}
}

// wantCanceled fails unless o failed with an error of kind canceled: a
// cancelled export is neither a success nor a failure of the item.
func wantCanceled(t *testing.T, o outcome) {
	t.Helper()
	if o.err == nil {
		t.Errorf("%s: context cancelled, yet Export returned no error (status %s)", o.what(), o.res.Status)
		return
	}
	if k := sdk.KindOf(o.err); k != sdk.KindCanceled {
		t.Errorf("%s: context cancelled, error kind %v, want canceled: %v", o.what(), k, o.err)
	}
}

// writer is the ArtifactWriter of one Export: it reads each body to the
// end, like a sink, and notes every broken rule.
type writer struct {
	mu       sync.Mutex
	names    map[string]bool
	active   int
	done     bool
	written  int
	after    int
	problems []string
	hook     func(w *writer)
	hookRan  bool
}

func (w *writer) Write(ctx context.Context, a sdk.Artifact, body io.Reader) error {
	w.mu.Lock()
	if w.done {
		w.after++
		w.mu.Unlock()
		return sdk.Permanent("exportertest: Write of %s after Export returned", a.Name)
	}
	if w.active > 0 {
		w.problems = append(w.problems, fmt.Sprintf("Write of %q while another Write was in progress; artifacts are written one after the other", a.Name))
	}
	switch {
	case a.Name == "":
		w.problems = append(w.problems, "an artifact without a name")
	case strings.ContainsAny(a.Name, `/\`):
		w.problems = append(w.problems, fmt.Sprintf("artifact name %q contains a path separator", a.Name))
	case w.names[a.Name]:
		w.problems = append(w.problems, fmt.Sprintf("artifact name %q written twice in one Export; names must be unique within the item", a.Name))
	}
	w.names[a.Name] = true
	w.active++
	hook := w.hook
	if hook != nil && w.hookRan {
		hook = nil
	}
	w.hookRan = w.hookRan || hook != nil
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.active--
		w.mu.Unlock()
	}()

	h := sha256.New()
	if hook != nil {
		// Read a little, then stop the run the way a user's Ctrl-C does
		// mid-artifact: the context ends and the write fails with it.
		if _, err := io.CopyN(h, body, 1024); err != nil && err != io.EOF {
			return err
		}
		hook(w)
		<-ctx.Done()
		return ctx.Err()
	}
	n, err := io.Copy(h, body)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return err
	}
	if a.Size >= 0 && n != a.Size {
		w.mu.Lock()
		w.problems = append(w.problems, fmt.Sprintf("artifact %q declared %d bytes, its body had %d", a.Name, a.Size, n))
		w.mu.Unlock()
		return sdk.Permanent("artifact %s declared %d bytes, body had %d", a.Name, a.Size, n)
	}
	w.mu.Lock()
	w.written++
	w.mu.Unlock()
	return nil
}

func (w *writer) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

func (w *writer) hooked() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hookRan
}

func (w *writer) late() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.after
}

func (w *writer) findings() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.problems...)
}

// faultyHost counts portal requests and refuses the refuseAt-th (from 1;
// 0 refuses none) with a not-found error.
type faultyHost struct {
	sdk.Host
	refuseAt int
	mu       sync.Mutex
	n        int
}

func (h *faultyHost) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	h.mu.Lock()
	h.n++
	refuse := h.n == h.refuseAt
	h.mu.Unlock()
	if refuse {
		return nil, sdk.NotFound("%s", errRefusedOnPurpose)
	}
	return h.Host.Portal(ctx, req)
}

func (h *faultyHost) calls() int { h.mu.Lock(); defer h.mu.Unlock(); return h.n }

// hangingHost answers the first portal request only when its context
// ends, like a portal that accepted the connection and went silent.
type hangingHost struct {
	sdk.Host
	once sync.Once
	hung chan struct{}
}

func (h *hangingHost) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	first := false
	h.once.Do(func() { first = true })
	if !first {
		return h.Host.Portal(ctx, req)
	}
	close(h.hung)
	<-ctx.Done()
	return nil, sdk.Classify(sdk.KindCanceled, ctx.Err())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
