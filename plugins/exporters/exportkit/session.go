// Package exportkit is what the built-in exporters share: portal calls
// retried through sdk/retry (one budget per request), downloads that resume with HTTP Range after a
// connection reset, the description artifacts every item gets (item.json,
// thumbnail, metadata.xml) and the relationships artifact.
//
// Everything goes through sdk.Host.Portal, so an exporter never holds a
// credential, and every artifact streams: nothing here reads a download
// whole into memory.
package exportkit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// DefaultRetry is the retry policy of exporter portal calls when the
// exporter sets none: a few more attempts than the host default, because one
// item's export is a chain of many calls and losing it to one transient
// fault late in the chain wastes the whole portal job.
var DefaultRetry = retry.Policy{Retries: 5, Base: 500 * time.Millisecond, Max: 30 * time.Second}

// Session is one item's export: the host, the item, the artifact writer
// and the policies. It is not safe for concurrent use except where a method
// says so.
type Session struct {
	Host  sdk.Host
	Out   sdk.ArtifactWriter
	Req   sdk.ExportRequest
	Retry retry.Policy
	// Warnings collects problems that did not fail the item.
	Warnings []string
	// Partial collects reasons the item is only partly saved; Result adds
	// them to the exporter's own.
	Partial []string
	// DataFormat is the format the item's data was saved in (set by the
	// save helpers and exporters when the data artifact is stored); Result
	// reports it so the manifest names the data's format, not that of
	// service.json or item.json.
	DataFormat string
}

// NewSession returns a session; a zero pol takes DefaultRetry.
func NewSession(host sdk.Host, out sdk.ArtifactWriter, req sdk.ExportRequest, pol retry.Policy) *Session {
	if pol.Retries == 0 && pol.Base == 0 {
		pol = DefaultRetry
	}
	return &Session{Host: host, Out: out, Req: req, Retry: pol}
}

// Item is the item being exported.
func (s *Session) Item() sdk.Item { return s.Req.Item }

// Warn records a warning and logs it.
func (s *Session) Warn(ctx context.Context, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.Warnings = append(s.Warnings, msg)
	s.Host.Log(ctx, sdk.LogWarn, msg)
}

// Logf logs an informational line.
func (s *Session) Logf(ctx context.Context, format string, args ...any) {
	s.Host.Log(ctx, sdk.LogInfo, fmt.Sprintf(format, args...))
}

// Progress reports a stage of the item.
func (s *Session) Progress(ctx context.Context, stage string, pct float64) {
	s.Host.Progress(ctx, sdk.Progress{ItemID: s.Req.Item.ID, Stage: stage, Percent: pct})
}

// Portal is the host's portal call as an arcgisrest.Portal, not retried.
func (s *Session) Portal() arcgisrest.Portal { return s.Host.Portal }

// GetJSON performs an idempotent JSON request, retried, and decodes it.
func (s *Session) GetJSON(ctx context.Context, req sdk.PortalRequest, v any) error {
	return s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		return arcgisrest.GetJSON(ctx, s.Host.Portal, req, v)
	})
}

// PostJSON performs a JSON operation once per attempt. Only use it for
// operations that are safe to repeat (delete, status), or whose repetition
// the caller cleans up (export: see the feature_service exporter).
func (s *Session) PostJSON(ctx context.Context, req sdk.PortalRequest, v any) error {
	return s.GetJSON(ctx, req, v)
}

// Download is an open portal download.
type Download struct {
	io.ReadCloser
	Header http.Header
	// Size is the full length when the portal said so, else -1.
	Size int64
}

// Open starts a download of req, retried, whose body resumes transparently
// from where it broke (PortalRequest.Offset) after a retryable read error.
// The caller closes it.
//
// A body that ends before its Content-Length is not an end: the download
// resumes from there, and fails (retryable) when it cannot complete; it
// never reports io.EOF for fewer bytes than announced.
func (s *Session) Open(ctx context.Context, req sdk.PortalRequest) (*Download, error) {
	return s.OpenSized(ctx, req, -1)
}

