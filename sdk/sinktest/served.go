package sinktest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// settleLimit bounds how long the server side of a sink may go on with a
// Put after the client's Put returned. A plugin's Put that never ends once
// its client gave up is a hang of its own, so the limit fails the check.
const settleLimit = 30 * time.Second

// arriveLimit is how long settle waits for a Put the client started to
// reach the server side at all. A client that gives up early may cancel
// its call before the server read the header, and then no server-side Put
// ever comes (the small failed write does this about every time); a call
// already on its way reaches the server in this process within
// milliseconds.
const arriveLimit = 250 * time.Millisecond

// served wraps the sink Run serves over gRPC, counting the Puts the client
// started and those the server side entered and ended, so a check can wait
// for them (see openSettle).
type served struct {
	sdk.Sink
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every count change
	sent    int           // Puts the client side started
	entered int           // Puts the server side entered
	ended   int           // Puts the server side returned from
}

// servedReporter keeps sdk.DeleteReporter visible to the gRPC server
// adapter, which would otherwise take the plain Delete road.
type servedReporter struct {
	*served
	dr sdk.DeleteReporter
}

func (s servedReporter) DeleteReport(ctx context.Context, path string) (sdk.DeleteResult, error) {
	return s.dr.DeleteReport(ctx, path)
}

type settler interface {
	sdk.Sink
	settle(t *testing.T)
	client(c sdk.Sink) sdk.Sink
}

func track(impl sdk.Sink) settler {
	s := &served{Sink: impl, changed: make(chan struct{})}
	if dr, ok := impl.(sdk.DeleteReporter); ok {
		return servedReporter{served: s, dr: dr}
	}
	return s
}

func (s *served) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	s.count(&s.entered)
	defer s.count(&s.ended)
	return s.Sink.Put(ctx, req)
}

func (s *served) count(n *int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*n++
	close(s.changed)
	s.changed = make(chan struct{})
}

// client returns the gRPC client c with its Puts counted as sent.
func (s *served) client(c sdk.Sink) sdk.Sink { return &counted{Sink: c, s: s} }

type counted struct {
	sdk.Sink
	s *served
}

func (c *counted) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	c.s.count(&c.s.sent)
	return c.Sink.Put(ctx, req)
}

// settle waits until every Put the client started has reached the server
// side (or arriveLimit passed without it arriving) and every Put that
// reached it has returned.
func (s *served) settle(t *testing.T) {
	t.Helper()
	arrive := time.NewTimer(arriveLimit)
	defer arrive.Stop()
	arrived := arrive.C // nil once arriveLimit passed
	limit := time.NewTimer(settleLimit)
	defer limit.Stop()
	for {
		s.mu.Lock()
		sent, entered, ended, changed := s.sent, s.entered, s.ended, s.changed
		s.mu.Unlock()
		if entered == ended && (entered >= sent || arrived == nil) {
			return
		}
		select {
		case <-changed:
		case <-arrived:
			arrived = nil
		case <-limit.C:
			t.Fatalf("the sink's Put, served over gRPC, was still running %v after the client's Put had failed", settleLimit)
		}
	}
}
