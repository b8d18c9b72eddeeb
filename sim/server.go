// Package sim is a simulated ArcGIS Online / Portal for ArcGIS organization
// served over HTTP on loopback: the sharing REST API (tokens, OAuth 2.0,
// portal, users, groups, search, content, export, write side) and hosted
// feature and tile services, answering as the real services do, quirks
// included (as Esri's ArcGIS REST API documentation describes them).
//
// Tests start it in-process with Start; `agolpipe sim` runs it standalone.
// The org itself (package sim/org) is generated deterministically from a
// seed or loaded from a scenario file.
package sim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// Org is the simulated organization (see package sim/org).
type Org = org.Org

// Options configure a simulator. The zero value of every field is usable.
type Options struct {
	// Listen is the TCP address, default "127.0.0.1:0" (an ephemeral port).
	Listen string
	// Items is the number of generated items (default 200).
	Items int
	Seed  uint64
	// Mode is "online" (default) or "enterprise" (Portal for ArcGIS: the
	// sharing API under /portal, hosted services under /server).
	Mode string
	// TLS serves HTTPS with a self-signed certificate made at start; its
	// PEM is at Server.CAFile.
	TLS bool
	// Latency is added to every request before it is handled.
	Latency time.Duration
	// ExportTime is how long export, publish, createReplica and exportTiles
	// jobs take.
	ExportTime time.Duration
	// FaultRate is the probability (0..1) that a request gets an injected
	// fault: HTTP 500 with a JSON error, 503, a connection reset in the
	// middle of the body, or a slow body. FaultEndpoints limits it to the
	// named endpoints (see Request.Endpoint); empty means all but sign-in.
	FaultRate      float64
	FaultEndpoints []string
	// Faults are scripted faults: exact requests of an endpoint answered
	// with a chosen error (429, an expired token, 403...), see Fault.
	Faults []Fault
	// TruncateRate is the probability (0..1) that a response of a download
	// endpoint (DownloadEndpoints) has its body cut off mid-way: "cut"
	// closes the connection after part of the announced Content-Length (the
	// client sees an unexpected EOF); "short" (only for bodies whose size
	// the client knows from elsewhere: a file item's size, a resource or
	// attachment listing) drops the Content-Length and ends the body
	// cleanly, early. Both are logged as Request.Fault.
	TruncateRate float64
	// TokenTTL caps the lifetime of tokens from generateToken and OAuth
	// (default 2 weeks, the ArcGIS maximum). Expired tokens get 498.
	TokenTTL time.Duration
	// Throttle makes feature queries beyond ThrottleQPS per second answer
	// HTTP 429 without Retry-After, and bursts of more than ThrottleWrites
	// writes a minute answer 403, as ArcGIS Online does.
	Throttle       bool
	ThrottleQPS    int
	ThrottleWrites int
	// ThrottleBlock is how long a write burst blocks writes (default a
	// minute, as ArcGIS Online does); tests shorten it.
	ThrottleBlock time.Duration
	// ExportFaults makes export jobs of the given source item ids fail
	// (ExportFail), hang forever (ExportHang) or fail only when attachments
	// are included (ExportAttachmentError).
	ExportFaults map[string]ExportFault
	// OrgFile loads the org from a scenario file instead of generating it;
	// Org uses a ready-made one (for tests). Items and Seed are then unused.
	OrgFile string
	Org     *org.Org
	// Empty starts the generated org with its users only: no items (but
	// the registered OAuth applications), groups or folders: the target of
	// a restore into a new organization.
	Empty bool
	// LargeFileSize is the size of generated large files (default 96 MiB).
	LargeFileSize int64
	// SearchLag is how long a new item stays out of search results: real
	// ArcGIS indexes new items for search seconds to minutes after they
	// are created. 0 (the default) finds them at once.
	SearchLag time.Duration
	// Logf receives one line per notable event (not per request); nil is
	// silent.
	Logf func(format string, args ...any)
}

// ExportFault is an injected export job failure.
type ExportFault string

const (
	ExportFail            ExportFault = "fail"
	ExportHang            ExportFault = "hang"
	ExportAttachmentError ExportFault = "attachments"
	// ExportUndeletable makes the export's result item refuse deletion, as
	// a delete-protected item does (400 "Delete protection is turned on"):
	// a clean-up that cannot succeed, for the tests of how it is reported.
	ExportUndeletable ExportFault = "undeletable"
	// ExportFailUndeletable is ExportFail and ExportUndeletable at once.
	ExportFailUndeletable ExportFault = "fail+undeletable"
)

