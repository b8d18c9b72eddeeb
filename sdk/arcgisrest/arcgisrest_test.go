package arcgisrest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckBodyFixtures(t *testing.T) {
	tests := []struct {
		file     string
		status   int
		kind     sdk.ErrorKind
		code     int
		contains string
	}{
		{"error-498-invalid-token.json", 200, sdk.KindAuth, 498, "Invalid token."},
		{"error-499-token-required.json", 200, sdk.KindAuth, 499, "GWM_0003"},
		{"error-498-refresh-token-expired.json", 200, sdk.KindAuth, 498, "refresh_token expired"},
		{"error-403-no-permission.json", 200, sdk.KindPermanent, 403, "do not have permissions"},
		{"error-400-item-not-found-CONT_0001.json", 200, sdk.KindNotFound, 400, "CONT_0001"},
		{"error-400-item-not-found-CONT_0001.json", 400, sdk.KindNotFound, 400, "does not exist"},
		{"error-500-item-has-no-file.json", 200, sdk.KindNotFound, 500, "does not have a file"},
		{"error-400-generate-token-failed.json", 200, sdk.KindPermanent, 400, "Invalid username or password."},
		{"error-400-missing-type-title.json", 200, sdk.KindPermanent, 400, "'type' and 'title'"},
		{"error-400-feature-service-invalid-params.json", 200, sdk.KindPermanent, 400, "Invalid or missing input"},
		{"error-400-add-to-definition.json", 200, sdk.KindPermanent, 400, "Object reference not set"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.file, tc.status), func(t *testing.T) {
			err := CheckBody(tc.status, http.Header{}, fixture(t, tc.file), "https://x.test/sharing/rest/content/items/1?f=json&token=SECRET")
			if err == nil {
				t.Fatal("no error detected")
			}
			if got := sdk.KindOf(err); got != tc.kind {
				t.Errorf("kind = %v, want %v (%v)", got, tc.kind, err)
			}
			pe, ok := PortalError(err)
			if !ok {
				t.Fatalf("no *Error inside %T", err)
			}
			if pe.Code != tc.code {
				t.Errorf("code = %d, want %d", pe.Code, tc.code)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("message %q lacks %q", err, tc.contains)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("token leaked into %q", err)
			}
		})
	}
}

func TestCheckBodyShapes(t *testing.T) {
	h429 := http.Header{"Retry-After": {"7"}}
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   sdk.ErrorKind // -1: no error
		retry  time.Duration
	}{
		{"success", 200, nil, `{"id":"abc","title":"x"}`, -1, 0},
		{"success with status completed", 200, nil, `{"status":"completed"}`, -1, 0},
		{"empty body 200", 200, nil, ``, -1, 0},
		{"billing failure", 200, nil, `{"code":500,"message":"billing","status":"failure"}`, sdk.KindRetryable, 0},
		{"job failed json statusMessage", 200, nil, `{"status":"failed","statusMessage":"{\"code\":400,\"message\":\"bad layer\"}"}`, sdk.KindPermanent, 0},
		{"429 with retry-after", 429, h429, `{"error":{"code":429,"message":"Too many requests"}}`, sdk.KindRetryable, 7 * time.Second},
		{"429 html", 429, nil, `<html>slow down</html>`, sdk.KindRetryable, 0},
		{"502 bare", 502, nil, ``, sdk.KindRetryable, 0},
		{"503 in body", 200, nil, `{"error":{"code":503,"message":"unavailable"}}`, sdk.KindRetryable, 0},
		{"504", 504, nil, `gateway timeout`, sdk.KindRetryable, 0},
		{"404", 404, nil, `not here`, sdk.KindNotFound, 0},
		{"401", 401, nil, ``, sdk.KindAuth, 0},
		{"403 html (burst throttling)", 403, nil, `<html><body><h1>403 Forbidden</h1></body></html>`, sdk.KindRetryable, 0},
		{"403 bare (burst throttling)", 403, nil, ``, sdk.KindRetryable, 0},
		{"403 json at HTTP 403", 403, nil, `{"error":{"code":403,"message":"You do not have permissions to access this resource or perform this operation."}}`, sdk.KindPermanent, 0},
		{"code as string", 200, nil, `{"error":{"code":"498","message":"Invalid token."}}`, sdk.KindAuth, 0},
		{"details null", 200, nil, `{"error":{"code":400,"message":"x","details":null}}`, sdk.KindPermanent, 0},
		{"group not found", 200, nil, `{"error":{"code":400,"message":"Item or group does not exist or is inaccessible: abc"}}`, sdk.KindNotFound, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckBody(tc.status, tc.header, []byte(tc.body), "")
			if tc.want == -1 {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("error not detected")
			}
			if got := sdk.KindOf(err); got != tc.want {
				t.Errorf("kind = %v, want %v (%v)", got, tc.want, err)
			}
			if got := sdk.RetryAfterOf(err); got != tc.retry {
				t.Errorf("retry after = %v, want %v", got, tc.retry)
			}
		})
	}
}

