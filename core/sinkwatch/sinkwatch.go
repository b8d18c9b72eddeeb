// Package sinkwatch bounds every call to a sink by its progress, not by its
// total length: a call fails when the sink holds it for IdleTimeout without
// moving a byte (an S3 endpoint that accepted the connection and never
// answers, a share whose server froze). A Put of 50 GB that keeps moving is
// never cut, however long it takes; a Put that stalls is, within minutes,
// whatever run.max_duration says (unset by default).
//
// Only the sink's own time counts: while a Put's sink waits for the next
// bytes of the artifact (a slow exporter, a zipped run's archive between
// two artifacts) and while the caller of a Get or a List has not asked for
// more, the clock stands still. The failure is retryable (sdk.KindRetryable,
// the host's one retry place tries again) and names the sink, the call and
// the object. A sink that stalls MaxStalls calls in a row is given up for
// the rest of the command: every later call fails at once, permanent.
package sinkwatch

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// DefaultIdleTimeout is how long a sink may hold a call without progress
// before the call fails. Stores answer within seconds; five minutes leaves
// room for a slow commit (an S3 CompleteMultipartUpload of a large object,
// a share flushing its cache) and is rclone's default for the same bound.
const DefaultIdleTimeout = 5 * time.Minute

// IdleEnv names the environment variable that overrides
// DefaultIdleTimeout (a Go duration such as "90s" or "10m"): raise it for a
// store known to pause longer; tests lower it.
const IdleEnv = "AGOLPIPE_SINK_IDLE_TIMEOUT"

// IdleTimeout is the idle bound for this process: IdleEnv when set, else
// DefaultIdleTimeout.
func IdleTimeout() (time.Duration, error) {
	return DurationFromEnv(IdleEnv, DefaultIdleTimeout)
}

// DurationFromEnv reads a positive duration from the environment variable
// name, or returns def when it is unset or empty. The error names the
// variable, for a user who set it wrong.
func DurationFromEnv(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := sdk.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("environment variable %s=%q is not a positive duration (for example 90s or 10m): unset it or fix it", name, v)
	}
	return d, nil
}

// Wrap returns s with every call (Preflight, Put, Stat, Get and the
// reading of its body, List, Delete) bounded by idle. name is the sink
// block's name, for messages. idle <= 0, or a sink Wrap already bounds,
// returns s unchanged (the engine bounds the sinks it is given, which the
// session that opened them may have bounded already).
func Wrap(s sdk.Sink, name string, idle time.Duration) sdk.Sink {
	if _, done := s.(*sink); done || idle <= 0 {
		return s
	}
	return &sink{Sink: s, name: name, idle: idle}
}

type sink struct {
	sdk.Sink
	name string
	idle time.Duration
	// stalls counts the calls stopped for want of progress since the last
	// call that ended by itself; at MaxStalls the sink is down: every
	// later call fails at once with down's error.
	stalls atomic.Int32
	down   atomic.Pointer[sdk.Error]
}

// MaxStalls is how many calls in a row a sink may stall before it is
// given up for the rest of the command. One stall may be a hiccup, and is
// retried; a store that stalls every call would otherwise cost the idle
// bound times the retries for every artifact of the run.
const MaxStalls = 3

// watch is the clock of one call. The sink "holds" the call from its start
// until it returns, except while the call waits for the caller (a Put
// reading the body, a List calling fn, a Get's body between two Reads):
// hold/release mark those turns. When the sink holds the call for idle
// without a turn changing, the call's context is cancelled with the idle
// error as its cause.
type watch struct {
	s      *sink
	what   string
	idle   time.Duration
	cancel context.CancelCauseFunc
	err    error

	mu    sync.Mutex
	held  bool
	since time.Time
	t     *time.Timer
	fired bool
}

// start begins a call, or returns the error of a sink that is down.
func (s *sink) start(ctx context.Context, what string) (context.Context, *watch, error) {
	if d := s.down.Load(); d != nil {
		return nil, nil, d
	}
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watch{s: s, what: what, idle: s.idle, cancel: cancel, err: &sdk.Error{Kind: sdk.KindRetryable, Err: fmt.Errorf(
		"sink %q stopped answering: no progress for %s while %s, so the call was stopped; check that the store is up and reachable, and if it only pauses this long, raise %s",
		s.name, s.idle, what, IdleEnv)}}
	w.hold()
	return ctx, w, nil
}

// stalled records a call stopped for want of progress, and gives the sink
// up at the MaxStalls-th in a row.
func (s *sink) stalled(what string) {
	if s.stalls.Add(1) < MaxStalls {
		return
	}
	s.down.CompareAndSwap(nil, &sdk.Error{Kind: sdk.KindPermanent, Err: fmt.Errorf(
		"sink %q stopped answering: no progress for %s, %d calls in a row (the last while %s); nothing more is asked of it in this run. Check that the store is up and reachable, and if it only pauses this long, raise %s",
		s.name, s.idle, MaxStalls, what, IdleEnv)})
}

// hold: the sink has the call (progress was made: a turn changed).
func (w *watch) hold() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held, w.since = true, time.Now()
	if w.t == nil {
		w.t = time.AfterFunc(w.idle, w.check)
	} else {
		w.t.Reset(w.idle)
	}
}

// release: the call waits for the caller, which is not the sink's time.
func (w *watch) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.held = false
	if w.t != nil {
		w.t.Stop()
	}
}

// check runs when the timer fires; a turn that changed since it was armed
// re-arms it for the rest of the bound.
func (w *watch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.held || w.fired {
		return
	}
	if left := w.idle - time.Since(w.since); left > 0 {
		w.t.Reset(left)
		return
	}
	w.fired = true
	w.cancel(w.err)
}