// User is a member of the simulated org with the fake password the
// simulator accepts for it. Role is the ArcGIS role (org_admin,
// org_publisher, org_user); Kind says which of the generated personas it is
// (admin, custom_admin, publisher, viewer).
type User struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Role     string `json:"role"`
	Kind     string `json:"kind"`
}

// Request is one logged request. Path never contains query parameters, so
// no token is ever logged.
type Request struct {
	Start  time.Time
	Method string
	Path   string
	// Endpoint names the operation ("search", "item", "data", "export",
	// "query", "generateToken"...), for assertions and fault targeting.
	Endpoint string
	Status   int
	// ErrorCode is the code of a JSON error body (498, 400...), else 0.
	ErrorCode int
	// Fault names an injected fault ("500", "503", "reset", "slow", "429",
	// "403-burst", "cut", "short"), else "".
	Fault       string
	User        string
	Bytes       int64
	ServiceTime time.Duration
	// Write is true for operations that change the org.
	Write bool
}

// Server is a running simulator. Its methods are safe for concurrent use.
type Server struct {
	opt    Options
	org    *org.Org
	ln     net.Listener
	hs     *http.Server
	origin string // scheme://host:port
	portal string // PortalURL()
	caFile string

	mu       sync.Mutex
	sessions map[string]*session
	codes    map[string]*authCode
	states   map[string]*pendingAuth
	refresh  map[string]*refreshToken
	apiKeys  map[string]*session
	reqs     []Request
	jobs     map[string]*job
	faultN   uint64
	truncN   uint64
	// scriptN counts requests per endpoint for Options.Faults.
	scriptN map[string]int
	// truncDone: download endpoints that have had a body cut.
	truncDone map[string]bool
	throttle  throttleState
	memo      memberCache
	searches  searchCache
	svcIdx    serviceIndex
	multipart multipartUploads // guarded by org.Mu
	closed    bool
}

// Start builds the org and starts serving. The listener is ready when
// Start returns.
func Start(opt Options) (*Server, error) {
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	if opt.Items <= 0 {
		opt.Items = 200
	}
	if opt.Mode == "" {
		opt.Mode = "online"
	}
	if opt.Mode != "online" && opt.Mode != "enterprise" {
		return nil, fmt.Errorf("sim: mode %q: want online or enterprise", opt.Mode)
	}
	if opt.TokenTTL <= 0 {
		opt.TokenTTL = 14 * 24 * time.Hour
	}
	if opt.ThrottleQPS <= 0 {
		opt.ThrottleQPS = 50
	}
	if opt.ThrottleBlock <= 0 {
		opt.ThrottleBlock = time.Minute
	}
	if opt.ThrottleWrites <= 0 {
		opt.ThrottleWrites = 25
	}
	o := opt.Org
	if o == nil && opt.OrgFile != "" {
		var err error
		if o, err = org.LoadFile(opt.OrgFile); err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
	}
	if o == nil {
		o = org.Generate(org.GenOptions{Items: opt.Items, Seed: opt.Seed, Mode: opt.Mode, LargeFileSize: opt.LargeFileSize})
		if opt.Empty {
			emptyOrg(o)
		}
	}
	s := &Server{
		opt: opt, org: o,
		sessions: map[string]*session{}, codes: map[string]*authCode{}, states: map[string]*pendingAuth{}, refresh: map[string]*refreshToken{},
		apiKeys: map[string]*session{}, jobs: map[string]*job{},
	}
	for _, it := range o.Items {
		if it.Service != nil && it.URL == "" {
			it.URL = s.hostedPath(it.Service.Name) + "/" + it.Service.Kind
		}
	}
	s.mintAPIKeys()
	ln, err := net.Listen("tcp", opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("sim: listen on %s: %w", opt.Listen, err)
	}
	scheme := "http"
	if opt.TLS {
		cert, caFile, err := selfSigned()
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("sim: self-signed certificate: %w", err)
		}
		s.caFile = caFile
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	s.ln = ln
	s.origin = scheme + "://" + ln.Addr().String()
	s.portal = s.origin
	if opt.Mode == "enterprise" {
		s.portal += "/portal"
	}
	s.hs = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(discard{}, "", 0)}
	go s.hs.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Close
	return s, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Close stops the server and removes its temporary certificate. It is
// idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.hs.Shutdown(ctx)
	if err != nil {
		err = s.hs.Close()
	}
	// Shutdown closes only listeners Serve has registered: a Close right
	// after Start (before the Serve goroutine ran) would leave the port
	// held, and a test restarting the simulator on it would fail.
	s.ln.Close() //nolint:errcheck // already closed when Serve had started
	if s.caFile != "" {
		os.Remove(s.caFile)
	}
	return err
}

// PortalURL is the portal root: "http://127.0.0.1:PORT" online,
// "http://127.0.0.1:PORT/portal" in enterprise mode. The sharing API is at
// PortalURL()+"/sharing/rest".
func (s *Server) PortalURL() string { return s.portal }

// Origin is scheme://host:port of the listener.
func (s *Server) Origin() string { return s.origin }

// CAFile is the PEM file of the self-signed certificate (TLS only).
func (s *Server) CAFile() string { return s.caFile }

// OrgID is the organization id (16 characters).
func (s *Server) OrgID() string { return s.org.ID }

// Org is the simulated organization, for assertions. Hold Org().Mu for
// reading while looking at it: the server writes to it.
func (s *Server) Org() *org.Org { return s.org }

// Users lists the org's users with their passwords, the org admin first.
func (s *Server) Users() []User {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	out := make([]User, 0, len(s.org.Users))
	for _, u := range s.org.Users {
		out = append(out, User{Username: u.Username, Password: u.Password, Role: u.Role, Kind: u.Kind})
	}
	return out
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// ResetRequests clears the request log.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

// TempItems returns the ids of temporary export items still in the org
// (not deleted; items in the recycle bin are not counted).
func (s *Server) TempItems() []string {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	var out []string
	for _, it := range s.org.Items {
		if it.Temp && !it.Deleted {
			out = append(out, it.ID)
		}
	}
	return out
}

// RecycleBin returns the ids of deleted items kept in the recycle bin.
func (s *Server) RecycleBin() []string {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	var out []string
	for _, it := range s.org.Items {
		if it.Deleted {
			out = append(out, it.ID)
		}
	}
	return out
}

// OAuthClientID is the client id of the registered app the simulator
// accepts for OAuth 2.0 sign-in (redirects: the oob URN and loopback).
func (s *Server) OAuthClientID() string {
	s.org.Mu.RLock()
	defer s.org.Mu.RUnlock()
	if len(s.org.Apps) == 0 {
		return ""
	}
	return s.org.Apps[0].ClientID
}

func (s *Server) logf(format string, args ...any) {
	if s.opt.Logf != nil {
		s.opt.Logf(format, args...)
	}
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// ServeHTTP routes a request, injecting latency and faults and logging it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &recorder{ResponseWriter: w, status: 200}
	c := &call{s: s, w: rw, r: r, rw: rw}
	defer func() {
		p := recover()
		rec := Request{Start: start, Method: r.Method, Path: r.URL.Path, Endpoint: c.endpoint, Status: rw.status,
			ErrorCode: rw.errCode, Fault: rw.fault, Bytes: rw.n, ServiceTime: time.Since(start), Write: c.write}
		if c.user != nil {
			rec.User = c.user.Username
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, rec)
		if rw.fault == "cut" || rw.fault == "short" {
			if s.truncDone == nil {
				s.truncDone = map[string]bool{}
			}
			s.truncDone[c.endpoint] = true
		}
		s.mu.Unlock()
		if p != nil {
			panic(p)
		}
	}()
	if s.opt.Latency > 0 {
		t := time.NewTimer(s.opt.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	s.route(c)
}

// recorder captures what a handler sent, and carries the fault that
// applies to the body.
type recorder struct {
	http.ResponseWriter
	status  int
	wrote   bool
	n       int64
	errCode int
	fault   string
	// resetAfter > 0 aborts the connection once that many body bytes went.
	resetAfter int64
	slow       bool
	// truncate is "pending" when this response's body is to be cut off
	// (TruncateRate), then the kind applied ("cut" or "short") once the
	// header is out; truncSeed picks the kind and the place.
	truncate  string
	truncSeed uint64
	// sized: the client knows this body's size from elsewhere (set by the
	// handler), so a "short" body is detectable.
	sized bool
	// cutAt is the body byte the cut comes after; 0 = half the first Write
	// (the length was not announced). dropping: a short body ended.
	cutAt    int64
	dropping bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
		w.wrote = true
		w.armTruncate(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

// armTruncate decides, as the header goes out, how a body chosen for
// truncation is cut: only successful bodies of at least 2 bytes are.
func (w *recorder) armTruncate(code int) {
	if w.truncate != "pending" {
		return
	}
	w.truncate = ""
	if code != http.StatusOK && code != http.StatusPartialContent {
		return
	}
	total := int64(-1)
	if n, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err == nil {
		total = n
	}
	if total >= 0 && total < 2 {
		return
	}
	w.truncate = "cut"
	if w.sized && w.truncSeed&1 == 0 {
		w.truncate = "short"
		w.Header().Del("Content-Length")
	}
	if total > 0 {
		// Somewhere in the middle half, never nothing and never all.
		w.cutAt = total/4 + int64((w.truncSeed>>1)%uint64(total/2+1))
		w.cutAt = max(1, min(w.cutAt, total-1))
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	if !w.wrote {
		w.armTruncate(http.StatusOK) // the implicit header of a first Write
	}
	w.wrote = true
	if w.truncate == "cut" || w.truncate == "short" {
		if w.dropping {
			return len(p), nil
		}
		if w.cutAt == 0 && len(p) >= 2 {
			w.cutAt = w.n + int64(len(p))/2
		}
		if w.cutAt > 0 && w.n+int64(len(p)) > w.cutAt {
			keep := w.cutAt - w.n
			if keep > 0 {
				k, _ := w.ResponseWriter.Write(p[:keep])
				w.n += int64(k)
			}
			w.fault = w.truncate
			if w.truncate == "short" {
				// The body ends here, cleanly: the rest is swallowed. The
				// flush sends the header now, so net/http cannot compute a
				// Content-Length from the short body: it ends as a chunked
				// body that simply stops early.
				if f, ok := w.ResponseWriter.(http.Flusher); ok {
					f.Flush()
				}
				w.dropping = true
				return len(p), nil
			}
			if f, ok := w.ResponseWriter.(http.Flusher); ok {
				f.Flush()
			}
			panic(http.ErrAbortHandler) // net/http closes the connection mid-body
		}
	}
	if w.resetAfter > 0 && w.n+int64(len(p)) >= w.resetAfter {
		keep := w.resetAfter - w.n
		if keep > 0 {
			w.ResponseWriter.Write(p[:keep]) //nolint:errcheck // the connection is aborted next
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		w.n += keep
		w.fault = "reset"
		// net/http closes the connection without finishing the body.
		panic(http.ErrAbortHandler)
	}
	if w.slow {
		written := 0
		for written < len(p) {
			end := written + 8192
			if end > len(p) {
				end = len(p)
			}
			n, err := w.ResponseWriter.Write(p[written:end])
			written += n
			w.n += int64(n)
			if err != nil {
				return written, err
			}
			if f, ok := w.ResponseWriter.(http.Flusher); ok {
				f.Flush()
			}
			time.Sleep(10 * time.Millisecond)
		}
		return written, nil
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// route dispatches on the path.
func (s *Server) route(c *call) {
	p := c.r.URL.Path
	if s.opt.Mode == "enterprise" {
		if rest, ok := strings.CutPrefix(p, "/portal/sharing/rest"); ok {
			s.sharing(c, rest)
			return
		}
		if p == "/portal/sharing/oauth2/signin" {
			s.do(c, "oauth2/signin", false, s.signIn)
			return
		}
		if rest, ok := strings.CutPrefix(p, "/server/rest"); ok {
			s.serverREST(c, rest, "/server")
			return
		}
	} else {
		if rest, ok := strings.CutPrefix(p, "/sharing/rest"); ok {
			s.sharing(c, rest)
			return
		}
		// The OAuth sign-in form posts outside the REST API, as on ArcGIS.
		if p == "/sharing/oauth2/signin" {
			s.do(c, "oauth2/signin", false, s.signIn)
			return
		}
		prefix := "/" + s.org.ID + "/arcgis"
		if rest, ok := strings.CutPrefix(p, prefix+"/rest"); ok {
			s.serverREST(c, rest, prefix)
			return
		}
	}
	if p == "/" || p == "" {
		c.endpoint = "home"
		c.w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(c.w, "<html><body><h1>agolpipe simulated %s</h1><p>Sharing API: %s/sharing/rest</p></body></html>", s.org.Name, s.portal)
		return
	}
	c.endpoint = "unknown"
	http.NotFound(c.w, c.r)
}
