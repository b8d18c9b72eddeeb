package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/notifytest"
	"github.com/agolpipe/agolpipe/sdk/version"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	secretPath  = "/services/T0001/B0002/s3cr3tT0k3n"
	headerToken = "Bearer hdr-t0ken-never-shown"
)

func headers(kv ...string) cty.Value {
	m := map[string]cty.Value{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = cty.StringVal(kv[i+1])
	}
	return cty.MapVal(m)
}

func attrs(url string, kv ...any) map[string]cty.Value {
	a := map[string]cty.Value{
		"url":     cty.StringVal(url),
		"headers": headers("Authorization", headerToken),
	}
	for i := 0; i < len(kv); i += 2 {
		a[kv[i].(string)] = kv[i+1].(cty.Value)
	}
	return a
}

func configured(t *testing.T, a map[string]cty.Value) *Notifier {
	t.Helper()
	n := New().(*Notifier)
	t.Cleanup(func() { _ = n.Close() })
	if diags := n.Configure(context.Background(), sdk.ConfigureRequest{Config: notifytest.Config(t, schema, a)}); diags.HasErrors() {
		t.Fatalf("Configure: %v", diags.Err())
	}
	return n
}

// noSecrets fails when text shows the URL's secret path or a header value.
func noSecrets(t *testing.T, text string) {
	t.Helper()
	for _, s := range []string{secretPath, "s3cr3tT0k3n", headerToken, "hdr-t0ken"} {
		if strings.Contains(text, s) {
			t.Errorf("%q shows a secret (%q)", text, s)
		}
	}
}

func TestConformance(t *testing.T) {
	notifytest.Run(t, New, notifytest.Options{
		Valid: attrs("https://hooks.example.com" + secretPath),
		Stalled: func(addr string) map[string]cty.Value {
			return attrs("http://" + addr + secretPath)
		},
	})
}

func TestConfigureDiagnostics(t *testing.T) {
	tests := []struct {
		name      string
		attrs     map[string]cty.Value
		wantPaths []string
	}{
		{"https", attrs("https://hooks.slack.com" + secretPath), nil},
		{"http to localhost", attrs("http://localhost:8080" + secretPath), nil},
		{"http to 127.0.0.1", attrs("http://127.0.0.1:8080" + secretPath), nil},
		{"http to a remote host", attrs("http://hooks.example.com" + secretPath), []string{"url"}},
		{"not a url", attrs("hooks.example.com" + secretPath), []string{"url"}},
		{"ftp", attrs("ftp://hooks.example.com" + secretPath), []string{"url"}},
		{"empty url", attrs(""), []string{"url"}},
		{"formats", attrs("https://h.example.com"+secretPath, "format", cty.StringVal("Teams")), nil},
		{"unknown format", attrs("https://h.example.com"+secretPath, "format", cty.StringVal("discord")), []string{"format"}},
		{"bad header name", attrs("https://h.example.com"+secretPath, "headers", headers("X Token", "v")), []string{"headers"}},
		{"header injection", attrs("https://h.example.com"+secretPath, "headers", headers("X-Token", headerToken+"\r\nX-Evil: 1")), []string{"headers"}},
		{"host header", attrs("https://h.example.com"+secretPath, "headers", headers("Host", "other")), []string{"headers"}},
		{"bad timeout", attrs("https://h.example.com"+secretPath, "timeout", cty.StringVal("0")), []string{"timeout"}},
		{"missing ca file", attrs("https://h.example.com"+secretPath, "ca_file", cty.StringVal("/nonexistent.pem")), []string{"ca_file"}},
		{"every problem at once", attrs("http://h.example.com"+secretPath, "format", cty.StringVal("x"), "timeout", cty.StringVal("x")),
			[]string{"url", "format", "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diags := New().Configure(context.Background(), sdk.ConfigureRequest{Config: notifytest.Config(t, schema, tt.attrs)})
			var got []string
			for _, d := range diags {
				noSecrets(t, d.Summary+" "+d.Detail)
				got = append(got, strings.Join(d.Path, "."))
			}
			if !slices.Equal(got, tt.wantPaths) {
				t.Errorf("diagnostic paths = %q, want %q (%v)", got, tt.wantPaths, diags.Err())
			}
		})
	}
}