// end stops the clock; err is the call's result, replaced by the idle
// error when the watch stopped the call (the sink's own error then is only
// "context canceled"). A call the caller cancelled keeps its error.
func (w *watch) end(parent context.Context, err error) error {
	w.release()
	w.mu.Lock()
	fired := w.fired
	w.mu.Unlock()
	w.cancel(nil)
	switch {
	case err != nil && fired && parent.Err() == nil:
		w.s.stalled(w.what)
		return w.err
	case !fired:
		w.s.stalls.Store(0) // the sink answered, whatever it said
	}
	return err
}

func (s *sink) Preflight(ctx context.Context) error {
	cctx, w, err := s.start(ctx, "checking the sink (preflight)")
	if err != nil {
		return err
	}
	return w.end(ctx, s.Sink.Preflight(cctx))
}

func (s *sink) Stat(ctx context.Context, path string) (sdk.ObjectInfo, error) {
	cctx, w, err := s.start(ctx, fmt.Sprintf("looking up %q", path))
	if err != nil {
		return sdk.ObjectInfo{}, err
	}
	o, err := s.Sink.Stat(cctx, path)
	return o, w.end(ctx, err)
}

func (s *sink) Delete(ctx context.Context, path string) error {
	cctx, w, err := s.start(ctx, fmt.Sprintf("deleting %q", path))
	if err != nil {
		return err
	}
	return w.end(ctx, s.Sink.Delete(cctx, path))
}

// DeleteReport keeps the optional sdk.DeleteReporter of the sink (the gRPC
// adapters implement it; retention relies on it to tell space freed from a
// delete marker).
func (s *sink) DeleteReport(ctx context.Context, path string) (sdk.DeleteResult, error) {
	dr, ok := s.Sink.(sdk.DeleteReporter)
	if !ok {
		return sdk.DeleteResult{}, s.Delete(ctx, path)
	}
	cctx, w, err := s.start(ctx, fmt.Sprintf("deleting %q", path))
	if err != nil {
		return sdk.DeleteResult{}, err
	}
	res, err := dr.DeleteReport(cctx, path)
	return res, w.end(ctx, err)
}

func (s *sink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	cctx, w, err := s.start(ctx, fmt.Sprintf("listing %q", req.Prefix))
	if err != nil {
		return err
	}
	err = s.Sink.List(cctx, req, func(o sdk.ObjectInfo) error {
		w.release()
		defer w.hold()
		return fn(o)
	})
	return w.end(ctx, err)
}

func (s *sink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	cctx, w, err := s.start(ctx, fmt.Sprintf("storing %q", req.Path))
	if err != nil {
		return sdk.PutResponse{}, err
	}
	req.Body = watchBody(req.Body, w)
	resp, err := s.Sink.Put(cctx, req)
	return resp, w.end(ctx, err)
}

func (s *sink) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	cctx, w, err := s.start(ctx, fmt.Sprintf("reading %q", req.Path))
	if err != nil {
		return nil, err
	}
	rc, err := s.Sink.Get(cctx, req)
	if err != nil {
		return nil, w.end(ctx, err)
	}
	w.release() // the caller reads when it likes
	return &getBody{rc: rc, w: w, parent: ctx}, nil
}

// getBody is a Get's body: each Read is the sink's time.
type getBody struct {
	rc     io.ReadCloser
	w      *watch
	parent context.Context
	once   sync.Once
}

func (b *getBody) Read(p []byte) (int, error) {
	b.w.hold()
	n, err := b.rc.Read(p)
	b.w.release()
	if err != nil && err != io.EOF {
		b.w.mu.Lock()
		fired := b.w.fired
		b.w.mu.Unlock()
		if fired && b.parent.Err() == nil {
			err = b.w.err
		}
	}
	return n, err
}

func (b *getBody) Close() error {
	b.w.hold()
	err := b.rc.Close()
	b.once.Do(func() { err = b.w.end(b.parent, err) })
	return err
}

// putBody is a Put's body: the time the sink spends inside Read (or, when
// the body writes itself out, outside Write) is the caller's, not the
// sink's. It keeps the optional interfaces the gRPC Put client looks for:
// io.WriterTo (no copy of every byte) and the sha256 the fan-out computed
// (grpcplugin.BodySHA256), which must be offered only when the body has it.
type putBody struct {
	r io.Reader
	w *watch
}

type putBodySHA struct {
	putBody
	sum interface{ SHA256() []byte }
}

func (b *putBodySHA) SHA256() []byte { return b.sum.SHA256() }

func watchBody(r io.Reader, w *watch) io.Reader {
	if r == nil {
		return nil
	}
	if s, ok := r.(interface{ SHA256() []byte }); ok {
		return &putBodySHA{putBody: putBody{r: r, w: w}, sum: s}
	}
	return &putBody{r: r, w: w}
}

func (b *putBody) Read(p []byte) (int, error) {
	b.w.release()
	defer b.w.hold()
	return b.r.Read(p)
}

// WriteTo hands the body's own pieces to the sink's writer when the body
// can write itself out; the sink holds the call inside each Write.
func (b *putBody) WriteTo(dst io.Writer) (int64, error) {
	b.w.release()
	defer b.w.hold()
	hw := heldWriter{dst: dst, w: b.w}
	if wt, ok := b.r.(io.WriterTo); ok {
		return wt.WriteTo(hw)
	}
	return io.Copy(hw, onlyReader{b.r})
}

type heldWriter struct {
	dst io.Writer
	w   *watch
}

func (h heldWriter) Write(p []byte) (int, error) {
	h.w.hold()
	defer h.w.release()
	return h.dst.Write(p)
}

// onlyReader hides everything but Read, so io.Copy does not loop back
// into putBody.WriteTo or bypass the clock through a ReaderFrom.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

var _ sdk.DeleteReporter = (*sink)(nil)
