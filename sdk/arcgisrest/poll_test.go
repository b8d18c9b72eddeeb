package arcgisrest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// clockedJob is a portal whose job completes once the fake clock reaches
// done; it records when each poll came.
type clockedJob struct {
	now   time.Duration
	done  time.Duration
	polls []time.Duration
	waits []time.Duration
}

func (c *clockedJob) do(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	c.polls = append(c.polls, c.now)
	body := `{"status":"processing"}`
	if c.now >= c.done {
		body = `{"status":"completed"}`
	}
	return &sdk.PortalResponse{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}, nil
}

func (c *clockedJob) options() PollOptions {
	return PollOptions{
		Sleep: func(ctx context.Context, d time.Duration) error { c.waits = append(c.waits, d); c.now += d; return nil },
		Now:   func() time.Time { return time.Unix(0, 0).Add(c.now) },
	}
}

func TestPollScheduleAdapts(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		job              time.Duration
		minPolls, maxPol int
		maxLate          time.Duration // how long after the job's end it is seen
	}{
		{0, 1, 1, 0},                   // already done: one poll, no wait
		{1 * s, 2, 2, 1400 * ms},       // 0, 2-2.4
		{2 * s, 2, 2, 400 * ms},        // never polled just before 2 s
		{5 * s, 3, 3, 1000 * ms},       // 0, 2, 5-6
		{60 * s, 13, 18, 4800 * ms},    // ... 9, then every 4-4.8 s
		{600 * s, 125, 152, 4800 * ms}, // not 2,400 polls, nor 30 s late
	}
	for _, tt := range tests {
		c := &clockedJob{done: tt.job}
		j, err := PollJob(context.Background(), c.do, JSON("x", nil), c.options())
		if err != nil || j.State != JobSucceeded {
			t.Fatalf("%v job: %v %+v", tt.job, err, j)
		}
		if n := len(c.polls); n < tt.minPolls || n > tt.maxPol {
			t.Errorf("%v job: %d polls, want %d-%d (at %v)", tt.job, n, tt.minPolls, tt.maxPol, c.polls)
		}
		if late := c.now - tt.job; late > tt.maxLate {
			t.Errorf("%v job seen %v late, want at most %v", tt.job, late, tt.maxLate)
		}
		// Each wait is 1.5 times the one before (plus up to 20 % jitter),
		// from 2 s, never above 4 s + 20 %.
		nominal := DefaultPollInterval
		for i, w := range c.waits {
			lo, hi := nominal, time.Duration(float64(nominal)*1.2)+1
			if w < lo || w > hi {
				t.Errorf("%v job: wait %d is %v, want %v + 0-20%%", tt.job, i, w, nominal)
			}
			nominal = min(nominal*3/2, DefaultMaxPollInterval)
		}
	}
}

func TestPollTimeoutAndCancelWithFakeClock(t *testing.T) {
	c := &clockedJob{done: time.Hour}
	opt := c.options()
	opt.Timeout = 10 * time.Second
	j, err := PollJob(context.Background(), c.do, JSON("x", nil), opt)
	if sdk.KindOf(err) != sdk.KindRetryable || j.Status != "processing" || c.now > opt.Timeout {
		t.Fatalf("timeout: %v %+v after %v", err, j, c.now)
	}

	c = &clockedJob{done: time.Hour}
	opt = c.options()
	ctx, cancel := context.WithCancel(context.Background())
	opt.Sleep = func(ctx context.Context, d time.Duration) error {
		if c.now += d; c.now > 3*time.Second {
			cancel()
			return ctx.Err()
		}
		return nil
	}
	if _, err := PollJob(ctx, c.do, JSON("x", nil), opt); sdk.KindOf(err) != sdk.KindCanceled {
		t.Fatalf("cancel: %v", err)
	}
}

// TestPollTimeoutReadsAtDeadline: a poll with a timeout reads the job at
// the deadline itself, whatever the jitter, and says "timed out" in a way
// the caller can tell from a failure of the status requests.
func TestPollTimeoutReadsAtDeadline(t *testing.T) {
	for _, timeout := range []time.Duration{3 * time.Second, 10 * time.Second, 25 * time.Second} {
		for range 20 { // jitter varies the schedule
			c := &clockedJob{done: time.Hour}
			opt := c.options()
			opt.Timeout = timeout
			_, err := PollJob(context.Background(), c.do, JSON("x", nil), opt)
			if !IsPollTimeout(err) || sdk.KindOf(err) != sdk.KindRetryable {
				t.Fatalf("timeout %v: %v, want a retryable poll timeout", timeout, err)
			}
			if last := c.polls[len(c.polls)-1]; last != timeout {
				t.Fatalf("timeout %v: last poll at %v (polls %v), want at the deadline", timeout, last, c.polls)
			}
		}
		// A job ending just before the deadline is seen as done.
		c := &clockedJob{done: timeout - time.Millisecond}
		opt := c.options()
		opt.Timeout = timeout
		if j, err := PollJob(context.Background(), c.do, JSON("x", nil), opt); err != nil || j.State != JobSucceeded {
			t.Fatalf("job done 1 ms before a %v timeout: %v %+v", timeout, err, j)
		}
	}
	// Failing status requests are not a timeout.
	s := &scripted{bodies: []string{`{"error":{"code":503,"message":"busy"}}`, `{"error":{"code":503,"message":"busy"}}`, `{"error":{"code":503,"message":"busy"}}`, `{"error":{"code":503,"message":"busy"}}`, `{"error":{"code":503,"message":"busy"}}`},
		status: []int{503, 503, 503, 503, 503}}
	if _, err := PollJob(context.Background(), s.do, JSON("x", nil), PollOptions{Interval: time.Millisecond, Timeout: time.Minute}); err == nil || IsPollTimeout(err) {
		t.Fatalf("five failed polls: %v, want an error that is not a poll timeout", err)
	}
}