// OpenSized is Open for a download whose size the caller knows from
// elsewhere (a resource or attachment listing, a file item's size): when
// the response announces no Content-Length, the body must still have
// exactly size bytes (size < 0: unknown). Content-Length, when present,
// wins: it describes these bytes, a listing may be older.
func (s *Session) OpenSized(ctx context.Context, req sdk.PortalRequest, size int64) (*Download, error) {
	r := &resumable{ctx: ctx, s: s, req: req, want: -1}
	var resp *sdk.PortalResponse
	err := s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		var err error
		resp, err = s.Host.Portal(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.body = resp.Body
	n := contentLength(resp)
	r.want = n
	if n >= 0 {
		r.want = req.Offset + n
	} else if size >= 0 && req.Offset == 0 {
		r.want = size
	}
	return &Download{ReadCloser: r, Header: resp.Header, Size: n}, nil
}

func contentLength(resp *sdk.PortalResponse) int64 {
	if resp.StatusCode == http.StatusPartialContent {
		return -1
	}
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		return n
	}
	return -1
}

// resumable re-requests the rest of a download after a retryable read
// error, so a reset connection costs only the bytes not yet received.
type resumable struct {
	ctx     context.Context
	s       *Session
	req     sdk.PortalRequest
	body    io.ReadCloser
	off     int64
	resumes int
	// want is the offset the body must end at (Content-Length, or the
	// size the caller knew), -1 when unknown.
	want int64
}

// maxResumes bounds resumes of one download; each resume that makes
// progress is cheap, so it is far above the per-request retry count.
const maxResumes = 50

func (r *resumable) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == io.EOF {
			if err = r.checkEnd(); errors.Is(err, errTooLong) {
				// Bytes past the end already went out: no resume mends
				// that; the whole write fails and is retried by its caller.
				return n, err
			}
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		if n > 0 {
			// Hand over what arrived; the error comes back on the next Read.
			return n, nil
		}
		cerr := classifyRead(err)
		if sdk.KindOf(cerr) != sdk.KindRetryable || r.resumes >= maxResumes || r.ctx.Err() != nil {
			return 0, cerr
		}
		r.resumes++
		r.body.Close()
		r.s.Host.Log(r.ctx, sdk.LogInfo, fmt.Sprintf("download of item %s broke at byte %d (%v); resuming", r.s.Req.Item.ID, r.off, cerr))
		req := r.req
		req.Offset = r.req.Offset + r.off
		var resp *sdk.PortalResponse
		if err := r.s.Retry.Do(r.ctx, func(ctx context.Context, _ int) error {
			var err error
			resp, err = r.s.Host.Portal(ctx, req)
			return err
		}); err != nil {
			r.body = io.NopCloser(errReader{err})
			return 0, err
		}
		r.body = resp.Body
	}
}

// checkEnd is io.EOF when the body ended where it was announced to, else
// a retryable error (a cut that a resume, or a new attempt, gets past).
func (r *resumable) checkEnd() error {
	at := r.req.Offset + r.off
	switch {
	case r.want < 0 || at == r.want:
		return io.EOF
	case at < r.want:
		return sdk.Retryable("item %s (%s): the download of %s ended after %d of its %d bytes", r.s.Req.Item.ID, r.s.Req.Item.Title, r.req.URL, at, r.want)
	default:
		return sdk.Classify(sdk.KindRetryable, fmt.Errorf("item %s (%s): the download of %s sent %d bytes, %w (%d)", r.s.Req.Item.ID, r.s.Req.Item.Title, r.req.URL, at, errTooLong, r.want))
	}
}

var errTooLong = errors.New("more than announced")

func (r *resumable) Close() error { return r.body.Close() }

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// classifyRead classifies a body read error once: an already classified
// error keeps its kind, a transport error is classified by arcgisrest.
func classifyRead(err error) error {
	var se *sdk.Error
	if ok := asSDK(err, &se); ok {
		return err
	}
	return arcgisrest.ClassifyTransport(err)
}

