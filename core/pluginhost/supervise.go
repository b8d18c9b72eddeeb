package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
)

// restartTimeout bounds starting and re-configuring a crashed plugin.
const restartTimeout = 2 * time.Minute

// supervisor owns the process behind one component of type T (sdk.Sink,
// sdk.Source, ...) and restarts it when it crashes. gen counts processes,
// so that calls that fail together restart the plugin once.
type supervisor[T any] struct {
	h *Host
	c *component
	// dispense gets the component's client from a started plugin
	// (Plugin.Sink, Plugin.Source, ...).
	dispense func(Plugin) (T, error)

	mu     sync.Mutex
	v      T
	p      Plugin // nil until started
	gen    int
	replay []func(ctx context.Context, v T) error
	closed bool
	// stopped is set when a restart was refused because the plugin's
	// binary no longer matches its recorded checksum: the plugin is not
	// started again in this run, and every later call fails with it at
	// once (it used to be retried as a crash thousands of times).
	stopped error

	// pending is set for a component started on demand (ExporterOnDemand)
	// until its first call starts it with startCtx and the steps in
	// replay; startErr is why that start failed, for good.
	pending  bool
	startCtx context.Context
	startErr error
}

// supervise starts the component kind/name and supervises it.
func supervise[T any](ctx context.Context, h *Host, kind sdk.Kind, name string, dispense func(Plugin) (T, error)) (*supervisor[T], error) {
	c, err := h.lookup(kind, name)
	if err != nil {
		return nil, err
	}
	s := &supervisor[T]{h: h, c: c, dispense: dispense}
	v, p, err := s.launch(ctx)
	if err != nil {
		return nil, err
	}
	s.v, s.p = v, p
	return s, nil
}

// superviseOnDemand is supervise without starting the process: start
// starts it, once, and runs configure on it.
func superviseOnDemand[T any](ctx context.Context, h *Host, kind sdk.Kind, name string, dispense func(Plugin) (T, error), configure func(ctx context.Context, v T) error) (*supervisor[T], error) {
	c, err := h.lookup(kind, name)
	if err != nil {
		return nil, err
	}
	return &supervisor[T]{h: h, c: c, dispense: dispense, pending: true, startCtx: ctx, replay: []func(context.Context, T) error{configure}}, nil
}

// launch starts a process for the component and gets its client.
func (s *supervisor[T]) launch(ctx context.Context) (T, Plugin, error) {
	var zero T
	p, err := s.h.launch(ctx, s.c)
	if err != nil {
		return zero, nil, err
	}
	v, err := s.dispense(p)
	if err != nil {
		s.h.forget(p)
		return zero, nil, err
	}
	return v, p, nil
}

// start starts a component supervised on demand, the first time it is
// called; later calls return the first one's outcome. Concurrent callers
// wait for the one start.
func (s *supervisor[T]) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pending {
		return s.startErr
	}
	s.pending = false
	if s.closed {
		s.startErr = sdk.Classify(sdk.KindCanceled, fmt.Errorf("cannot start %s %q: it was closed before its first use", s.c.Kind, s.c.Name))
		return s.startErr
	}
	v, p, err := s.launch(s.startCtx)
	if err == nil {
		for _, step := range s.replay {
			if err = step(s.startCtx, v); err != nil {
				s.h.forget(p)
				break
			}
		}
	}
	if err != nil {
		s.startErr = err
		return err
	}
	s.v, s.p = v, p
	return nil
}

// running returns the component when its process was started.
func (s *supervisor[T]) running() (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v, s.p != nil
}

func (s *supervisor[T]) current() (T, Plugin, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v, s.p, s.gen
}

// remember adds a step to redo on a restarted process (Configure, Connect).
func (s *supervisor[T]) remember(step func(ctx context.Context, v T) error) {
	s.mu.Lock()
	s.replay = append(s.replay, step)
	s.mu.Unlock()
}

// crashed reports whether err means the plugin process is gone rather than
// the component returning an error.
func crashed(err error, p Plugin) bool {
	return err != nil && (errors.Is(err, grpcplugin.ErrUnreachable) || p.Exited())
}

