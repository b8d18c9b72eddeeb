package arcgis

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/zclconf/go-cty/cty"
)

// fakePortal is a minimal sharing API for Do's contract: generateToken
// hands out tok1, tok2, ...; a token is rejected with 498 once revoked.
type fakePortal struct {
	srv      *httptest.Server
	issued   atomic.Int32
	mu       sync.Mutex
	revoked  map[string]bool
	lastForm map[string]string
	referers []string
}

func newFakePortal(t *testing.T) *fakePortal {
	f := &fakePortal{revoked: map[string]bool{}, lastForm: map[string]string{}}
	big := strings.Repeat("x", 100<<10)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f.mu.Lock()
		f.referers = append(f.referers, r.Header.Get("Referer"))
		for k := range r.PostForm {
			f.lastForm[k] = r.PostForm.Get(k)
		}
		f.mu.Unlock()
		p := strings.TrimPrefix(r.URL.Path, "/portal/sharing/rest/")
		if p == "generateToken" {
			if r.Method != http.MethodPost || r.PostForm.Get("password") != "pw" || r.PostForm.Get("client") != "referer" || r.PostForm.Get("referer") != r.Header.Get("Referer") {
				fmt.Fprint(w, `{"error":{"code":400,"message":"Unable to generate token.","details":["Invalid username or password."]}}`)
				return
			}
			n := f.issued.Add(1)
			fmt.Fprintf(w, `{"token":"tok%d","expires":%d,"ssl":false}`, n, 4102444800000)
			return
		}
		tok := r.Form.Get("token")
		f.mu.Lock()
		bad := tok == "" || f.revoked[tok]
		f.mu.Unlock()
		if bad {
			fmt.Fprint(w, `{"error":{"code":498,"message":"Invalid token.","details":[]}}`)
			return
		}
		switch p {
		case "echo":
			fmt.Fprintf(w, `{"f":%q,"method":%q,"queryToken":%v}`, r.Form.Get("f"), r.Method, r.URL.Query().Has("token"))
		case "raw":
			fmt.Fprintf(w, "raw f=%q", r.Form.Get("f"))
		case "missing":
			fmt.Fprint(w, `{"error":{"code":400,"messageCode":"CONT_0001","message":"Item does not exist or is inaccessible.","details":[]}}`)
		case "big":
			// A large JSON-looking body with "error" far inside is data.
			fmt.Fprintf(w, `{"data":"%s","error":{"code":500}}`, big)
		case "norange":
			io.WriteString(w, "0123456789")
		case "range":
			http.ServeContent(w, r, "f.bin", fakeTime, strings.NewReader("0123456789"))
		case "busy":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePortal) revoke(tok string) {
	f.mu.Lock()
	f.revoked[tok] = true
	f.mu.Unlock()
}

func configured(t *testing.T, portalURL string, attrs map[string]cty.Value) *Source {
	t.Helper()
	if attrs == nil {
		attrs = map[string]cty.Value{}
	}
	attrs["url"] = cty.StringVal(portalURL)
	_, k := attrs["api_key"]
	_, o := attrs["oauth"]
	_, a := attrs["auth"]
	if !k && !o && !a {
		attrs["auth"] = auth("admin", "pw")
	}
	s := New().(*Source)
	if d := s.Configure(context.Background(), sdk.ConfigureRequest{Config: ConfigValue(attrs)}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	return s
}

func body(t *testing.T, resp *sdk.PortalResponse) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDoContract(t *testing.T) {
	f := newFakePortal(t)
	s := configured(t, f.srv.URL+"/portal/home", nil)
	ctx := context.Background()

	// JSON request: f=json and the token are added; GET puts the token in the query.
	resp, err := s.Do(ctx, arcgisrest.JSON("echo", nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := body(t, resp); got != `{"f":"json","method":"GET","queryToken":true}` {
		t.Fatalf("GET echo: %s", got)
	}
	// POST: the token goes in the form, not the URL.
	resp, err = s.Do(ctx, arcgisrest.JSONPost("echo", map[string][]string{"x": {"1"}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := body(t, resp); got != `{"f":"json","method":"POST","queryToken":false}` {
		t.Fatalf("POST echo: %s", got)
	}
	// A raw download gets no f.
	resp, err = s.Do(ctx, sdk.PortalRequest{URL: "raw"})
	if err != nil {
		t.Fatal(err)
	}
	if got := body(t, resp); got != `raw f=""` {
		t.Fatalf("raw: %s", got)
	}

	// Token expiring mid-run: renewed once, invisible to the caller.
	f.revoke("tok1")
	resp, err = s.Do(ctx, arcgisrest.JSON("echo", nil))
	if err != nil {
		t.Fatalf("expired token not renewed: %v", err)
	}
	body(t, resp)
	if n := f.issued.Load(); n != 2 {
		t.Fatalf("generateToken called %d times, want 2", n)
	}
	for _, r := range f.referers {
		if r != referer {
			t.Fatalf("inconsistent Referer %q", r)
		}
	}

	// Error in an HTTP 200 body: classified, token not in the message.
	_, err = s.Do(ctx, arcgisrest.JSON("missing", nil))
	if !sdk.IsNotFound(err) || strings.Contains(err.Error(), "tok2") {
		t.Fatalf("missing: %v", err)
	}
	// A large body is streamed as data even if it mentions "error".
	resp, err = s.Do(ctx, arcgisrest.JSON("big", nil))
	if err != nil {
		t.Fatalf("big body treated as error: %v", err)
	}
	if n := len(body(t, resp)); n < 100<<10 {
		t.Fatalf("big body cut to %d", n)
	}
	// 429 with Retry-After.
	_, err = s.Do(ctx, sdk.PortalRequest{URL: "busy"})
	if sdk.KindOf(err) != sdk.KindRetryable || sdk.RetryAfterOf(err).Seconds() != 3 {
		t.Fatalf("429: %v (%v)", err, sdk.RetryAfterOf(err))
	}

	// Offset: honoured by Range, and by skipping when the server ignores it.
	for _, path := range []string{"range", "norange"} {
		resp, err = s.Do(ctx, sdk.PortalRequest{URL: path, Offset: 4})
		if err != nil {
			t.Fatal(err)
		}
		if got := body(t, resp); got != "456789" {
			t.Fatalf("%s from offset 4: %q", path, got)
		}
	}
}

func TestDoNeverSendsTokenElsewhere(t *testing.T) {
	f := newFakePortal(t)
	var got atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		got.Store(r.Form.Get("token") + "|" + r.Form.Get("f"))
		io.WriteString(w, "{}")
	}))
	defer other.Close()
	s := configured(t, f.srv.URL+"/portal", nil)
	resp, err := s.Do(context.Background(), arcgisrest.JSON(other.URL+"/wms", nil))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if v := got.Load().(string); v != "|json" {
		t.Fatalf("third-party host got token/f %q", v)
	}
}

func TestWrongPasswordIsAuth(t *testing.T) {
	f := newFakePortal(t)
	s := configured(t, f.srv.URL+"/portal", map[string]cty.Value{"auth": auth("admin", "nope")})
	_, err := s.Do(context.Background(), arcgisrest.JSON("echo", nil))
	if sdk.KindOf(err) != sdk.KindAuth || !strings.Contains(err.Error(), "Invalid username or password") || strings.Contains(err.Error(), "nope") {
		t.Fatalf("bad password: %v", err)
	}
	if n := f.issued.Load(); n != 0 {
		t.Fatalf("issued %d", n)
	}
}

var fakeTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestManyRequestsWithAnExpiredTokenRenewItOnce(t *testing.T) {
	f := newFakePortal(t)
	s := configured(t, f.srv.URL+"/portal", nil)
	ctx := context.Background()
	resp, err := s.Do(ctx, arcgisrest.JSON("echo", nil))
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	f.revoke("tok1")
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.Do(ctx, arcgisrest.JSON("echo", nil))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if n := f.issued.Load(); n != 2 {
		t.Fatalf("16 requests with one expired token signed in %d times, want 2 in all", n)
	}
}

func TestWrongPasswordSignsInOnce(t *testing.T) {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/generateToken") {
			attempts.Add(1)
			fmt.Fprint(w, `{"error":{"code":400,"message":"Unable to generate token.","details":["Invalid username or password."]}}`)
			return
		}
		fmt.Fprint(w, `{"error":{"code":499,"message":"Token Required"}}`)
	}))
	defer srv.Close()
	s := configured(t, srv.URL+"/portal", nil)
	if _, err := s.Do(context.Background(), arcgisrest.JSON("echo", nil)); sdk.KindOf(err) != sdk.KindAuth {
		t.Fatalf("err %v", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Fatalf("wrong password tried %d times; locked-out accounts come from retries like these", n)
	}
}
