package retry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// fakeClock records the delays instead of sleeping.
type fakeClock struct{ slept []time.Duration }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.slept = append(c.slept, d)
	return ctx.Err()
}

func TestDo(t *testing.T) {
	retryable := sdk.Retryable("503 Service Unavailable")
	for _, tc := range []struct {
		name      string
		retries   int
		errs      []error // returned by attempt i; nil after the list ends
		reauth    bool
		wantCalls int
		wantKind  sdk.ErrorKind
		wantOK    bool
	}{
		{"success first", 3, nil, false, 1, 0, true},
		{"retryable then success", 3, []error{retryable, retryable}, false, 3, 0, true},
		{"retryable exhausted", 2, []error{retryable, retryable, retryable, retryable}, false, 3, sdk.KindRetryable, false},
		{"permanent not retried", 3, []error{sdk.Permanent("bad format")}, false, 1, sdk.KindPermanent, false},
		{"unclassified not retried", 3, []error{errors.New("bug")}, false, 1, sdk.KindPermanent, false},
		{"not found not retried", 3, []error{sdk.NotFound("gone")}, false, 1, sdk.KindNotFound, false},
		{"auth without reauth", 3, []error{sdk.Auth("token expired")}, false, 1, sdk.KindAuth, false},
		{"auth once after reauth", 3, []error{sdk.Auth("token expired")}, true, 2, 0, true},
		{"auth twice fails", 3, []error{sdk.Auth("expired"), sdk.Auth("expired")}, true, 2, sdk.KindAuth, false},
		{"negative retries", -1, []error{retryable}, false, 1, sdk.KindRetryable, false},
		{"zero means default 3", 0, []error{retryable, retryable, retryable, retryable}, false, 4, sdk.KindRetryable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{}
			calls, reauths := 0, 0
			p := Policy{Retries: tc.retries, Sleep: clock.Sleep, Rand: func() float64 { return 0.5 }}
			if tc.reauth {
				p.Reauth = func(context.Context, error) bool { reauths++; return true }
			}
			err := p.Do(context.Background(), func(_ context.Context, attempt int) error {
				calls++
				if attempt != calls {
					t.Errorf("attempt %d on call %d", attempt, calls)
				}
				if attempt <= len(tc.errs) {
					return tc.errs[attempt-1]
				}
				return nil
			})
			if calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
			}
			if (err == nil) != tc.wantOK {
				t.Fatalf("err = %v", err)
			}
			if err != nil && sdk.KindOf(err) != tc.wantKind {
				t.Errorf("kind = %v, want %v (%v)", sdk.KindOf(err), tc.wantKind, err)
			}
			if reauths > 1 {
				t.Errorf("reauth called %d times", reauths)
			}
		})
	}
}

func TestBackoffAndRetryAfter(t *testing.T) {
	clock := &fakeClock{}
	p := Policy{Retries: 5, Base: time.Second, Max: 5 * time.Second, Sleep: clock.Sleep, Rand: func() float64 { return 0.999999 }}
	throttled := &sdk.Error{Kind: sdk.KindRetryable, Err: errors.New("429"), RetryAfter: 30 * time.Second}
	errs := []error{sdk.Retryable("a"), sdk.Retryable("b"), sdk.Retryable("c"), sdk.Retryable("d"), throttled}
	_ = p.Do(context.Background(), func(_ context.Context, attempt int) error {
		if attempt <= len(errs) {
			return errs[attempt-1]
		}
		return nil
	})
	// Caps 1s, 2s, 4s, 5s (max), then the server's 30s wins over the jitter.
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 30 * time.Second}
	if len(clock.slept) != len(want) {
		t.Fatalf("slept %v", clock.slept)
	}
	for i, d := range clock.slept {
		if d > want[i] || d < want[i]-time.Millisecond {
			t.Errorf("delay %d = %v, want ~%v", i, d, want[i])
		}
	}
	// Full jitter: with rand 0 there is no wait at all.
	if d := (Policy{Rand: func() float64 { return 0 }}).Delay(3, sdk.Retryable("x")); d != 0 {
		t.Errorf("jitter floor = %v", d)
	}
	// A silly Retry-After is bounded.
	huge := &sdk.Error{Kind: sdk.KindRetryable, Err: errors.New("429"), RetryAfter: 24 * time.Hour}
	if d := (Policy{Rand: func() float64 { return 0 }}).Delay(1, huge); d != DefaultMaxRetryAfter {
		t.Errorf("Retry-After bound = %v", d)
	}
}

func TestCanceledDuringWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	p := Policy{Retries: 5, Sleep: func(ctx context.Context, d time.Duration) error {
		cancel() // SIGINT arrives while waiting
		return ctx.Err()
	}}
	err := p.Do(ctx, func(context.Context, int) error { calls++; return sdk.Retryable("503") })
	if calls != 1 || sdk.KindOf(err) != sdk.KindCanceled {
		t.Fatalf("calls=%d err=%v", calls, err)
	}
	// Real timer path, already cancelled: returns at once.
	err = Policy{Retries: 5, Base: time.Hour}.Do(ctx, func(context.Context, int) error { calls++; return nil })
	if sdk.KindOf(err) != sdk.KindCanceled || calls != 1 {
		t.Fatalf("calls=%d err=%v", calls, err)
	}
}

func TestOnRetryTold(t *testing.T) {
	var seen []int
	p := Policy{Retries: 2, Sleep: (&fakeClock{}).Sleep, OnRetry: func(a int, err error, d time.Duration) { seen = append(seen, a) }}
	_ = p.Do(context.Background(), func(context.Context, int) error { return sdk.Retryable("x") })
	if len(seen) != 2 || seen[0] != 1 || seen[1] != 2 {
		t.Fatalf("OnRetry saw %v", seen)
	}
}

// TestOneBudgetPerRequest: loops nested in the same process or across the
// plugin boundary spend one budget, not the product of theirs.
func TestOneBudgetPerRequest(t *testing.T) {
	clock := &fakeClock{}
	calls := 0
	inner := Policy{Retries: 5, Sleep: clock.Sleep}
	outer := Policy{Retries: 3, Sleep: clock.Sleep}
	err := outer.Do(context.Background(), func(ctx context.Context, _ int) error {
		return inner.Do(ctx, func(context.Context, int) error { calls++; return sdk.Retryable("503") })
	})
	if calls != 6 {
		t.Errorf("%d attempts, want 6 (1 + the inner loop's 5 retries)", calls)
	}
	if sdk.KindOf(err) != sdk.KindRetryable || !sdk.IsExhausted(err) || !strings.Contains(err.Error(), "after 6 attempts") {
		t.Errorf("err = %v (kind %v, exhausted %v)", err, sdk.KindOf(err), sdk.IsExhausted(err))
	}
	// A re-classifying wrapper (a plugin's "where") keeps the mark.
	wrapped := &sdk.Error{Kind: sdk.KindRetryable, Err: fmt.Errorf("reading portals/self: %w", err)}
	calls = 0
	if e := outer.Do(context.Background(), func(context.Context, int) error { calls++; return wrapped }); calls != 1 || e != wrapped {
		t.Errorf("an exhausted error was retried: %d calls, %v", calls, e)
	}
}

// TestUnreachableIsBrief: a connection that never opens gets a few quick
// retries, whatever the budget for other faults.
func TestUnreachableIsBrief(t *testing.T) {
	clock := &fakeClock{}
	calls := 0
	down := sdk.WithReason(sdk.KindRetryable, sdk.ReasonUnreachable, errors.New("connection refused"))
	err := Policy{Retries: 5, Sleep: clock.Sleep}.Do(context.Background(), func(context.Context, int) error { calls++; return down })
	if calls != 1+DefaultUnreachableRetries || sdk.ReasonOf(err) != sdk.ReasonUnreachable || !sdk.IsExhausted(err) {
		t.Errorf("%d calls, err %v", calls, err)
	}
}

// TestThrottledBacksOffLonger: throttling is waited out with at least half
// of a longer cap, never a near-zero jittered delay.
func TestThrottledBacksOffLonger(t *testing.T) {
	p := Policy{Base: 500 * time.Millisecond, Max: 30 * time.Second, Rand: func() float64 { return 0 }}
	thr := sdk.WithReason(sdk.KindRetryable, sdk.ReasonThrottled, errors.New("429"))
	for attempt, want := range map[int]time.Duration{1: DefaultThrottleBase / 2, 2: DefaultThrottleBase, 5: 15 * time.Second} {
		if d := p.Delay(attempt, thr); d != want {
			t.Errorf("throttled retry %d: delay %v, want %v", attempt, d, want)
		}
	}
	if d := p.Delay(1, sdk.Retryable("503")); d != 0 {
		t.Errorf("a 5xx keeps full jitter: %v", d)
	}
}

// TestMaxElapsedBoundsTheWhole: "until done" within a time bound, not a
// count: no wait is started that would end past the bound.
func TestMaxElapsedBoundsTheWhole(t *testing.T) {
	calls := 0
	p := Policy{Retries: 1 << 20, Base: 40 * time.Millisecond, Max: 40 * time.Millisecond, MaxElapsed: 300 * time.Millisecond, Rand: func() float64 { return 0.999 }}
	start := time.Now()
	err := p.Do(context.Background(), func(context.Context, int) error { calls++; return sdk.Retryable("busy") })
	if took := time.Since(start); took > 300*time.Millisecond || calls < 4 {
		t.Errorf("%d calls in %s, want several within 300ms", calls, took)
	}
	if !sdk.IsExhausted(err) {
		t.Errorf("err %v not exhausted", err)
	}
}