// TestCheckBodyReasons: the reasons decisions are taken on (fallback,
// backoff) come from the answer's shape and code, in every form ArcGIS
// uses: the fixture's 403, 429 with or without Retry-After, JSON or HTML,
// and the HTML 403 page of ArcGIS Online's burst protection.
func TestCheckBodyReasons(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   []byte
		want   sdk.Reason
	}{
		{"fixture 403", 200, fixture(t, "error-403-no-permission.json"), sdk.ReasonForbidden},
		{"fixture 403 at HTTP 403", 403, fixture(t, "error-403-no-permission.json"), sdk.ReasonForbidden},
		{"429 json", 200, []byte(`{"error":{"code":429,"message":"Too many requests. Please try again later."}}`), sdk.ReasonThrottled},
		{"429 json at HTTP 429", 429, []byte(`{"error":{"code":429,"message":"Too many requests"}}`), sdk.ReasonThrottled},
		{"429 html", 429, []byte(`<html>slow down</html>`), sdk.ReasonThrottled},
		{"403 html burst", 403, []byte(`<html><body><h1>403 Forbidden</h1></body></html>`), sdk.ReasonThrottled},
		{"503", 503, nil, sdk.ReasonNone},
		{"400", 200, fixture(t, "error-400-missing-type-title.json"), sdk.ReasonNone},
		{"498", 200, fixture(t, "error-498-invalid-token.json"), sdk.ReasonNone},
	}
	for _, tc := range tests {
		err := CheckBody(tc.status, http.Header{}, tc.body, "")
		if got := sdk.ReasonOf(err); got != tc.want {
			t.Errorf("%s: reason %v, want %v (%v)", tc.name, got, tc.want, err)
		}
	}
}

// TestClassifyTransportUnreachable: a refused connection is "unreachable"
// (retryable, named as such), not a refusal by the portal.
func TestClassifyTransportUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = http.Get("http://" + addr + "/sharing/rest?token=SECRET")
	cerr := ClassifyTransport(err)
	if sdk.KindOf(cerr) != sdk.KindRetryable || sdk.ReasonOf(cerr) != sdk.ReasonUnreachable {
		t.Errorf("refused connection: kind %v reason %v (%v)", sdk.KindOf(cerr), sdk.ReasonOf(cerr), cerr)
	}
	if strings.Contains(cerr.Error(), "SECRET") {
		t.Errorf("token in %q", cerr)
	}
	if r := sdk.ReasonOf(ClassifyTransport(io.ErrUnexpectedEOF)); r != sdk.ReasonNone {
		t.Errorf("a cut body is %v", r)
	}
}

func TestCheckErrorBodyIgnoresJobStatus(t *testing.T) {
	if err := CheckErrorBody(200, nil, []byte(`{"status":"failed","statusMessage":"x"}`), ""); err != nil {
		t.Fatalf("CheckErrorBody must leave job states to ParseJob: %v", err)
	}
	if err := CheckErrorBody(200, nil, fixture(t, "error-498-invalid-token.json"), ""); sdk.KindOf(err) != sdk.KindAuth {
		t.Fatalf("498 not detected: %v", err)
	}
}

func TestRedactURL(t *testing.T) {
	in := "https://org.maps.arcgis.com/sharing/rest/search?q=x&token=abc123&password=pw"
	out := RedactURL(in)
	if strings.Contains(out, "abc123") || strings.Contains(out, "pw&") || strings.HasSuffix(out, "=pw") {
		t.Fatalf("secret left in %q", out)
	}
	if !strings.Contains(out, "q=x") {
		t.Fatalf("non-secret parameter lost: %q", out)
	}
}

func TestClassifyTransportRedacts(t *testing.T) {
	err := ClassifyTransport(&url.Error{Op: "Get", URL: "https://h/sharing/rest/x?token=SECRET", Err: syscall.ECONNRESET})
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("token in %q", err)
	}
	err = ClassifyTransport(&urlErr{"https://h/sharing/rest/x?token=SECRET"})
	if strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("token in %q", err)
	}
	if sdk.KindOf(err) != sdk.KindRetryable {
		t.Fatalf("reset should be retryable, got %v", sdk.KindOf(err))
	}
	if k := sdk.KindOf(ClassifyTransport(fmt.Errorf("x: %w", context.Canceled))); k != sdk.KindCanceled {
		t.Fatalf("canceled: %v", k)
	}
	if k := sdk.KindOf(ClassifyTransport(errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"))); k != sdk.KindPermanent {
		t.Fatalf("x509: %v", k)
	}
}