// check passes err through, unless the plugin died during the call: then it
// restarts the plugin and returns a retryable error that names the plugin
// and what was in flight, so the engine retries the item on the new process.
func (s *supervisor[T]) check(err error, p Plugin, gen int, what string) error {
	if !crashed(err, p) {
		return err
	}
	where := pathOf(s.c, s.h.exe)
	s.mu.Lock()
	if s.stopped != nil {
		stopped := s.stopped
		s.mu.Unlock()
		return &sdk.Error{Kind: sdk.KindPermanent, Err: fmt.Errorf("%s plugin %q (%s) is stopped for the rest of the run, so nothing was done while %s: %w", s.c.Kind, s.c.Name, where, what, stopped)}
	}
	var restartErr error
	if s.gen == gen && !s.closed {
		s.h.logger.Error("plugin crashed; restarting it", "kind", s.c.Kind, "name", s.c.Name, "path", where, "while", what)
		s.h.forget(p)
		ctx, cancel := context.WithTimeout(context.Background(), restartTimeout)
		v, np, lerr := s.launch(ctx)
		if lerr == nil {
			for _, step := range s.replay {
				if lerr = step(ctx, v); lerr != nil {
					np.Kill()
					break
				}
			}
		}
		cancel()
		if lerr != nil {
			restartErr = lerr
		} else {
			s.v, s.p = v, np
			s.gen++
		}
		if errors.Is(lerr, grpcplugin.ErrChecksumMismatch) {
			// Refused once, for good: the file changed under the run, and
			// trying again only repeats the refusal (or, worse, runs a
			// binary nobody vetted once it matches by accident).
			s.stopped = lerr
			s.h.logger.Error("plugin restart refused: its binary changed during the run; it is not used for the rest of the run",
				"kind", s.c.Kind, "name", s.c.Name, "path", where, "error", lerr)
		}
	} else if s.stopped != nil {
		restartErr = s.stopped // another call's restart was refused meanwhile
	}
	stopped := s.stopped
	s.mu.Unlock()
	msg := fmt.Sprintf("%s plugin %q (%s) crashed while %s", s.c.Kind, s.c.Name, where, what)
	if stopped != nil {
		return &sdk.Error{Kind: sdk.KindPermanent, Err: fmt.Errorf("%s; it was not restarted and is not used for the rest of the run: %w", msg, stopped)}
	}
	if restartErr != nil {
		msg += fmt.Sprintf("; restarting it failed: %v", restartErr)
	} else {
		msg += "; it was restarted"
	}
	return &sdk.Error{Kind: sdk.KindRetryable, Err: fmt.Errorf("%s: %w", msg, err)}
}

// close closes the component and stops its process.
func (s *supervisor[T]) close(closeFn func(v T) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.p == nil {
		return nil // supervised on demand and never started
	}
	err := closeFn(s.v)
	if crashed(err, s.p) {
		err = nil // nothing left to close
	}
	s.h.forget(s.p)
	return err
}

// Sink starts the sink called name and returns it, supervised.
func (h *Host) Sink(ctx context.Context, name string) (sdk.Sink, error) {
	s, err := supervise(ctx, h, sdk.KindSink, name, Plugin.Sink)
	if err != nil {
		return nil, err
	}
	return &sink{s}, nil
}

type sink struct{ s *supervisor[sdk.Sink] }

func (x *sink) cur() (sdk.Sink, Plugin, int) { return x.s.current() }

func (x *sink) Info() sdk.Info     { v, _, _ := x.cur(); return v.Info() }
func (x *sink) Schema() sdk.Schema { v, _, _ := x.cur(); return v.Schema() }

func (x *sink) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	v, _, _ := x.cur()
	resp, diags := v.Configure(ctx, req)
	if !diags.HasErrors() {
		x.s.remember(func(ctx context.Context, v sdk.Sink) error {
			_, d := v.Configure(ctx, req)
			return d.Err()
		})
	}
	return resp, diags
}

