package arcgis

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// referer is sent with every request and bound into generated tokens
// (client=referer), so the portal accepts the token on later calls.
const referer = "agolpipe"

// peekSize is how much of a 200 answer Do reads ahead to find an error body
// the portal sent with HTTP 200. Error bodies are tiny; a larger body is data
// and streams through untouched.
const peekSize = 64 << 10

// client is the HTTP side of the source: one connection pool, the token,
// error classification and retries of the source's own listing calls.
type client struct {
	http   *http.Client
	portal string // portal URL, e.g. https://org.maps.arcgis.com or https://host/portal
	root   string // sharing root: portal + /sharing/rest
	auth   authenticator

	mu      sync.RWMutex
	trusted map[string]bool // hosts that may receive the token

	// retry policy of the source's own calls (listing, connect); Do leaves
	// retries to the caller (an exporter's session).
	attempts     int
	retryBase    time.Duration
	retryMax     time.Duration
	throttleBase time.Duration
}

func newHTTPClient(cfg config) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	tr.ResponseHeaderTimeout = 5 * time.Minute
	if cfg.Proxy != "" {
		pu, err := url.Parse(cfg.Proxy)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		tr.Proxy = http.ProxyURL(pu)
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", cfg.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

func newClient(cfg config, hc *http.Client) *client {
	c := &client{http: hc, portal: cfg.URL, root: cfg.URL + "/sharing/rest", trusted: map[string]bool{},
		attempts: 6, retryBase: time.Second, retryMax: 30 * time.Second, throttleBase: 8 * time.Second}
	if u, err := url.Parse(cfg.URL); err == nil {
		c.trusted[strings.ToLower(u.Host)] = true
	}
	return c
}

// trust lets the token go to host (a federated or hosting server of the
// organization).
func (c *client) trust(host string) {
	if host == "" {
		return
	}
	c.mu.Lock()
	c.trusted[strings.ToLower(host)] = true
	c.mu.Unlock()
}

// mayGetToken reports whether a request to u may carry the token: the
// portal, the organization's own servers, and on ArcGIS Online Esri's
// *.arcgis.com hosts over https. Any other host (a third-party WMS referenced
// by a web map) never sees it.
func (c *client) mayGetToken(u *url.URL) bool {
	host := strings.ToLower(u.Host)
	c.mu.RLock()
	ok := c.trusted[host]
	c.mu.RUnlock()
	if ok {
		return true
	}
	return u.Scheme == "https" && (strings.HasSuffix(u.Hostname(), ".arcgis.com") || u.Hostname() == "arcgis.com")
}

// resolve makes a request URL absolute against the sharing root.
func (c *client) resolve(raw string) (*url.URL, error) {
	if strings.HasPrefix(raw, "http://") || strings.HasPrefix(raw, "https://") {
		return url.Parse(raw)
	}
	return url.Parse(c.root + "/" + strings.TrimLeft(raw, "/"))
}

// wantsJSON is the rule for adding f=json: the caller asked for JSON with
// Accept: application/json (arcgisrest.JSON does) and did not set f itself.
func wantsJSON(req sdk.PortalRequest) bool {
	for _, v := range req.Header.Values("Accept") {
		if strings.Contains(v, "application/json") {
			return true
		}
	}
	return false
}

// do performs one request with the token, renewing it and retrying once on
// 498/499 (and on 401). It never retries anything else.
func (c *client) do(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	resp, used, err := c.doOnce(ctx, req, "")
	if err != nil && used != "" && sdk.KindOf(err) == sdk.KindAuth && c.auth.renewable() {
		if req.File != nil {
			// An upload's body streams once: it cannot be sent again
			// here, but the caller can open it again and resend
			// (arcgisrest.WriteJSON). The refused token is replaced now,
			// or the resend would carry it again (token hands out the
			// cached one until it is named stale).
			if _, rerr := c.auth.token(ctx, c, used); rerr != nil {
				return nil, rerr
			}
			return nil, err
		}
		resp, _, err = c.doOnce(ctx, req, used)
	}
	return resp, err
}

// doOnce sends the request once. used is the token it carried ("" when
// none: no token was added, or getting one failed, which is not retried).
func (c *client) doOnce(ctx context.Context, req sdk.PortalRequest, stale string) (resp *sdk.PortalResponse, used string, err error) {
	resp, err = c.send(ctx, req, stale, &used)
	return resp, used, err
}

func (c *client) send(ctx context.Context, req sdk.PortalRequest, stale string, used *string) (*sdk.PortalResponse, error) {
	u, err := c.resolve(req.URL)
	if err != nil {
		return nil, sdk.Permanent("portal request URL %q: %v", arcgisrest.RedactURL(req.URL), err)
	}
	method := strings.ToUpper(req.Method)
	if req.File != nil {
		method = http.MethodPost
	}
	if method == "" {
		method = http.MethodGet
		if req.Form != nil {
			method = http.MethodPost
		}
	}
	q := u.Query()
	for k, vs := range req.Query {
		q[k] = append([]string(nil), vs...)
	}
	var form url.Values
	if method == http.MethodPost {
		form = url.Values{}
		for k, vs := range req.Form {
			form[k] = append([]string(nil), vs...)
		}
	}
	if wantsJSON(req) && !q.Has("f") && !form.Has("f") {
		if form != nil {
			form.Set("f", "json")
		} else {
			q.Set("f", "json")
		}
	}
	if c.auth != nil && c.mayGetToken(u) && !q.Has("token") && !form.Has("token") {
		tok, err := c.auth.token(ctx, c, stale)
		if err != nil {
			return nil, err
		}
		*used = tok
		if tok != "" {
			if form != nil {
				form.Set("token", tok)
			} else {
				q.Set("token", tok)
			}
		}
	}
	u.RawQuery = q.Encode()
	var body io.Reader
	contentType := "application/x-www-form-urlencoded"
	switch {
	case req.File != nil:
		var stop func()
		body, contentType, stop = multipartBody(form, req.File)
		defer stop()
	case form != nil:
		body = strings.NewReader(form.Encode())
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, sdk.Permanent("portal request: %v", arcgisrest.RedactText(err.Error()))
	}
	for k, vs := range req.Header {
		if strings.EqualFold(k, "Authorization") || strings.EqualFold(k, "X-Esri-Authorization") {
			continue // credentials are the source's business
		}
		hr.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
	if form != nil {
		hr.Header.Set("Content-Type", contentType)
	}
	hr.Header.Set("Referer", referer)
	hr.Header.Set("User-Agent", "agolpipe")
	if req.Offset > 0 {
		hr.Header.Set("Range", fmt.Sprintf("bytes=%d-", req.Offset))
	}
	hresp, err := c.http.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &sdk.Error{Kind: sdk.KindCanceled, Err: ctx.Err()}
		}
		return nil, arcgisrest.ClassifyTransport(err)
	}
	redacted := arcgisrest.RedactURL(u.String())
	if hresp.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(hresp.Body, peekSize))
		hresp.Body.Close()
		if err := arcgisrest.CheckErrorBody(hresp.StatusCode, hresp.Header, b, redacted); err != nil {
			return nil, err
		}
	}
	// The portal reports most errors as HTTP 200 with a small JSON body:
	// read ahead, and if the whole body is a JSON error object, classify it.
	br := bufio.NewReaderSize(hresp.Body, peekSize)
	if hresp.ContentLength < 0 || hresp.ContentLength <= peekSize {
		peek, perr := br.Peek(peekSize)
		switch perr {
		case io.EOF: // the whole body is in peek
			t := bytes.TrimSpace(peek)
			if len(t) > 0 && t[0] == '{' {
				if err := arcgisrest.CheckErrorBody(hresp.StatusCode, hresp.Header, t, redacted); err != nil {
					hresp.Body.Close()
					return nil, err
				}
			}
		case nil, bufio.ErrBufferFull: // a large body: data, not an error
		default:
			hresp.Body.Close()
			return nil, arcgisrest.ClassifyTransport(fmt.Errorf("reading %s: %w", redacted, perr))
		}
	}
	var rc io.ReadCloser = readCloser{br, hresp.Body}
	if req.Offset > 0 && hresp.StatusCode == http.StatusOK {
		// The server ignored Range: skip to Offset so the caller's contract
		// (body starts at Offset) holds, at the cost of re-reading.
		if _, err := io.CopyN(io.Discard, rc, req.Offset); err != nil {
			rc.Close()
			return nil, arcgisrest.ClassifyTransport(fmt.Errorf("skipping to offset %d of %s: %w", req.Offset, redacted, err))
		}
	}
	return &sdk.PortalResponse{StatusCode: hresp.StatusCode, Header: hresp.Header, Body: rc}, nil
}

