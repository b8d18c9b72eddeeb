package sinkwatch_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/sinkwatch"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

// idle is the bound of these tests: long enough that a gRPC hop never
// trips it, short enough to keep the tests in seconds.
const idle = time.Second

// stallSink is a sink that stops answering in the call named by stall
// (until the call is cancelled); "body" stalls a Get's body after its first
// bytes. Everything else is a MemSink.
type stallSink struct {
	*sinktest.MemSink
	stall string
}

func (s *stallSink) hang(ctx context.Context, op string) error {
	if s.stall != op {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *stallSink) Preflight(ctx context.Context) error { return s.hang(ctx, "preflight") }

func (s *stallSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	if s.stall == "put" {
		// Read it all, as S3 does into its part buffer, then never answer.
		_, _ = io.Copy(io.Discard, req.Body)
		return sdk.PutResponse{}, s.hang(ctx, "put")
	}
	return s.MemSink.Put(ctx, req)
}

func (s *stallSink) Stat(ctx context.Context, p string) (sdk.ObjectInfo, error) {
	if err := s.hang(ctx, "stat"); err != nil {
		return sdk.ObjectInfo{}, err
	}
	return s.MemSink.Stat(ctx, p)
}

func (s *stallSink) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	if err := s.hang(ctx, "get"); err != nil {
		return nil, err
	}
	rc, err := s.MemSink.Get(ctx, req)
	if err != nil || s.stall != "body" {
		return rc, err
	}
	return io.NopCloser(io.MultiReader(io.LimitReader(rc, 10), ctxReader{ctx})), nil
}

type ctxReader struct{ ctx context.Context }

func (r ctxReader) Read([]byte) (int, error) { <-r.ctx.Done(); return 0, r.ctx.Err() }

func (s *stallSink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	if err := s.hang(ctx, "list"); err != nil {
		return err
	}
	return s.MemSink.List(ctx, req, fn)
}

func (s *stallSink) Delete(ctx context.Context, p string) error {
	if err := s.hang(ctx, "delete"); err != nil {
		return err
	}
	return s.MemSink.Delete(ctx, p)
}