func TestPayloadGolden(t *testing.T) {
	long := notifytest.SampleRequest()
	long.Results = strings.Repeat("    a1b2c3 Parks <& Trails> (Web Map): export timed out\n", 400)
	for _, tt := range []struct {
		golden string
		format string
		req    sdk.NotifyRequest
	}{
		{"json.golden.json", FormatJSON, notifytest.SampleRequest()},
		{"slack.golden.json", FormatSlack, notifytest.SampleRequest()},
		{"teams.golden.json", FormatTeams, notifytest.SampleRequest()},
		{"slack-long.golden.json", FormatSlack, long},
		{"json-empty.golden.json", FormatJSON, sdk.NotifyRequest{RunID: "r", Status: "canceled", ExitCode: 130}},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := Payload(tt.format, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(got) {
				t.Fatalf("not valid JSON: %s", got)
			}
			notifytest.Golden(t, filepath.Join("testdata", tt.golden), got, *update)
		})
	}
}

// TestSlackFitsLimits checks the limits Slack enforces on blocks.
func TestSlackFitsLimits(t *testing.T) {
	req := notifytest.SampleRequest()
	req.Results = strings.Repeat("ü<&>\n", 3000)
	req.Pipeline = strings.Repeat("p", 300)
	body, err := Payload(FormatSlack, req)
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Blocks []struct {
			Type string
			Text struct{ Text string }
		}
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatal(err)
	}
	for _, b := range msg.Blocks {
		n := len([]rune(b.Text.Text))
		if b.Type == "header" && n > 150 || n > 3000 {
			t.Errorf("%s block text has %d characters, over Slack's limit", b.Type, n)
		}
	}
}

// recorder is an endpoint that keeps what it received and answers with the
// status its test sets.
type recorder struct {
	mu         sync.Mutex
	requests   []*http.Request
	bodies     [][]byte
	status     int
	retryAfter string
	answer     string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests = append(r.requests, req)
	r.bodies = append(r.bodies, body)
	status, ra, answer := r.status, r.retryAfter, r.answer
	r.mu.Unlock()
	if ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	if status == 0 {
		status = 200
	}
	w.WriteHeader(status)
	// Endpoints sometimes echo the request path; it must not reach an error.
	io.WriteString(w, strings.ReplaceAll(answer, "$PATH", req.URL.Path))
}

func TestDeliver(t *testing.T) {
	for _, format := range []string{FormatJSON, FormatSlack, FormatTeams} {
		t.Run(format, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			n := configured(t, attrs(srv.URL+secretPath+"?token=abc", "format", cty.StringVal(format),
				"headers", headers("Authorization", headerToken, "X-Team", "gis")))
			req := notifytest.SampleRequest()
			if err := n.Notify(context.Background(), req); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if len(rec.requests) != 1 {
				t.Fatalf("endpoint got %d requests, want 1", len(rec.requests))
			}
			got := rec.requests[0]
			if got.Method != http.MethodPost || got.URL.Path != secretPath || got.URL.Query().Get("token") != "abc" {
				t.Errorf("request = %s %s", got.Method, got.URL)
			}
			for name, want := range map[string]string{
				"Authorization": headerToken, "X-Team": "gis",
				"Content-Type": "application/json; charset=utf-8", "User-Agent": "agolpipe-webhook/" + version.Version,
			} {
				if v := got.Header.Get(name); v != want {
					t.Errorf("header %s = %q, want %q", name, v, want)
				}
			}
			want, _ := Payload(format, req)
			if !bytes.Equal(rec.bodies[0], want) {
				t.Errorf("body differs from Payload(%q):\n%s", format, rec.bodies[0])
			}
			if !bytes.Contains(rec.bodies[0], []byte(req.Headline())) {
				t.Errorf("body lacks the headline %q", req.Headline())
			}
			if format == FormatJSON {
				var p RunFinished
				if err := json.Unmarshal(rec.bodies[0], &p); err != nil {
					t.Fatal(err)
				}
				if p.Counts["failed"] != 3 || p.Counts["partial"] != 2 || p.TotalItems != 2041 || p.Status != "failed" ||
					p.DurationSeconds != 3723 || len(p.Locations) != 2 || p.Results != req.Results {
					t.Errorf("payload = %+v", p)
				}
			}
		})
	}
}

