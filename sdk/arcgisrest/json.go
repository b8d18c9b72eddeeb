package arcgisrest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/agolpipe/agolpipe/sdk"
)

// Portal performs one portal request. sdk.Host.Portal (in an exporter) and
// sdk.Source.Do (in a source) both have this shape:
//
//	arcgisrest.GetJSON(ctx, host.Portal, arcgisrest.JSON("content/items/"+id), &item)
type Portal func(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error)

// MaxJSONBytes bounds a JSON answer read into memory. Portal JSON documents
// (item data of a large web app, a service definition) stay far below it; a
// larger body is a download and must be streamed, not decoded.
const MaxJSONBytes = 256 << 20

// JSON builds a GET request for a JSON resource: the Accept header asks the
// source to add f=json (and the token). path is relative to the sharing/rest
// root or absolute. query may be nil.
func JSON(path string, query url.Values) sdk.PortalRequest {
	return sdk.PortalRequest{Method: http.MethodGet, URL: path, Query: query, Header: http.Header{"Accept": {"application/json"}}}
}

// JSONPost builds a POST of form to a JSON operation (export, delete, ...).
func JSONPost(path string, form url.Values) sdk.PortalRequest {
	return sdk.PortalRequest{Method: http.MethodPost, URL: path, Form: form, Header: http.Header{"Accept": {"application/json"}}}
}

// ReadBody reads a whole (JSON) response body, at most MaxJSONBytes, and
// closes it.
func ReadBody(resp *sdk.PortalResponse) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxJSONBytes+1))
	if err != nil {
		return nil, ClassifyTransport(err)
	}
	if len(b) > MaxJSONBytes {
		return nil, sdk.Permanent("portal answer larger than %d bytes where JSON was expected", MaxJSONBytes)
	}
	// A body shorter than its Content-Length was cut on the way (a hop that
	// ended it cleanly); a new attempt usually gets it whole.
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil && resp.StatusCode != http.StatusPartialContent && int64(len(b)) < n {
		return nil, sdk.Retryable("portal answer ended after %d of its %d bytes", len(b), n)
	}
	return b, nil
}

// DecodeJSON reads resp (and closes it), checks it with CheckBody and
// unmarshals it into v (skipped when v is nil). An empty body, which the
// portal sends for item data that does not exist, is a not-found error.
func DecodeJSON(resp *sdk.PortalResponse, v any) error {
	b, err := ReadBody(resp)
	if err != nil {
		return err
	}
	if err := CheckBody(resp.StatusCode, resp.Header, b, ""); err != nil {
		return err
	}
	if v == nil {
		return nil
	}
	if len(b) == 0 {
		return sdk.NotFound("portal answered with an empty body where JSON was expected")
	}
	if err := json.Unmarshal(b, v); err != nil {
		// JSON that stops in the middle was cut off on the way: retryable.
		// (A decoder says so with io.ErrUnexpectedEOF; Unmarshal only in
		// its message.)
		var probe any
		if derr := json.NewDecoder(bytes.NewReader(b)).Decode(&probe); errors.Is(derr, io.ErrUnexpectedEOF) {
			return sdk.Retryable("portal answer ended in the middle of its JSON after %d bytes", len(b))
		}
		// An HTML page instead of JSON usually means f=json was lost or a
		// proxy/login page answered: permanent, and say so.
		return sdk.Permanent("portal answer is not the expected JSON (%v): %s", err, snippet(b))
	}
	return nil
}

// GetJSON performs req through p and decodes the answer into v.
func GetJSON(ctx context.Context, p Portal, req sdk.PortalRequest, v any) error {
	resp, err := p(ctx, req)
	if err != nil {
		return err
	}
	return DecodeJSON(resp, v)
}

// Page is the paging envelope of sharing API listings (search, user content,
// group content, users).
type Page struct {
	Total     int `json:"total"`
	Start     int `json:"start"`
	Num       int `json:"num"`
	NextStart int `json:"nextStart"`
}

// MaxSearchResults is the search cap: past it the portal repeats pages
// instead of returning new items.
const MaxSearchResults = 10000

// ForEachPage pages through a start/num/nextStart listing: it sends req with
// start=1,num=num, calls fn with each page's body, and follows nextStart
// until it is -1 (or does not advance, which guards against a portal that
// repeats pages). num is clamped to 1..100. The caller decodes its own list
// key ("results", "items", "users") from body.
func ForEachPage(ctx context.Context, p Portal, req sdk.PortalRequest, num int, fn func(page Page, body []byte) error) error {
	if num <= 0 || num > 100 {
		num = 100
	}
	start := 1
	for {
		if err := ctx.Err(); err != nil {
			return &sdk.Error{Kind: sdk.KindCanceled, Err: err}
		}
		r := req
		r.Query = cloneValues(req.Query)
		if r.Method == http.MethodPost {
			r.Form = cloneValues(req.Form)
			r.Form.Set("start", fmt.Sprint(start))
			r.Form.Set("num", fmt.Sprint(num))
		} else {
			r.Query.Set("start", fmt.Sprint(start))
			r.Query.Set("num", fmt.Sprint(num))
		}
		resp, err := p(ctx, r)
		if err != nil {
			return err
		}
		b, err := ReadBody(resp)
		if err != nil {
			return err
		}
		if err := CheckBody(resp.StatusCode, resp.Header, b, ""); err != nil {
			return err
		}
		var pg Page
		if err := json.Unmarshal(b, &pg); err != nil {
			return sdk.Permanent("portal listing is not the expected JSON (%v): %s", err, snippet(b))
		}
		if err := fn(pg, b); err != nil {
			return err
		}
		if pg.NextStart <= 0 || pg.NextStart <= start {
			return nil
		}
		start = pg.NextStart
	}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
