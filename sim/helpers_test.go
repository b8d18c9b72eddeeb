package sim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sim/org"
)

// startSim starts a small simulator for a test and closes it at cleanup.
func startSim(t testing.TB, opt Options) *Server {
	t.Helper()
	if opt.Items == 0 {
		opt.Items = 300
	}
	if opt.Seed == 0 {
		opt.Seed = 7
	}
	if opt.LargeFileSize == 0 {
		opt.LargeFileSize = 1 << 20
	}
	s, err := Start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type client struct {
	t     testing.TB
	s     *Server
	token string
}

// signIn generates a token for the user of the given kind.
func signIn(t testing.TB, s *Server, kind string) *client {
	t.Helper()
	for _, u := range s.Users() {
		if u.Kind == kind {
			c := &client{t: t, s: s}
			v := c.post("/sharing/rest/generateToken", url.Values{"username": {u.Username}, "password": {u.Password}, "client": {"referer"}, "referer": {"test"}, "f": {"json"}})
			tok, _ := v["token"].(string)
			if tok == "" {
				t.Fatalf("sign in as %s: %v", u.Username, v)
			}
			c.token = tok
			return c
		}
	}
	t.Fatalf("no %s user", kind)
	return nil
}

func (c *client) user(kind string) User {
	for _, u := range c.s.Users() {
		if u.Kind == kind {
			return u
		}
	}
	c.t.Fatalf("no %s user", kind)
	return User{}
}

// url resolves a sharing path ("/sharing/rest/...") or a server-relative
// path against the simulator.
func (c *client) url(p string) string {
	if strings.HasPrefix(p, "http") {
		return p
	}
	if strings.HasPrefix(p, "/sharing/") {
		return c.s.PortalURL() + p
	}
	return c.s.Origin() + p
}

func (c *client) do(method, p string, form url.Values) (*http.Response, []byte) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if c.token != "" && form.Get("token") == "" {
		form.Set("token", c.token)
	}
	var req *http.Request
	var err error
	if method == http.MethodGet {
		req, err = http.NewRequest(method, c.url(p)+"?"+form.Encode(), nil)
	} else {
		req, err = http.NewRequest(method, c.url(p), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, b
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("response is not a JSON object: %v: %.300s", err, b)
	}
	return v
}

func (c *client) get(p string, kv ...string) map[string]any {
	c.t.Helper()
	form := url.Values{"f": {"json"}}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	_, b := c.do(http.MethodGet, p, form)
	return decode(c.t, b)
}

func (c *client) post(p string, form url.Values) map[string]any {
	c.t.Helper()
	if form.Get("f") == "" {
		form.Set("f", "json")
	}
	_, b := c.do(http.MethodPost, p, form)
	return decode(c.t, b)
}

// firstItem returns the first live item matching pred, with the org locked
// for reading only while searching.
func firstItem(t testing.TB, s *Server, pred func(it *org.Item) bool) *org.Item {
	t.Helper()
	o := s.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	for _, it := range o.Items {
		if !it.Deleted && pred(it) {
			return it
		}
	}
	t.Fatal("no matching item in the org")
	return nil
}

func errCode(v map[string]any) int {
	e, _ := v["error"].(map[string]any)
	if e == nil {
		return 0
	}
	f, _ := e["code"].(float64)
	return int(f)
}

func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
