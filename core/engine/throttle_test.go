package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// TestThrottleAIMD: a burst of throttling answers halves the items at
// once, once per cool-down, down to 1; items that finish unthrottled raise
// it again by one per round, up to run.concurrency.
func TestThrottleAIMD(t *testing.T) {
	now := time.Unix(0, 0)
	th := newThrottle(8, func() time.Time { return now })
	cuts := 0
	th.onCut = func(int, int, bool) { cuts++ }
	throttled := sdk.WithReason(sdk.KindRetryable, sdk.ReasonThrottled, errors.New("429"))
	th.observe(sdk.Retryable("503")) // not throttling
	if th.limit != 8 {
		t.Fatalf("a 5xx lowered the limit to %d", th.limit)
	}
	for range 5 { // one burst: many requests in flight come back together
		th.observe(throttled)
	}
	if th.limit != 4 || cuts != 1 {
		t.Fatalf("after one burst: limit %d, %d cuts; want 4, 1", th.limit, cuts)
	}
	now = now.Add(throttleCoolDown)
	th.observe(throttled)
	now = now.Add(throttleCoolDown)
	th.observe(throttled)
	now = now.Add(throttleCoolDown)
	th.observe(throttled)
	if th.limit != 1 {
		t.Fatalf("limit %d, want the floor of 1", th.limit)
	}
	// Only one slot: a second acquire waits until the first is released.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	m1, ok := th.acquire(ctx)
	if !ok {
		t.Fatal("no slot at limit 1")
	}
	if _, ok := th.acquire(ctx); ok {
		t.Fatal("two items at once with limit 1")
	}
	th.release(m1) // unthrottled: +1 after `limit` (1) clean items
	if th.limit != 2 {
		t.Fatalf("limit %d after a clean item, want 2", th.limit)
	}
	for range 2 {
		m, _ := th.acquire(context.Background())
		th.release(m)
	}
	if th.limit != 3 {
		t.Fatalf("limit %d after a clean round, want 3", th.limit)
	}
	// An item during which someone was throttled does not count as clean.
	m, _ := th.acquire(context.Background())
	now = th.lastCut.Add(time.Second) // within the cool-down of the last cut: no cut
	th.observe(throttled)
	th.release(m)
	if th.limit != 3 || th.clean != 0 {
		t.Fatalf("limit %d clean %d after a throttled item", th.limit, th.clean)
	}
	if s := th.summary(); s == "" {
		t.Error("no summary after throttling")
	}
}
