// Package arcgisrest helps plugin authors talk to the ArcGIS REST API
// (ArcGIS Online and Portal for ArcGIS) through sdk.Host.Portal or
// sdk.Source.Do: it recognises the portal's error bodies and classifies them
// once, decodes JSON answers, pages through start/num/nextStart listings and
// polls the three kinds of asynchronous job.
//
// The portal usually reports failure as HTTP 200 with a JSON body
// {"error":{"code":498,"message":"Invalid token."}}; some endpoints use a
// real HTTP status, some a top-level {"code":500,"status":"failure"} body and
// jobs {"status":"failed"}. CheckBody treats all of them as failure, the way
// robust ArcGIS clients do, so a plugin never mistakes an error for data.
package arcgisrest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// Error is a failure the portal reported. It is always wrapped in an
// *sdk.Error carrying its classification; use errors.As to reach it.
type Error struct {
	// HTTPStatus is the HTTP status of the response (200 for the common
	// error-in-body case).
	HTTPStatus int
	// Code is the portal's error code ("code" in the body), or the HTTP
	// status when the body had none.
	Code        int
	MessageCode string
	Message     string
	Details     []string
	// URL is the request URL with credentials removed; empty when unknown.
	URL string
	// NoErrorBody: the answer failed by its HTTP status alone, without an
	// ArcGIS error body (an HTML page, or nothing). ArcGIS Online answers
	// bursts of requests so (HTTP 403 with an HTML page), while a real
	// refusal comes as a JSON error.
	NoErrorBody bool
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("portal error")
	if e.Code != 0 {
		fmt.Fprintf(&b, " %d", e.Code)
	}
	if e.MessageCode != "" {
		fmt.Fprintf(&b, " (%s)", e.MessageCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	var det []string
	for _, d := range e.Details {
		if d != "" && d != e.Message {
			det = append(det, d)
		}
	}
	if len(det) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(det, "; "))
		b.WriteString(")")
	}
	if e.URL != "" {
		b.WriteString(" [")
		b.WriteString(e.URL)
		b.WriteString("]")
	}
	return b.String()
}

// errorBody is the union of the error shapes the portal sends.
type errorBody struct {
	Error *struct {
		Code             json.RawMessage `json:"code"`
		MessageCode      string          `json:"messageCode"`
		Message          string          `json:"message"`
		Details          json.RawMessage `json:"details"`
		ErrorDescription string          `json:"error_description"`
	} `json:"error"`
	Code          json.RawMessage `json:"code"`
	Message       string          `json:"message"`
	Status        json.RawMessage `json:"status"`
	StatusMessage json.RawMessage `json:"statusMessage"`
	Success       *bool           `json:"success"`
}

// CheckBody inspects a response whose body has been read. It returns nil for
// a success and a classified error (see Classify) when the HTTP status is
// >= 400, the body has a top-level "error" object, a top-level "code" >= 400,
// or a top-level "status" of "failed"/"failure". rawURL names the request
// in the error; its token parameters are removed.
//
// Job status endpoints answer {"status":"failed"} for a failed job; use
// ParseJob for those so the failure is a job state, not a request error.
func CheckBody(status int, header http.Header, body []byte, rawURL string) error {
	return check(status, header, body, rawURL, true)
}

// CheckErrorBody is CheckBody without the "status failed" rule: it only
// reports unambiguous errors (HTTP >= 400, an "error" object, "code" >= 400).
// A source uses it on every small response, whatever the endpoint.
func CheckErrorBody(status int, header http.Header, body []byte, rawURL string) error {
	return check(status, header, body, rawURL, false)
}

