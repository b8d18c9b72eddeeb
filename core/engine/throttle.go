package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// throttleCoolDown is how long after lowering concurrency the engine waits
// before lowering it again: the requests in flight when the portal starts
// throttling all come back throttled at about the same moment, and that is
// one signal, not one per request.
const throttleCoolDown = 5 * time.Second

// throttle is the engine's adaptive concurrency, the one place it is
// decided (AIMD, as TCP does): every throttling answer the portal gives to
// an exporter's request (seen in host.Portal, the road all of them take)
// halves the number of items exported at once, at most once per cool-down
// and down to 1; after that, every `limit` items that finish without the
// portal throttling anyone add one slot back, up to run.concurrency.
// Retrying the throttled request itself is the retry policy's business
// (sdk/retry backs off longer after throttling).
type throttle struct {
	mu      sync.Mutex
	max     int
	limit   int
	inUse   int
	clean   int // items finished without a throttling signal since the last change
	signals int // throttling answers seen in the run
	lowest  int
	lastCut time.Time
	wake    chan struct{} // closed and replaced whenever a slot may be free
	now     func() time.Time
	// onCut is told each time the limit is lowered (for the run log).
	onCut func(limit, signals int, first bool)
}

func newThrottle(concurrency int, now func() time.Time) *throttle {
	n := max(concurrency, 1)
	return &throttle{max: n, limit: n, lowest: n, wake: make(chan struct{}), now: now}
}

// acquire waits for a slot; false when ctx ended first. The returned
// mark is given back to release.
func (t *throttle) acquire(ctx context.Context) (mark int, ok bool) {
	for {
		t.mu.Lock()
		if t.inUse < t.limit {
			t.inUse++
			mark = t.signals
			t.mu.Unlock()
			return mark, true
		}
		wake := t.wake
		t.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return 0, false
		}
	}
}

// release frees a slot taken at mark; an item during which nobody was
// throttled counts towards raising the limit again.
func (t *throttle) release(mark int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inUse--
	if t.signals == mark && t.limit < t.max {
		t.clean++
		if t.clean >= t.limit {
			t.limit++
			t.clean = 0
		}
	}
	close(t.wake)
	t.wake = make(chan struct{})
}

// observe takes the error of a portal request: a throttling answer lowers
// the limit.
func (t *throttle) observe(err error) {
	if err == nil || sdk.ReasonOf(err) != sdk.ReasonThrottled {
		return
	}
	t.mu.Lock()
	t.signals++
	now := t.now()
	cut := t.limit > 1 && (t.lastCut.IsZero() || now.Sub(t.lastCut) >= throttleCoolDown)
	first := t.lastCut.IsZero()
	if cut {
		t.limit = max(1, t.limit/2)
		t.lowest = min(t.lowest, t.limit)
		t.lastCut, t.clean = now, 0
	}
	limit, signals, onCut := t.limit, t.signals, t.onCut
	t.mu.Unlock()
	if cut && onCut != nil {
		onCut(limit, signals, first)
	}
}

// summary is the run's throttling in one line, or "" when there was none.
func (t *throttle) summary() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.signals == 0 {
		return ""
	}
	return fmt.Sprintf("the portal throttled %d requests (HTTP 429 or 403 to bursts); they were retried after a backoff and concurrency went down to %d of %d, then up again as the portal allowed", t.signals, t.lowest, t.max)
}