func (x *sink) Preflight(ctx context.Context) error {
	v, p, g := x.cur()
	return x.s.check(v.Preflight(ctx), p, g, "checking the sink (preflight)")
}

func (x *sink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	v, p, g := x.cur()
	resp, err := v.Put(ctx, req)
	return resp, x.s.check(err, p, g, "storing "+req.Path)
}

func (x *sink) Stat(ctx context.Context, path string) (sdk.ObjectInfo, error) {
	v, p, g := x.cur()
	o, err := v.Stat(ctx, path)
	return o, x.s.check(err, p, g, "looking up "+path)
}

func (x *sink) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	v, p, g := x.cur()
	rc, err := v.Get(ctx, req)
	return rc, x.s.check(err, p, g, "reading "+req.Path)
}

func (x *sink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	v, p, g := x.cur()
	return x.s.check(v.List(ctx, req, fn), p, g, "listing "+req.Prefix)
}

func (x *sink) Delete(ctx context.Context, path string) error {
	v, p, g := x.cur()
	return x.s.check(v.Delete(ctx, path), p, g, "deleting "+path)
}

// DeleteReport implements sdk.DeleteReporter, passing on what the plugin
// says its Delete really did (a sink that cannot say reports nothing kept).
func (x *sink) DeleteReport(ctx context.Context, path string) (sdk.DeleteResult, error) {
	v, p, g := x.cur()
	dr, ok := v.(sdk.DeleteReporter)
	if !ok {
		return sdk.DeleteResult{}, x.s.check(v.Delete(ctx, path), p, g, "deleting "+path)
	}
	res, err := dr.DeleteReport(ctx, path)
	return res, x.s.check(err, p, g, "deleting "+path)
}

func (x *sink) Close() error {
	return x.s.close(sdk.Sink.Close)
}

// Source starts the source called name and returns it, supervised. A
// restarted source is re-configured and, if it was, connected again.
func (h *Host) Source(ctx context.Context, name string) (sdk.Source, error) {
	s, err := supervise(ctx, h, sdk.KindSource, name, Plugin.Source)
	if err != nil {
		return nil, err
	}
	return &source{s: s}, nil
}

type source struct {
	s         *supervisor[sdk.Source]
	connected sync.Once
}

func (x *source) cur() (sdk.Source, Plugin, int) { return x.s.current() }

func (x *source) Info() sdk.Info     { v, _, _ := x.cur(); return v.Info() }
func (x *source) Schema() sdk.Schema { v, _, _ := x.cur(); return v.Schema() }

func (x *source) Configure(ctx context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	v, _, _ := x.cur()
	diags := v.Configure(ctx, req)
	if !diags.HasErrors() {
		x.s.remember(func(ctx context.Context, v sdk.Source) error { return v.Configure(ctx, req).Err() })
	}
	return diags
}

func (x *source) Connect(ctx context.Context) (sdk.OrgInfo, error) {
	v, p, g := x.cur()
	org, err := v.Connect(ctx)
	if err == nil {
		x.connected.Do(func() {
			x.s.remember(func(ctx context.Context, v sdk.Source) error { _, err := v.Connect(ctx); return err })
		})
	}
	return org, x.s.check(err, p, g, "signing in")
}

func (x *source) ListItems(ctx context.Context, req sdk.ListItemsRequest, fn func(sdk.ListedItem) error) error {
	v, p, g := x.cur()
	return x.s.check(v.ListItems(ctx, req, fn), p, g, "listing items")
}

func (x *source) Do(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	v, p, g := x.cur()
	resp, err := v.Do(ctx, req)
	return resp, x.s.check(err, p, g, "requesting "+req.URL)
}

func (x *source) Close() error {
	return x.s.close(sdk.Source.Close)
}

// Exporter starts the exporter called name and returns it, supervised.
func (h *Host) Exporter(ctx context.Context, name string) (sdk.Exporter, error) {
	s, err := supervise(ctx, h, sdk.KindExporter, name, Plugin.Exporter)
	if err != nil {
		return nil, err
	}
	return &exporter{s}, nil
}