func check(status int, header http.Header, body []byte, rawURL string, statusRule bool) error {
	e := &Error{HTTPStatus: status, URL: RedactURL(rawURL)}
	found := status >= 400
	var eb errorBody
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &eb) == nil {
		switch {
		case eb.Error != nil:
			found = true
			e.Code = jsonInt(eb.Error.Code)
			e.MessageCode = eb.Error.MessageCode
			e.Message = eb.Error.Message
			if e.Message == "" {
				e.Message = eb.Error.ErrorDescription
			}
			e.Details = jsonStrings(eb.Error.Details)
		case jsonInt(eb.Code) >= 400:
			found = true
			e.Code = jsonInt(eb.Code)
			e.Message = eb.Message
		case statusRule && isFailedStatus(eb.Status):
			found = true
			e.Message, e.Code = statusMessage(eb.StatusMessage)
		}
	}
	if !found {
		return nil
	}
	e.NoErrorBody = e.Code == 0 && e.Message == ""
	if e.Code == 0 {
		e.Code = status
	}
	if e.Message == "" && status >= 400 {
		e.Message = http.StatusText(status)
		if s := snippet(trimmed); s != "" && (len(trimmed) == 0 || trimmed[0] != '{') {
			e.Message += ": " + s
		}
	}
	return Classify(e, header)
}

// Classify wraps a portal error with its kind (and reason), once, so that
// the host decides retries and fallbacks in one place:
//   - 498 (invalid or expired token), 499 (token required), 401: auth;
//   - 429 in any form, and HTTP 403 without an ArcGIS error body (the HTML
//     page ArcGIS Online answers bursts with): retryable, reason throttled;
//   - 500, 502, 503, 504: retryable, with Retry-After when the portal sent
//     one (500 "Item does not have a file." is not found instead);
//   - 404, and 400 with messageCode CONT_0001 or "does not exist or is
//     inaccessible": not found;
//   - 403 as an ArcGIS error (JSON): permanent, reason forbidden (the
//     operation is refused to these credentials);
//   - everything else: permanent, with the portal's message.
func Classify(e *Error, header http.Header) error {
	kind, reason := sdk.KindPermanent, sdk.ReasonNone
	msg := strings.ToLower(e.Message)
	code := e.Code
	if code < 400 {
		code = e.HTTPStatus
	}
	switch {
	case code == 498 || code == 499 || code == 401 || e.HTTPStatus == 498 || e.HTTPStatus == 499 || e.HTTPStatus == 401:
		kind = sdk.KindAuth
	case strings.Contains(msg, "does not have a file"):
		kind = sdk.KindNotFound
	case code == 429 || e.HTTPStatus == 429, e.HTTPStatus == 403 && e.NoErrorBody:
		kind, reason = sdk.KindRetryable, sdk.ReasonThrottled
	case code == 500 || code == 502 || code == 503 || code == 504,
		e.HTTPStatus == 502 || e.HTTPStatus == 503 || e.HTTPStatus == 504:
		kind = sdk.KindRetryable
	case code == 404 || e.HTTPStatus == 404 || e.MessageCode == "CONT_0001" ||
		strings.Contains(msg, "does not exist or is inaccessible"):
		kind = sdk.KindNotFound
	case code == 403:
		reason = sdk.ReasonForbidden
	}
	se := &sdk.Error{Kind: kind, Err: e, Reason: reason}
	if kind == sdk.KindRetryable {
		se.RetryAfter = RetryAfter(header, time.Now())
	}
	return se
}

