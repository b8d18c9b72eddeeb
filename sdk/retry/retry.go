// Package retry is the one place agolpipe retries: errors are classified
// where they are understood (sdk.Retryable, sdk.Auth, ...) and retried here,
// with exponential backoff and jitter, honouring a server's Retry-After.
//
// One retry budget per request: the loop nearest to a request (the source's
// call, an exporter's portal call, the host's sink write) retries it; when
// that loop gives up, the error is marked exhausted (sdk.Error.Exhausted,
// carried across the plugin boundary) and every loop further out passes it
// on without retrying it again. Loops used to nest (engine 4 x source 6 x
// sign-in 6) and an unreachable portal took 21 minutes to be reported.
//
// It lives in the sdk so that the host and plugins share it without
// plugins importing core.
package retry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// Defaults used when a Policy field is zero.
const (
	DefaultRetries       = 3
	DefaultBase          = time.Second
	DefaultMax           = time.Minute
	DefaultMaxRetryAfter = 15 * time.Minute
	// DefaultThrottleBase is the first delay cap after throttling (HTTP 429,
	// ArcGIS's HTML 403 to bursts): ArcGIS sends no Retry-After and cools
	// off in about a minute, so throttling is waited out longer than a 5xx,
	// and never with a near-zero jittered delay.
	DefaultThrottleBase = 4 * time.Second
	// DefaultUnreachableRetries: a connection that never opened (refused,
	// unknown host) is retried this often, briefly; a portal that is down
	// or a wrong URL is reported in seconds, not after the full budget.
	DefaultUnreachableRetries = 2
)

// Policy says how often and how patiently to retry. The zero value retries
// DefaultRetries times with the default delays and a real clock.
type Policy struct {
	// Retries is how many times a failed attempt is repeated (run.retries);
	// negative means never.
	Retries int
	// Base is the delay cap of the first retry; it doubles per retry up to
	// Max. The actual delay is uniform in [0, cap) ("full jitter"), which
	// spreads the retries of many workers hitting the same throttled portal.
	Base, Max time.Duration
	// MaxRetryAfter bounds a server's Retry-After so a bogus header cannot
	// stall a run for hours.
	MaxRetryAfter time.Duration
	// ThrottleBase replaces Base for throttling errors (sdk.ReasonThrottled);
	// their delay is at least half its cap ("equal jitter").
	ThrottleBase time.Duration
	// UnreachableRetries caps the retries of sdk.ReasonUnreachable errors
	// (within Retries); 0 means DefaultUnreachableRetries, negative never.
	UnreachableRetries int
	// MaxElapsed, when set, also bounds the whole: no wait is started that
	// would end more than MaxElapsed after the first attempt (a clean-up
	// retried "until done" within a bound).
	MaxElapsed time.Duration
	// Reauth, when set, is called once per Do on an auth error; if it says it
	// signed in again, the attempt is repeated once (an expired token).
	Reauth func(ctx context.Context, err error) bool
	// OnRetry is told about each retry before its delay (for run.log).
	OnRetry func(attempt int, err error, delay time.Duration)
	// Sleep waits d or until ctx is done; tests replace it with a fake
	// clock. Rand returns a float in [0, 1) for the jitter.
	Sleep func(ctx context.Context, d time.Duration) error
	Rand  func() float64
}

// Do calls fn until it succeeds, returns an error that is not retryable, or
// the retries are used up; it returns fn's last error, still classified,
// with the attempt count added when there was more than one. attempt starts
// at 1. Cancellation of ctx ends Do at once with a canceled error.
//
// An error already exhausted by an inner loop (sdk.IsExhausted) is returned
// at once; a retryable error Do gives up on is returned exhausted.
func (p Policy) Do(ctx context.Context, fn func(ctx context.Context, attempt int) error) error {
	retries := p.Retries
	if retries == 0 {
		retries = DefaultRetries
	}
	if retries < 0 {
		retries = 0
	}
	unreachable := p.UnreachableRetries
	if unreachable == 0 {
		unreachable = DefaultUnreachableRetries
	}
	unreachable = min(max(unreachable, 0), retries)
	started := time.Now()
	reauthed := false
	var err error
	for attempt := 1; ; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			return sdk.Classify(sdk.KindCanceled, cerr)
		}
		err = fn(ctx, attempt)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return sdk.Classify(sdk.KindCanceled, fmt.Errorf("%w (while: %v)", ctx.Err(), err))
		}
		if sdk.IsExhausted(err) {
			// An inner loop spent this request's budget already.
			return err
		}
		var delay time.Duration
		switch sdk.KindOf(err) {
		case sdk.KindRetryable:
			limit := retries
			if sdk.ReasonOf(err) == sdk.ReasonUnreachable {
				limit = unreachable
			}
			if attempt > limit {
				return exhausted(err, attempt)
			}
			delay = p.Delay(attempt, err)
			if p.MaxElapsed > 0 && time.Since(started)+delay > p.MaxElapsed {
				return exhausted(err, attempt)
			}
		case sdk.KindAuth:
			if reauthed || p.Reauth == nil || !p.Reauth(ctx, err) {
				return wrap(err, attempt)
			}
			reauthed = true
		default:
			return wrap(err, attempt)
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, err, delay)
		}
		if delay > 0 {
			if serr := p.sleep(ctx, delay); serr != nil {
				return sdk.Classify(sdk.KindCanceled, fmt.Errorf("%w (while waiting to retry: %v)", serr, err))
			}
		}
	}
}

// Delay returns the wait before retry number attempt (1 for the first
// retry) after err: full jitter on an exponential cap, but never less than
// the Retry-After the server asked for.
func (p Policy) Delay(attempt int, err error) time.Duration {
	base, maxD := p.Base, p.Max
	if base <= 0 {
		base = DefaultBase
	}
	if maxD <= 0 {
		maxD = DefaultMax
	}
	throttled := sdk.ReasonOf(err) == sdk.ReasonThrottled
	if throttled {
		base = p.ThrottleBase
		if base <= 0 {
			base = DefaultThrottleBase
		}
		maxD = max(maxD, base)
	}
	limit := base
	for i := 1; i < attempt && limit < maxD; i++ {
		limit *= 2
	}
	limit = min(limit, maxD)
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	d := time.Duration(r() * float64(limit))
	if throttled {
		d = limit/2 + time.Duration(r()*float64(limit/2))
	}
	if ra := sdk.RetryAfterOf(err); ra > 0 {
		maxRA := p.MaxRetryAfter
		if maxRA <= 0 {
			maxRA = DefaultMaxRetryAfter
		}
		d = max(d, min(ra, maxRA))
	}
	return d
}

func (p Policy) sleep(ctx context.Context, d time.Duration) error {
	if p.Sleep != nil {
		return p.Sleep(ctx, d)
	}
	return Sleep(ctx, d)
}

// Sleep waits d, or less when ctx ends first (then it returns ctx's error).
// Every wait between attempts or polls in agolpipe goes through it, so a
// cancelled run never sits out a backoff.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func wrap(err error, attempts int) error {
	if attempts == 1 {
		return err
	}
	return fmt.Errorf("%w (after %d attempts)", err, attempts)
}

// exhausted marks a retryable error this loop gave up on, keeping its kind,
// reason and Retry-After, so that no loop further out retries it again.
func exhausted(err error, attempts int) error {
	return &sdk.Error{Kind: sdk.KindOf(err), Err: wrap(err, attempts), RetryAfter: sdk.RetryAfterOf(err),
		Reason: sdk.ReasonOf(err), Exhausted: true}
}