// newSink serves a stallSink over gRPC (the road of a plugin sink) holding
// one object, and wraps the client with the idle bound.
func newSink(t *testing.T, stall string) sdk.Sink {
	t.Helper()
	impl := &stallSink{MemSink: sinktest.NewMemSink()}
	body := bytes.Repeat([]byte("x"), 1000)
	if _, err := impl.MemSink.Put(context.Background(), sdk.PutRequest{Path: "run/a.json", Size: int64(len(body)), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	impl.stall = stall
	return sinkwatch.Wrap(grpctest.Sink(t, impl), "offsite", idle)
}

// TestStalledCallFails stalls each call of a plugin sink in turn: each must
// fail soon after the idle bound, retryable, naming the sink and what it
// was doing.
func TestStalledCallFails(t *testing.T) {
	calls := []struct {
		stall, what string
		call        func(ctx context.Context, s sdk.Sink) error
	}{
		{"preflight", "checking the sink", func(ctx context.Context, s sdk.Sink) error { return s.Preflight(ctx) }},
		{"put", `storing "run/b.json"`, func(ctx context.Context, s sdk.Sink) error {
			_, err := s.Put(ctx, sdk.PutRequest{Path: "run/b.json", Size: 5, Body: strings.NewReader("hello")})
			return err
		}},
		{"stat", `looking up "run/a.json"`, func(ctx context.Context, s sdk.Sink) error { _, err := s.Stat(ctx, "run/a.json"); return err }},
		{"get", `reading "run/a.json"`, func(ctx context.Context, s sdk.Sink) error {
			rc, err := s.Get(ctx, sdk.GetRequest{Path: "run/a.json"})
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"body", `reading "run/a.json"`, func(ctx context.Context, s sdk.Sink) error {
			rc, err := s.Get(ctx, sdk.GetRequest{Path: "run/a.json"})
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(io.Discard, rc)
			return err
		}},
		{"list", `listing "run/"`, func(ctx context.Context, s sdk.Sink) error {
			return s.List(ctx, sdk.ListRequest{Prefix: "run/"}, func(sdk.ObjectInfo) error { return nil })
		}},
		{"delete", `deleting "run/a.json"`, func(ctx context.Context, s sdk.Sink) error { return s.Delete(ctx, "run/a.json") }},
	}
	for _, c := range calls {
		t.Run(c.stall, func(t *testing.T) {
			t.Parallel()
			s := newSink(t, c.stall)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err := c.call(ctx, s)
			took := time.Since(start)
			if err == nil {
				t.Fatal("a stalled call succeeded")
			}
			if took < idle || took > idle+5*time.Second {
				t.Errorf("the stalled call ended after %s; want soon after the %s bound", took, idle)
			}
			if sdk.KindOf(err) != sdk.KindRetryable {
				t.Errorf("kind %s, want retryable: %v", sdk.KindOf(err), err)
			}
			if msg := err.Error(); !strings.Contains(msg, `sink "offsite" stopped answering: no progress for 1s while `+c.what) {
				t.Errorf("message %q does not name the sink, the bound and the call", msg)
			}
		})
	}
}

// slowReader yields its bytes in two halves with a pause between them
// longer than the idle bound: an exporter waiting on the portal.
type slowReader struct {
	b     []byte
	pause time.Duration
	n     int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if r.n == 1 {
		time.Sleep(r.pause)
	}
	r.n++
	k := min(len(p), len(r.b), 500)
	copy(p, r.b[:k])
	r.b = r.b[k:]
	return k, nil
}

// TestWaitingForTheCallerIsNotIdle: a Put whose body pauses (the exporter
// is slow), a Get whose reader pauses between reads and a List whose
// callback is slow all take longer than the bound without the sink ever
// holding a call that long: none may fail.
func TestWaitingForTheCallerIsNotIdle(t *testing.T) {
	pause := idle + idle/2
	s := newSink(t, "")
	ctx := context.Background()
	body := bytes.Repeat([]byte("y"), 1000)
	if _, err := s.Put(ctx, sdk.PutRequest{Path: "run/slow.json", Size: int64(len(body)), Body: &slowReader{b: body, pause: pause}}); err != nil {
		t.Errorf("Put of a slow body: %v", err)
	}
	rc, err := s.Get(ctx, sdk.GetRequest{Path: "run/a.json"})
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 10)
	if _, err := io.ReadFull(rc, first); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause)
	if n, err := io.Copy(io.Discard, rc); err != nil || n != 990 {
		t.Errorf("Get read slowly: %d bytes, %v", n, err)
	}
	rc.Close()
	n := 0
	err = s.List(ctx, sdk.ListRequest{Prefix: "run/"}, func(sdk.ObjectInfo) error {
		n++
		time.Sleep(pause)
		return nil
	})
	if err != nil || n != 2 {
		t.Errorf("List with a slow callback: %d objects, %v", n, err)
	}
}

// TestCallerCancelKeepsItsError: a call the caller cancels is not reported
// as the sink's stall.
func TestCallerCancelKeepsItsError(t *testing.T) {
	s := newSink(t, "stat")
	ctx, cancel := context.WithTimeout(context.Background(), idle/4)
	defer cancel()
	_, err := s.Stat(ctx, "run/a.json")
	if err == nil || strings.Contains(err.Error(), "stopped answering") {
		t.Errorf("cancelled by the caller: %v", err)
	}
}

// TestEnv: the bound is read from AGOLPIPE_SINK_IDLE_TIMEOUT, with the
// pipeline's units, and a wrong value is an error that names the variable.
func TestEnv(t *testing.T) {
	t.Setenv(sinkwatch.IdleEnv, "")
	if d, err := sinkwatch.IdleTimeout(); err != nil || d != sinkwatch.DefaultIdleTimeout {
		t.Errorf("unset: %s, %v", d, err)
	}
	t.Setenv(sinkwatch.IdleEnv, "90s")
	if d, err := sinkwatch.IdleTimeout(); err != nil || d != 90*time.Second {
		t.Errorf("90s: %s, %v", d, err)
	}
	for _, bad := range []string{"0", "-5m", "soon"} {
		t.Setenv(sinkwatch.IdleEnv, bad)
		if _, err := sinkwatch.IdleTimeout(); err == nil || !strings.Contains(err.Error(), sinkwatch.IdleEnv) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestStallingSinkGivenUp: a sink that stalls MaxStalls calls in a row is
// given up: the next call fails at once, permanent (no retry would help),
// naming the sink; a call the sink answers in between resets the count.
func TestStallingSinkGivenUp(t *testing.T) {
	stat := func(s sdk.Sink) (time.Duration, error) {
		start := time.Now()
		_, err := s.Stat(context.Background(), "run/a.json")
		return time.Since(start), err
	}
	t.Run("in a row", func(t *testing.T) {
		t.Parallel()
		s := newSink(t, "stat")
		for i := range sinkwatch.MaxStalls {
			if took, err := stat(s); sdk.KindOf(err) != sdk.KindRetryable || took < idle {
				t.Fatalf("stall %d: %v after %s", i+1, err, took)
			}
		}
		took, err := stat(s)
		if took > idle/2 || sdk.KindOf(err) != sdk.KindPermanent {
			t.Errorf("after %d stalls in a row: %v (kind %s) after %s; want a permanent error at once", sinkwatch.MaxStalls, err, sdk.KindOf(err), took)
		}
		if err == nil || !strings.Contains(err.Error(), `sink "offsite" stopped answering: no progress for 1s, 3 calls in a row (the last while looking up "run/a.json"); nothing more is asked of it`) {
			t.Errorf("message: %v", err)
		}
		if err := s.Preflight(context.Background()); sdk.KindOf(err) != sdk.KindPermanent {
			t.Errorf("another call to the sink given up: %v", err)
		}
	})
	t.Run("answered in between", func(t *testing.T) {
		t.Parallel()
		s := newSink(t, "stat")
		for i := range 2 * (sinkwatch.MaxStalls - 1) {
			if i == sinkwatch.MaxStalls-1 {
				if err := s.Preflight(context.Background()); err != nil { // answered: the count starts again
					t.Fatal(err)
				}
			}
			if took, err := stat(s); sdk.KindOf(err) != sdk.KindRetryable || took < idle {
				t.Fatalf("stall %d: %v after %s; the sink answered in between, so it is not given up", i+1, err, took)
			}
		}
	})
}