type urlErr struct{ u string }

func (u *urlErr) Error() string { return "Get " + u.u + ": read: connection reset by peer" }

func TestParseJob(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		state  JobState
		result string
	}{
		{"item status fixture", string(fixture(t, "item-status-completed.json")), JobSucceeded, ""},
		{"gp fixture", string(fixture(t, "gp-job-succeeded.json")), JobSucceeded, ""},
		{"item processing", `{"status":"processing","itemId":"a"}`, JobRunning, ""},
		{"upload partial is running", `{"status":"partial"}`, JobRunning, ""},
		{"item failed", `{"status":"failed","statusMessage":"Export failed"}`, JobFailed, ""},
		{"gp executing", `{"jobId":"j","jobStatus":"esriJobExecuting"}`, JobRunning, ""},
		{"gp timed out", `{"jobId":"j","jobStatus":"esriJobTimedOut"}`, JobFailed, ""},
		{"gp cancelled", `{"jobId":"j","jobStatus":"esriJobCancelled"}`, JobCanceled, ""},
		{"replica pending", `{"status":"Pending"}`, JobRunning, ""},
		{"replica done", `{"status":"Completed","resultUrl":"https://h/r.zip"}`, JobSucceeded, "https://h/r.zip"},
		{"replica with errors", `{"status":"Completed With Errors","resultUrl":"https://h/r.zip"}`, JobPartial, "https://h/r.zip"},
		{"replica errors compact", `{"status":"CompletedWithErrors"}`, JobPartial, ""},
		{"admin success", `{"success":true}`, JobSucceeded, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := ParseJob([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if j.State != tc.state || j.ResultURL != tc.result {
				t.Fatalf("got %s %q, want %s %q", j.State, j.ResultURL, tc.state, tc.result)
			}
		})
	}
	j, _ := ParseJob(fixture(t, "gp-job-succeeded.json"))
	if _, ok := j.Results["Output_Features"]; !ok {
		t.Errorf("GP results lost: %v", j.Results)
	}
	if _, err := ParseJob(fixture(t, "error-498-invalid-token.json")); sdk.KindOf(err) != sdk.KindAuth {
		t.Errorf("error body in job poll: %v", err)
	}
}

// scripted is a Portal answering each call with the next body.
type scripted struct {
	bodies []string
	status []int
	calls  []sdk.PortalRequest
}

func (s *scripted) do(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	i := len(s.calls)
	s.calls = append(s.calls, req)
	if i >= len(s.bodies) {
		return nil, errors.New("too many calls")
	}
	st := 200
	if i < len(s.status) && s.status[i] != 0 {
		st = s.status[i]
	}
	return &sdk.PortalResponse{StatusCode: st, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(s.bodies[i]))}, nil
}

func TestPollJob(t *testing.T) {
	s := &scripted{
		bodies: []string{`{"status":"processing"}`, `{"error":{"code":503,"message":"busy"}}`, `{"status":"processing"}`, `{"status":"completed","itemId":"x"}`},
		status: []int{200, 503},
	}
	var seen []string
	j, err := PollJob(context.Background(), s.do, JSON("content/users/u/items/x/status", nil), PollOptions{Interval: time.Millisecond, OnStatus: func(j Job) { seen = append(seen, j.Status) }})
	if err != nil {
		t.Fatal(err)
	}
	if j.State != JobSucceeded || j.ItemID != "x" || len(s.calls) != 4 {
		t.Fatalf("state %s item %q after %d calls", j.State, j.ItemID, len(s.calls))
	}
	if len(seen) != 3 {
		t.Errorf("progress callbacks %v", seen)
	}

	// A permanent error stops polling at once.
	s = &scripted{bodies: []string{string(fixture(t, "error-400-item-not-found-CONT_0001.json"))}}
	if _, err := PollJob(context.Background(), s.do, JSON("x", nil), PollOptions{Interval: time.Millisecond}); !sdk.IsNotFound(err) {
		t.Fatalf("want not found, got %v", err)
	}

	// Timeout: returns retryable with the last reading.
	s = &scripted{bodies: []string{`{"status":"processing"}`, `{"status":"processing"}`, `{"status":"processing"}`, `{"status":"processing"}`}}
	j, err = PollJob(context.Background(), s.do, JSON("x", nil), PollOptions{Interval: 5 * time.Millisecond, Timeout: 12 * time.Millisecond})
	if sdk.KindOf(err) != sdk.KindRetryable || j.Status != "processing" {
		t.Fatalf("timeout: %v %+v", err, j)
	}
}