// ClassifyTransport classifies an error from the HTTP transport (no response
// at all): resets, refused connections, timeouts and unexpected EOFs are
// retryable, a cancelled context is cancelled, a TLS certificate problem or a
// malformed URL is permanent. The message never contains a token.
func ClassifyTransport(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error prints the whole URL, token included; rebuild it.
		err = &url.Error{Op: ue.Op, URL: RedactURL(ue.URL), Err: ue.Err}
	}
	if secretInText.MatchString(err.Error()) {
		err = redacted{err}
	}
	if errors.Is(err, context.Canceled) {
		return &sdk.Error{Kind: sdk.KindCanceled, Err: err}
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:") && strings.Contains(msg, "certificate"):
		return &sdk.Error{Kind: sdk.KindPermanent, Err: fmt.Errorf("%w (check ca_file, or that the portal URL is right)", err)}
	case unreachable(err):
		return &sdk.Error{Kind: sdk.KindRetryable, Err: fmt.Errorf("%w (nothing answers there: check that the portal is up and its URL)", err), Reason: sdk.ReasonUnreachable}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		strings.Contains(msg, "EOF"), strings.Contains(msg, "connection reset"), strings.Contains(msg, "broken pipe"),
		strings.Contains(msg, "timeout"):
		return &sdk.Error{Kind: sdk.KindRetryable, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return &sdk.Error{Kind: sdk.KindRetryable, Err: err}
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return &sdk.Error{Kind: sdk.KindRetryable, Err: err}
	}
	return &sdk.Error{Kind: sdk.KindPermanent, Err: err}
}

// unreachable reports a connection that never opened: refused, unknown
// host, no route. (A reset or a timeout is a fault of an open connection.)
func unreachable(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) ||
		strings.Contains(err.Error(), "connection refused") // a transport that does not wrap the errno
}

// secretInText finds credential parameters inside any message text.
var secretInText = regexp.MustCompile(`(?i)\b(token|password|refresh_token|access_token|code_verifier|client_secret|api_key|apikey)=[^&\s"']+`)

// RedactText replaces credential parameter values in free text (error
// messages from libraries that print whole URLs).
func RedactText(s string) string {
	return secretInText.ReplaceAllString(s, "${1}=REDACTED")
}

// redacted hides secrets in a wrapped error's message but keeps the chain
// for errors.Is/As.
type redacted struct{ err error }

func (r redacted) Error() string { return RedactText(r.err.Error()) }
func (r redacted) Unwrap() error { return r.err }

// RetryAfter parses an HTTP Retry-After header (seconds or an HTTP date);
// zero when absent or unparsable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// PortalError returns the portal error inside err, if any.
func PortalError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// secretParams are query/form parameters that carry credentials.
var secretParams = []string{"token", "password", "refresh_token", "access_token", "code", "code_verifier", "client_secret", "api_key", "apiKey"}

// RedactURL removes credential parameters (token, password, ...) from a URL
// so it can appear in an error or a log line.
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Unparsable: drop the query rather than risk printing a token.
		if i := strings.IndexByte(raw, '?'); i >= 0 {
			return raw[:i]
		}
		return raw
	}
	u.User = nil
	if u.RawQuery != "" {
		q := u.Query()
		for _, p := range secretParams {
			if q.Has(p) {
				q.Set(p, "REDACTED")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func isFailedStatus(raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	s = strings.ToLower(s)
	return s == "failed" || s == "failure"
}

// statusMessage reads a job statusMessage, which is sometimes itself a JSON
// string {"code":400,"message":"..."}.
func statusMessage(raw json.RawMessage) (string, int) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return strings.TrimSpace(string(raw)), 0
	}
	var inner struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if strings.HasPrefix(strings.TrimSpace(s), "{") && json.Unmarshal([]byte(s), &inner) == nil && inner.Message != "" {
		return inner.Message, inner.Code
	}
	return s, 0
}

// jsonInt reads a code that is a number or a numeric string.
func jsonInt(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if i, err := n.Int64(); err == nil {
			return int(i)
		}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		i, _ := strconv.Atoi(s)
		return i
	}
	return 0
}

// jsonStrings reads details that are a list of strings, a string, or absent.
func jsonStrings(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var l []any
	if json.Unmarshal(raw, &l) == nil {
		var out []string
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			} else if x != nil {
				b, _ := json.Marshal(x)
				out = append(out, string(b))
			}
		}
		return out
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return []string{s}
	}
	return nil
}

// snippet is the start of a non-JSON error body (an HTML error page), on one
// line, for the message.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
