package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is a scripted fault: the Nth request to Endpoint (counting from 1,
// every request to it, whoever sends it) and the Count-1 after it are
// answered with Kind instead of being handled. Unlike FaultRate it hits an
// exact request, so a test can put a throttled write or an expired token
// in the middle of an upload, and know it happened (Request.Fault is
// "script:<kind>").
type Fault struct {
	// Endpoint is a Request.Endpoint ("addItem", "update", "addPart",
	// "commit", "addResources", "publish", "data", "search"...).
	Endpoint string
	// Nth is the first request hit (default 1); Count how many in a row
	// (default 1).
	Nth, Count int
	Kind       FaultKind
}

// FaultKind is what a scripted fault answers.
type FaultKind string

const (
	// Fault429 is ArcGIS Online's rate limit: HTTP 429 with a JSON error
	// body, no Retry-After.
	Fault429 FaultKind = "429"
	// Fault429Body is the same limit as the sharing API also reports it:
	// HTTP 200 with {"error":{"code":429,"message":"Too many requests..."}}.
	Fault429Body FaultKind = "429-body"
	// Fault498 expires the token the request carries (as a token revoked
	// or timed out between the client's check and its use): this request
	// and every later one with that token answer 498 Invalid token.
	Fault498 FaultKind = "498"
	// Fault499 answers 499 Token Required.
	Fault499 FaultKind = "499"
	// Fault403 answers HTTP 200 with the JSON 403 (GWM_0003) ArcGIS
	// gives a request the user has no privilege for.
	Fault403 FaultKind = "403"
	// Fault403HTML is the HTML 403 page of ArcGIS Online's write-burst
	// protection.
	Fault403HTML FaultKind = "403-html"
	// Fault500 is HTTP 500 with a JSON error body.
	Fault500 FaultKind = "500"
	// FaultExists answers 400 "Item ... already exists", as ArcGIS does
	// for an item or file name the owner already holds.
	FaultExists FaultKind = "exists"
)

var faultKinds = []FaultKind{Fault429, Fault429Body, Fault498, Fault499, Fault403, Fault403HTML, Fault500, FaultExists}

// ParseFault reads ENDPOINT[@N[xCOUNT]]=KIND (the `agolpipe sim --fault`
// flag), e.g. "addPart@2=498" or "update@3x2=429-body".
func ParseFault(s string) (Fault, error) {
	lhs, kind, ok := strings.Cut(s, "=")
	if !ok || lhs == "" {
		return Fault{}, fmt.Errorf("fault %q: want ENDPOINT[@N[xCOUNT]]=KIND", s)
	}
	f := Fault{Kind: FaultKind(kind), Nth: 1, Count: 1}
	known := false
	for _, k := range faultKinds {
		known = known || k == f.Kind
	}
	if !known {
		return Fault{}, fmt.Errorf("fault %q: kind %q is not one of %v", s, kind, faultKinds)
	}
	ep, at, hasAt := strings.Cut(lhs, "@")
	f.Endpoint = ep
	if hasAt {
		n, c, hasCount := strings.Cut(at, "x")
		var err error
		if f.Nth, err = strconv.Atoi(n); err != nil || f.Nth < 1 {
			return Fault{}, fmt.Errorf("fault %q: N %q is not a number from 1", s, n)
		}
		if hasCount {
			if f.Count, err = strconv.Atoi(c); err != nil || f.Count < 1 {
				return Fault{}, fmt.Errorf("fault %q: COUNT %q is not a number from 1", s, c)
			}
		}
	}
	return f, nil
}

// scriptedFault returns the fault scripted for this request to c.endpoint,
// if any, counting the request.
func (s *Server) scriptedFault(c *call) (FaultKind, bool) {
	if len(s.opt.Faults) == 0 {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scriptN == nil {
		s.scriptN = map[string]int{}
	}
	s.scriptN[c.endpoint]++
	n := s.scriptN[c.endpoint]
	for _, f := range s.opt.Faults {
		nth, count := max(f.Nth, 1), max(f.Count, 1)
		if f.Endpoint == c.endpoint && n >= nth && n < nth+count {
			return f.Kind, true
		}
	}
	return "", false
}

// expireToken makes the token c carries expire now (Fault498).
func (s *Server) expireToken(c *call) {
	tok := c.bearer()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.sessions[tok]; sess != nil {
		sess.expires = time.Now().Add(-time.Second)
	}
}

// answerFault writes the response of a scripted fault (all but Fault498,
// which the authentication answers).
func (c *call) answerFault(k FaultKind) {
	c.rw.fault = "script:" + string(k)
	switch k {
	case Fault429:
		c.failStatus(http.StatusTooManyRequests, 429, "Too many requests. Please try again later.", "", nil)
	case Fault429Body:
		c.fail(429, "Too many requests. Please try again later.", "", nil)
	case Fault499:
		c.tokenRequired()
	case Fault403:
		c.forbidden()
	case Fault403HTML:
		c.w.Header().Set("Content-Type", "text/html")
		c.w.WriteHeader(http.StatusForbidden)
		c.w.Write([]byte("<html><body><h1>403 Forbidden</h1></body></html>")) //nolint:errcheck
	case Fault500:
		c.failStatus(http.StatusInternalServerError, 500, "An error occurred.", "", nil)
	case FaultExists:
		name := c.param("title")
		if fn := c.param("filename"); fn != "" {
			name = fn
		}
		c.fail(400, "Item '"+name+"' already exists.", "", nil)
	}
}