func TestForEachPage(t *testing.T) {
	s := &scripted{bodies: []string{
		`{"total":5,"start":1,"num":2,"nextStart":3,"results":[{"id":"a"},{"id":"b"}]}`,
		`{"total":5,"start":3,"num":2,"nextStart":5,"results":[{"id":"c"},{"id":"d"}]}`,
		`{"total":5,"start":5,"num":2,"nextStart":-1,"results":[{"id":"e"}]}`,
	}}
	var ids []string
	err := ForEachPage(context.Background(), s.do, JSON("search", map[string][]string{"q": {"orgid:x"}}), 2, func(p Page, body []byte) error {
		var r struct{ Results []struct{ ID string } }
		if err := json.Unmarshal(body, &r); err != nil {
			return err
		}
		for _, x := range r.Results {
			ids = append(ids, x.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, "") != "abcde" {
		t.Fatalf("ids %v", ids)
	}
	if got := s.calls[1].Query.Get("start"); got != "3" {
		t.Errorf("second page start=%s", got)
	}
	if s.calls[0].Query.Get("q") != "orgid:x" || s.calls[0].Query.Get("num") != "2" {
		t.Errorf("query lost: %v", s.calls[0].Query)
	}

	// A portal repeating nextStart must not loop forever.
	s = &scripted{bodies: []string{`{"total":9,"start":1,"nextStart":1,"results":[]}`}}
	if err := ForEachPage(context.Background(), s.do, JSON("search", nil), 100, func(Page, []byte) error { return nil }); err != nil || len(s.calls) != 1 {
		t.Fatalf("loop guard: %v after %d calls", err, len(s.calls))
	}

	// Real fixture: user content paging envelope.
	var pg Page
	if err := json.Unmarshal(fixture(t, "user-content.json"), &pg); err != nil || pg.NextStart != 3 || pg.Total != 20 {
		t.Fatalf("fixture page %+v %v", pg, err)
	}
}

func TestDecodeJSON(t *testing.T) {
	resp := func(b string) *sdk.PortalResponse {
		return &sdk.PortalResponse{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(bytes.NewBufferString(b))}
	}
	var v struct{ Total int }
	if err := DecodeJSON(resp(string(fixture(t, "search-items.json"))), &v); err != nil || v.Total != 10795 {
		t.Fatalf("decode: %v %d", err, v.Total)
	}
	if err := DecodeJSON(resp(""), &v); !sdk.IsNotFound(err) {
		t.Fatalf("empty body should be not found: %v", err)
	}
	if err := DecodeJSON(resp("<html>Sign in</html>"), &v); sdk.KindOf(err) != sdk.KindPermanent || !strings.Contains(err.Error(), "Sign in") {
		t.Fatalf("html: %v", err)
	}
	if err := DecodeJSON(resp(string(fixture(t, "error-498-invalid-token.json"))), &v); sdk.KindOf(err) != sdk.KindAuth {
		t.Fatalf("auth: %v", err)
	}
}

// TestDecodeJSONCutBody: a JSON answer cut off on the way (shorter than
// its Content-Length, or ending mid-document) is retryable, not a
// permanent "not JSON".
func TestDecodeJSONCutBody(t *testing.T) {
	full := `{"id":"abc","title":"Parks","tags":["a","b"]}`
	for _, tc := range []struct {
		name string
		body string
		cl   string
	}{
		{"short of Content-Length", full[:20], fmt.Sprint(len(full))},
		{"ends mid-document", full[:20], ""},
	} {
		h := http.Header{}
		if tc.cl != "" {
			h.Set("Content-Length", tc.cl)
		}
		var v map[string]any
		err := DecodeJSON(&sdk.PortalResponse{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(tc.body))}, &v)
		if sdk.KindOf(err) != sdk.KindRetryable {
			t.Errorf("%s: %v (%v), want retryable", tc.name, err, sdk.KindOf(err))
		}
	}
	var v map[string]any
	if err := DecodeJSON(&sdk.PortalResponse{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("<html>login</html>"))}, &v); sdk.KindOf(err) != sdk.KindPermanent {
		t.Errorf("an HTML page: %v, want permanent", err)
	}
}
