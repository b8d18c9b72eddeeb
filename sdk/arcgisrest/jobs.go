package arcgisrest

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// JobState is where an asynchronous portal job is.
type JobState string

const (
	JobRunning   JobState = "running"
	JobSucceeded JobState = "succeeded"
	// JobPartial: finished with errors (replica "CompletedWithErrors").
	JobPartial  JobState = "partial"
	JobFailed   JobState = "failed"
	JobCanceled JobState = "canceled"
)

// Terminal reports whether the job has stopped.
func (s JobState) Terminal() bool { return s != JobRunning }

// Job is one reading of a job's status, whatever the pattern.
type Job struct {
	State JobState
	// Status is the portal's own word ("processing", "esriJobExecuting",
	// "Pending"), for progress displays.
	Status  string
	Message string
	// ResultURL is the download of a createReplica / admin job (resultUrl).
	ResultURL string
	// Results are the result parameters of a GP job (exportTiles):
	// name -> {"paramUrl": "results/<name>"}.
	Results map[string]json.RawMessage
	// ItemID is set by item status answers.
	ItemID string
	Raw    json.RawMessage
}

// ParseJob reads a job status body in any of the three ArcGIS patterns:
//  1. sharing API item status: {"status":"processing|completed|failed|partial", "statusMessage"}
//     ("partial" is an uncommitted multipart upload, so still running);
//  2. geoprocessing jobs (exportTiles): {"jobId","jobStatus":"esriJob..."};
//  3. feature service replica/admin jobs polled at statusUrl:
//     {"status":"Pending|InProgress|Completed|CompletedWithErrors|Failed","resultUrl"}.
//
// A body with an "error" object is returned as a classified error.
func ParseJob(body []byte) (Job, error) {
	if err := CheckErrorBody(200, nil, body, ""); err != nil {
		return Job{}, err
	}
	var b struct {
		Status        string                               `json:"status"`
		StatusMessage json.RawMessage                      `json:"statusMessage"`
		JobStatus     string                               `json:"jobStatus"`
		Messages      []struct{ Type, Description string } `json:"messages"`
		ResultURL     string                               `json:"resultUrl"`
		ResultURL2    string                               `json:"resultURL"`
		Results       map[string]json.RawMessage           `json:"results"`
		ItemID        string                               `json:"itemId"`
		Success       *bool                                `json:"success"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return Job{}, sdk.Permanent("job status is not the expected JSON (%v): %s", err, snippet(body))
	}
	j := Job{ResultURL: b.ResultURL, Results: b.Results, ItemID: b.ItemID, Raw: json.RawMessage(body)}
	if j.ResultURL == "" {
		j.ResultURL = b.ResultURL2
	}
	j.Message, _ = statusMessage(b.StatusMessage)
	switch {
	case b.JobStatus != "":
		j.Status = b.JobStatus
		switch b.JobStatus {
		case "esriJobSucceeded":
			j.State = JobSucceeded
		case "esriJobFailed", "esriJobTimedOut":
			j.State = JobFailed
		case "esriJobCancelled", "esriJobCancelling":
			j.State = JobCanceled
		default:
			j.State = JobRunning
		}
		var msgs []string
		for _, m := range b.Messages {
			if strings.Contains(strings.ToLower(m.Type), "error") && m.Description != "" {
				msgs = append(msgs, m.Description)
			}
		}
		if j.Message == "" {
			j.Message = strings.Join(msgs, "; ")
		}
	case b.Status != "":
		j.Status = b.Status
		switch strings.ToLower(strings.ReplaceAll(b.Status, " ", "")) {
		case "completed", "complete", "success", "succeeded":
			j.State = JobSucceeded
		case "completedwitherrors":
			j.State = JobPartial
		case "failed", "failure", "error":
			j.State = JobFailed
		case "cancelled", "canceled":
			j.State = JobCanceled
		default: // processing, partial (upload not committed), pending, inprogress, ...
			j.State = JobRunning
		}
	case b.Success != nil:
		// Synchronous admin operations answer {"success":true|false}.
		j.Status = "success"
		j.State = JobSucceeded
		if !*b.Success {
			j.Status, j.State = "failure", JobFailed
		}
	default:
		return Job{}, sdk.Permanent("job status has neither status nor jobStatus: %s", snippet(body))
	}
	return j, nil
}

// Default poll schedule: PollJob asks at once, then after 2 s, and each
// wait is 1.5 times the one before, up to 4 s, each lengthened by up to 20 %
// of jitter so that many items' polls spread out: 0, 2, 5, 9, then every
// 4-4.8 s. A long job is seen at most about 5 s after it ends (the earlier
// cap of 30 s left a 30 s job about 10 s late), while polls stay at ArcGIS's
// comfortable pace of one every few seconds (about 75 in five minutes).
// Shorter first waits were measured (250 ms growing by 1.5): with the 2 s
// jobs of bench/backup they added 1,600 polls and made the run 8 % slower,
// as every poll costs a round trip through the host and the source.
// Jitter only lengthens a wait, so a poll never comes before its nominal
// time (a 2 s job polled at 1.9 s would wait 3 s more).
const (
	DefaultPollInterval    = 2 * time.Second
	DefaultMaxPollInterval = 4 * time.Second
	pollGrowth             = 1.5
	pollJitter             = 0.2
)

// PollOptions tune PollJob. Zero values take the defaults.
type PollOptions struct {
	// Interval is the first wait between polls (default 2 s); each wait is
	// 1.5 times the previous one up to MaxInterval (default 4 s), plus up to
	// 20 % of jitter.
	Interval    time.Duration
	MaxInterval time.Duration
	// Timeout stops polling (not the job) after this long; 0 means until
	// ctx ends. The last wait is shortened to end at the deadline, where the
	// job is read once more, so a job is given its whole timeout whatever
	// the poll schedule. A timed-out poll returns the last reading and a
	// *PollTimeoutError (kind retryable; IsPollTimeout tells it), so the
	// caller can leave the job running and come back to it later.
	Timeout time.Duration
	// OnStatus, when set, is called with every reading (progress display).
	OnStatus func(Job)
	// Sleep and Now are the clock (tests inject a fake one); nil means a
	// timer that ctx interrupts, and time.Now. Sleep returns ctx's error
	// when ctx ends first.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

// PollJob polls req (an item status URL, a GP job URL or a statusUrl) until
// the job is terminal and returns the last reading, on the schedule
// described at DefaultPollInterval. Transient errors while polling
// (retryable, and auth which the source renews) are tolerated up to five in
// a row. A job that ended failed or cancelled is returned with a nil error:
// the caller decides what a failed job means for its item.
func PollJob(ctx context.Context, p Portal, req sdk.PortalRequest, opt PollOptions) (Job, error) {
	if opt.Interval <= 0 {
		opt.Interval = DefaultPollInterval
	}
	if opt.MaxInterval <= 0 {
		opt.MaxInterval = DefaultMaxPollInterval
	}
	if opt.MaxInterval < opt.Interval {
		opt.MaxInterval = opt.Interval
	}
	if opt.Sleep == nil {
		opt.Sleep = retry.Sleep
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	var deadline time.Time
	if opt.Timeout > 0 {
		deadline = opt.Now().Add(opt.Timeout)
	}
	wait := opt.Interval
	var last Job
	fails := 0
	atDeadline := false
	for {
		j, err := pollOnce(ctx, p, req)
		if err != nil {
			k := sdk.KindOf(err)
			if (k != sdk.KindRetryable && k != sdk.KindAuth) || fails >= 4 {
				return last, err
			}
			fails++
		} else {
			fails = 0
			last = j
			if opt.OnStatus != nil {
				opt.OnStatus(j)
			}
			if j.State.Terminal() {
				return j, nil
			}
		}
		d := jitter(wait)
		if !deadline.IsZero() {
			if atDeadline {
				return last, &sdk.Error{Kind: sdk.KindRetryable, Err: &PollTimeoutError{After: opt.Timeout, Status: last.Status}}
			}
			// The deadline is a promise to the job, not to the schedule:
			// the last wait ends at it and the job is read there once more
			// (stopping a whole poll interval early made the caller's
			// "timed out?" question depend on the jitter).
			if left := deadline.Sub(opt.Now()); d >= left {
				d, atDeadline = max(left, 0), true
			}
		}
		if err := opt.Sleep(ctx, d); err != nil {
			return last, &sdk.Error{Kind: sdk.KindCanceled, Err: err}
		}
		wait = min(time.Duration(float64(wait)*pollGrowth), opt.MaxInterval)
	}
}

// jitter lengthens d by up to pollJitter.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(float64(d)*pollJitter)+1))
}

func pollOnce(ctx context.Context, p Portal, req sdk.PortalRequest) (Job, error) {
	resp, err := p(ctx, req)
	if err != nil {
		return Job{}, err
	}
	b, err := ReadBody(resp)
	if err != nil {
		return Job{}, err
	}
	if resp.StatusCode >= 400 {
		if err := CheckErrorBody(resp.StatusCode, resp.Header, b, ""); err != nil {
			return Job{}, err
		}
	}
	return ParseJob(b)
}

// PollTimeoutError is the error of a PollJob whose Timeout passed while the
// job was still running. It is wrapped in an *sdk.Error of kind retryable.
type PollTimeoutError struct {
	After  time.Duration
	Status string
}

func (e *PollTimeoutError) Error() string {
	return "job still " + e.Status + " after " + e.After.String() + "; it keeps running on the portal"
}

// IsPollTimeout reports whether err is PollJob's timeout: the job was
// still running when the caller's time for it ran out (a transient failure
// of the status requests themselves is not one).
func IsPollTimeout(err error) bool {
	var t *PollTimeoutError
	return errors.As(err, &t)
}