// multipartBody streams form's fields and then f as multipart/form-data,
// the way the portal takes uploads. The file is copied as the request is
// sent, never held whole; a body that fails (or ends at another size than
// announced) fails the request, so the portal never sees it complete. stop
// ends the writer when the request ended before reading everything.
func multipartBody(form url.Values, f *sdk.PortalFile) (io.Reader, string, func()) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeMultipart(mw, form, f))
	}()
	return pr, mw.FormDataContentType(), func() { pr.CloseWithError(errRequestEnded) }
}

var errRequestEnded = errors.New("the upload request ended")

func writeMultipart(mw *multipart.Writer, form url.Values, f *sdk.PortalFile) error {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range form[k] {
			if err := mw.WriteField(k, v); err != nil {
				return err
			}
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, quoteEscaper.Replace(f.Field), quoteEscaper.Replace(f.Name)))
	ct := f.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	n, err := io.Copy(w, f.Body)
	if err != nil {
		return err
	}
	if f.Size >= 0 && n != f.Size {
		return sdk.Permanent("upload of %s: the file ended at %d bytes, %d were announced", f.Name, n, f.Size)
	}
	return mw.Close()
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

type readCloser struct {
	io.Reader
	io.Closer
}

// getJSON is the source's own JSON call, retried with backoff and jitter on
// retryable errors (429 honours Retry-After).
func (c *client) getJSON(ctx context.Context, req sdk.PortalRequest, v any) error {
	return c.retry(ctx, func() error { return arcgisrest.GetJSON(ctx, c.do, req, v) })
}

// retry runs op under the one retry policy (sdk/retry): backoff with
// jitter, longer after throttling, brief for an unreachable portal, and
// the request's whole budget here, so nothing outside retries it again.
func (c *client) retry(ctx context.Context, op func() error) error {
	pol := retry.Policy{Retries: c.attempts - 1, Base: c.retryBase, Max: c.retryMax, ThrottleBase: c.throttleBase}
	if pol.Retries == 0 {
		pol.Retries = -1
	}
	return pol.Do(ctx, func(context.Context, int) error { return op() })
}