// Save downloads req into the artifact a (Size filled in when the portal
// says it). A retryable failure of the whole write (the sink, or a download
// that could not resume) is retried from the start; a sink's failed write
// leaves nothing behind, so nothing is duplicated.
func (s *Session) Save(ctx context.Context, a sdk.Artifact, req sdk.PortalRequest) error {
	_, err := s.SaveTee(ctx, a, req, nil, false)
	return err
}

// SaveTee is Save that also copies the bytes to tee (a scanner) on their
// way to the sinks. With skipEmpty, an empty body (the portal's answer for
// an item without data) writes no artifact and reports saved=false.
func (s *Session) SaveTee(ctx context.Context, a sdk.Artifact, req sdk.PortalRequest, tee io.Writer, skipEmpty bool) (saved bool, err error) {
	return s.saveTee(ctx, a, req, tee, skipEmpty, -1)
}

// saveTee is SaveTee for a body whose size is known (size >= 0) even when
// the response does not say it (see OpenSized).
func (s *Session) saveTee(ctx context.Context, a sdk.Artifact, req sdk.PortalRequest, tee io.Writer, skipEmpty bool, size int64) (saved bool, err error) {
	err = s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		d, err := s.OpenSized(ctx, req, size)
		if err != nil {
			return err
		}
		defer d.Close()
		art := a
		if art.Size <= 0 {
			art.Size = d.Size
		}
		if art.MediaType == "" {
			art.MediaType = mediaTypeOf(d.Header, a.Name)
		}
		var body io.Reader = d
		if skipEmpty {
			br := bufio.NewReader(d)
			if _, perr := br.Peek(1); perr == io.EOF {
				saved = false
				return nil
			}
			body = br
		}
		if tee != nil {
			body = io.TeeReader(body, tee)
		}
		saved = true
		return s.Out.Write(ctx, art, body)
	})
	return saved, err
}

// SaveBytes writes a small document the exporter built itself
// (relationships, a definition it assembled).
func (s *Session) SaveBytes(ctx context.Context, a sdk.Artifact, b []byte) error {
	a.Size = int64(len(b))
	return s.Retry.Do(ctx, func(ctx context.Context, _ int) error {
		return s.Out.Write(ctx, a, strings.NewReader(string(b)))
	})
}

func mediaTypeOf(h http.Header, name string) string {
	if ct := h.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/plain") {
		return ct
	}
	return MediaTypeFor(name)
}

// MediaTypeFor guesses a media type from a file name.
func MediaTypeFor(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".json"), strings.HasSuffix(n, ".ipynb"):
		return "application/json"
	case strings.HasSuffix(n, ".geojson"):
		return "application/geo+json"
	case strings.HasSuffix(n, ".zip"):
		return "application/zip"
	case strings.HasSuffix(n, ".xml"):
		return "application/xml"
	case strings.HasSuffix(n, ".png"):
		return "image/png"
	case strings.HasSuffix(n, ".jpg"), strings.HasSuffix(n, ".jpeg"):
		return "image/jpeg"
	case strings.HasSuffix(n, ".gif"):
		return "image/gif"
	case strings.HasSuffix(n, ".pdf"):
		return "application/pdf"
	case strings.HasSuffix(n, ".csv"):
		return "text/csv"
	case strings.HasSuffix(n, ".xlsx"):
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "application/octet-stream"
}

// Raw builds a request for raw bytes (no f=json): file data, thumbnails,
// resources, export downloads.
func Raw(path string, query url.Values) sdk.PortalRequest {
	return sdk.PortalRequest{Method: http.MethodGet, URL: path, Query: query}
}

// ItemPath is the sharing path of an item sub-resource.
func ItemPath(id string, parts ...string) string {
	p := "content/items/" + url.PathEscape(id)
	for _, x := range parts {
		p += "/" + x
	}
	return p
}