// ExporterOnDemand returns the exporter called name, supervised, without
// starting it: its process starts at the first Export (or Configure), with
// ctx, and is configured with req. An item type the organization does not
// have then costs no process, and no wrapper sits between the engine and
// the supervised exporter. When that start or configuration fails, every
// Export fails with it, permanently (retrying the item cannot help).
func (h *Host) ExporterOnDemand(ctx context.Context, name string, req sdk.ConfigureRequest) (sdk.Exporter, error) {
	s, err := superviseOnDemand(ctx, h, sdk.KindExporter, name, Plugin.Exporter, func(ctx context.Context, v sdk.Exporter) error {
		d := v.Configure(ctx, req)
		if d.HasErrors() {
			return fmt.Errorf("exporter %q: %w", name, d.Err())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &exporter{s}, nil
}

type exporter struct{ s *supervisor[sdk.Exporter] }

func (x *exporter) cur() (sdk.Exporter, Plugin, int) { return x.s.current() }

// started starts an exporter supervised on demand; a failed start is a
// permanent error of every call.
func (x *exporter) started() error {
	if err := x.s.start(); err != nil {
		return sdk.Permanent("%v", err)
	}
	return nil
}

// Info, Schema and ItemTypes of an exporter not started yet come from what
// the host knows of it, so asking does not start a process.
func (x *exporter) Info() sdk.Info {
	if v, ok := x.s.running(); ok {
		return v.Info()
	}
	c := x.s.c
	return sdk.Info{Kind: c.Kind, Name: c.Name, Version: c.Version, Description: c.Description}
}

func (x *exporter) Schema() sdk.Schema {
	if v, ok := x.s.running(); ok {
		return v.Schema()
	}
	return x.s.c.schema
}

func (x *exporter) ItemTypes() []string {
	if v, ok := x.s.running(); ok {
		return v.ItemTypes()
	}
	return x.s.c.itemTypes
}

func (x *exporter) Configure(ctx context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	if err := x.started(); err != nil {
		var d sdk.Diagnostics
		return d.Errorf(nil, "Cannot start the exporter", "%v", err)
	}
	v, _, _ := x.cur()
	diags := v.Configure(ctx, req)
	if !diags.HasErrors() {
		x.s.remember(func(ctx context.Context, v sdk.Exporter) error { return v.Configure(ctx, req).Err() })
	}
	return diags
}

func (x *exporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	if err := x.started(); err != nil {
		return sdk.ExportResult{}, err
	}
	v, p, g := x.cur()
	res, err := v.Export(ctx, req, host, out)
	return res, x.s.check(err, p, g, fmt.Sprintf("exporting item %s (%q)", req.Item.ID, req.Item.Title))
}

func (x *exporter) Close() error {
	return x.s.close(sdk.Exporter.Close)
}

// Notifier starts the notifier called name and returns it, supervised.
func (h *Host) Notifier(ctx context.Context, name string) (sdk.Notifier, error) {
	s, err := supervise(ctx, h, sdk.KindNotifier, name, Plugin.Notifier)
	if err != nil {
		return nil, err
	}
	return &notifier{s}, nil
}

type notifier struct{ s *supervisor[sdk.Notifier] }

func (x *notifier) cur() (sdk.Notifier, Plugin, int) { return x.s.current() }

func (x *notifier) Info() sdk.Info     { v, _, _ := x.cur(); return v.Info() }
func (x *notifier) Schema() sdk.Schema { v, _, _ := x.cur(); return v.Schema() }

func (x *notifier) Configure(ctx context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	v, _, _ := x.cur()
	diags := v.Configure(ctx, req)
	if !diags.HasErrors() {
		x.s.remember(func(ctx context.Context, v sdk.Notifier) error { return v.Configure(ctx, req).Err() })
	}
	return diags
}

func (x *notifier) Notify(ctx context.Context, req sdk.NotifyRequest) error {
	v, p, g := x.cur()
	return x.s.check(v.Notify(ctx, req), p, g, "sending the run "+req.RunID+" notification")
}

func (x *notifier) Close() error {
	return x.s.close(sdk.Notifier.Close)
}