func TestStatusClassified(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		want       sdk.ErrorKind
		wantAfter  time.Duration
		contains   string
	}{
		{http.StatusOK, "", 0, 0, ""},
		{http.StatusAccepted, "", 0, 0, ""},
		{http.StatusNoContent, "", 0, 0, ""},
		{http.StatusTooManyRequests, "7", sdk.KindRetryable, 7 * time.Second, "429"},
		{http.StatusServiceUnavailable, "", sdk.KindRetryable, 0, "503"},
		{http.StatusBadGateway, "120", sdk.KindRetryable, 2 * time.Minute, "502"},
		{http.StatusRequestTimeout, "", sdk.KindRetryable, 0, "408"},
		{http.StatusBadRequest, "", sdk.KindPermanent, 0, "invalid_payload"},
		{http.StatusUnauthorized, "", sdk.KindAuth, 0, "Authorization"},
		{http.StatusForbidden, "", sdk.KindAuth, 0, "403"},
		{http.StatusNotFound, "", sdk.KindPermanent, 0, "create a new one"},
		{http.StatusGone, "", sdk.KindPermanent, 0, "410"},
		{http.StatusMovedPermanently, "", sdk.KindPermanent, 0, "final address"},
		{http.StatusUnprocessableEntity, "", sdk.KindPermanent, 0, "422"},
	}
	rec := &recorder{answer: "invalid_payload for $PATH"}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := configured(t, attrs(srv.URL+secretPath))
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			rec.mu.Lock()
			rec.status, rec.retryAfter = tt.status, tt.retryAfter
			rec.mu.Unlock()
			err := n.Notify(context.Background(), notifytest.SampleRequest())
			if tt.status < 300 {
				if err != nil {
					t.Fatalf("Notify on %d: %v", tt.status, err)
				}
				return
			}
			notifytest.ErrKind(t, err, tt.want)
			if err == nil {
				return
			}
			if got := sdk.RetryAfterOf(err); got != tt.wantAfter {
				t.Errorf("RetryAfter = %v, want %v", got, tt.wantAfter)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q lacks %q", err, tt.contains)
			}
			if !strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) {
				t.Errorf("error %q does not say which host answered", err)
			}
			noSecrets(t, err.Error())
		})
	}
}

func TestTransportErrorsClassified(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(&recorder{})
	// The untrusted-certificate case makes the server log a handshake error.
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}()

	tests := []struct {
		name     string
		attrs    map[string]cty.Value
		want     sdk.ErrorKind // -1: success
		contains string
	}{
		{"connection refused", attrs(refused + secretPath), sdk.KindRetryable, "connection refused"},
		{"untrusted certificate", attrs(tlsSrv.URL + secretPath), sdk.KindPermanent, "ca_file"},
		{"trusted through ca_file", attrs(tlsSrv.URL+secretPath, "ca_file", cty.StringVal(caFile)), -1, ""},
		{"https to a plain port", attrs(strings.Replace(slow.URL, "http://", "https://", 1) + secretPath), sdk.KindPermanent, "HTTP response to HTTPS"},
		{"timeout", attrs(slow.URL+secretPath, "timeout", cty.StringVal("200ms")), sdk.KindRetryable, "timeout 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := configured(t, tt.attrs).Notify(context.Background(), notifytest.SampleRequest())
			if tt.want == -1 {
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				return
			}
			notifytest.ErrKind(t, err, tt.want)
			if err != nil && !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q lacks %q", err, tt.contains)
			}
			if err != nil {
				noSecrets(t, err.Error())
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		"-5":                            0,
		"soon":                          0,
		"Sun, 22 Nov 2026 01:01:30 GMT": 90 * time.Second,
		"Sun, 22 Nov 2026 00:59:00 GMT": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestReadmeSamples checks that every sample block in README.md configures.
func TestReadmeSamples(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	srv := httptest.NewTLSServer(&recorder{})
	srv.Close()
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	blocks := notifytest.ReadmeBlocks(t, "README.md", "webhook", map[string]string{
		"SLACK_WEBHOOK_URL": "https://hooks.slack.com" + secretPath,
		"TEAMS_WEBHOOK_URL": "https://city.webhook.office.com/webhookb2/abc",
		"ALERT_TOKEN":       headerToken,
	})
	for _, attrs := range blocks {
		if _, ok := attrs["ca_file"]; ok {
			// The sample's path exists on a server, not here.
			attrs["ca_file"] = cty.StringVal(ca)
		}
		configured(t, attrs)
	}
}
