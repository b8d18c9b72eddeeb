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
