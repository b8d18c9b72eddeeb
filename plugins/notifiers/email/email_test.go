package email

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/notifytest"
)

const (
	testUser     = "gis-backup"
	testPassword = "Pa55-w0rd!never-shown"
)

func strs(s ...string) cty.Value {
	vals := make([]cty.Value, len(s))
	for i, x := range s {
		vals[i] = cty.StringVal(x)
	}
	return cty.ListVal(vals)
}

// validAttrs is a configuration that Configure accepts, for host and port.
func validAttrs(host string, port int) map[string]cty.Value {
	return map[string]cty.Value{
		"smtp_host": cty.StringVal(host),
		"smtp_port": cty.NumberIntVal(int64(port)),
		"username":  cty.StringVal(testUser),
		"password":  cty.StringVal(testPassword),
		"from":      cty.StringVal("agolpipe <gis-backup@city.example>"),
		"to":        strs("GIS Admins <gis-admins@city.example>", "ops@city.example"),
	}
}

func with(base map[string]cty.Value, kv ...any) map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1].(cty.Value)
	}
	return out
}

func configured(t *testing.T, attrs map[string]cty.Value) *Notifier {
	t.Helper()
	n := New().(*Notifier)
	t.Cleanup(func() { _ = n.Close() })
	diags := n.Configure(context.Background(), sdk.ConfigureRequest{Config: notifytest.Config(t, schema, attrs)})
	if diags.HasErrors() {
		t.Fatalf("Configure: %v", diags.Err())
	}
	return n
}

func TestConformance(t *testing.T) {
	notifytest.Run(t, New, notifytest.Options{
		Valid: validAttrs("smtp.city.example", 587),
		Stalled: func(addr string) map[string]cty.Value {
			host, port, _ := strings.Cut(addr, ":")
			return with(validAttrs(host, atoi(t, port)), "tls", cty.StringVal("none"))
		},
	})
}

func TestConfigureDiagnostics(t *testing.T) {
	base := validAttrs("smtp.city.example", 587)
	tests := []struct {
		name      string
		attrs     map[string]cty.Value
		wantPaths []string // attribute of each error diagnostic, in order
		wantWarn  string   // attribute of a warning, if any
		detail    string   // text an error's detail must contain
	}{
		{name: "valid", attrs: base},
		{name: "none on localhost", attrs: with(base, "smtp_host", cty.StringVal("localhost"), "tls", cty.StringVal("none"))},
		{name: "none on 127.0.0.1", attrs: with(base, "smtp_host", cty.StringVal("127.0.0.1"), "tls", cty.StringVal("none"))},
		{name: "none on a remote host", attrs: with(base, "tls", cty.StringVal("none")),
			wantPaths: []string{"tls"}, detail: "clear text"},
		{name: "unknown tls mode", attrs: with(base, "tls", cty.StringVal("ssl")), wantPaths: []string{"tls"}},
		{name: "host with scheme", attrs: with(base, "smtp_host", cty.StringVal("smtp://mail.city.example")),
			wantPaths: []string{"smtp_host"}, detail: `"mail.city.example"`},
		{name: "host with port", attrs: with(base, "smtp_host", cty.StringVal("mail.city.example:25")),
			wantPaths: []string{"smtp_host"}, detail: "smtp_port = 25"},
		{name: "bad port", attrs: with(base, "smtp_port", cty.NumberIntVal(70000)), wantPaths: []string{"smtp_port"}},
		{name: "port 465 without tls", attrs: with(base, "smtp_port", cty.NumberIntVal(465)), wantWarn: "smtp_port"},
		{name: "bad from", attrs: with(base, "from", cty.StringVal("gis backup")), wantPaths: []string{"from"}},
		{name: "bad to entry", attrs: with(base, "to", strs("ok@city.example", "not an address")),
			wantPaths: []string{"to"}, detail: "Entry 2 of to"},
		{name: "empty to", attrs: with(base, "to", cty.ListValEmpty(cty.String)), wantPaths: []string{"to"}},
		{name: "bad cc", attrs: with(base, "cc", strs("@@")), wantPaths: []string{"cc"}},
		{name: "password without user", attrs: with(base, "username", cty.NullVal(cty.String)), wantPaths: []string{"username"}},
		{name: "user without password", attrs: with(base, "password", cty.StringVal("")), wantPaths: []string{"password"}},
		{name: "missing ca file", attrs: with(base, "ca_file", cty.StringVal("/nonexistent/ca.pem")), wantPaths: []string{"ca_file"}},
		{name: "ca file without pem", attrs: with(base, "ca_file", cty.StringVal("testdata/not-a-cert.txt")),
			wantPaths: []string{"ca_file"}, detail: "no PEM certificate"},
		{name: "bad timeout", attrs: with(base, "timeout", cty.StringVal("soon")), wantPaths: []string{"timeout"}},
		{name: "negative timeout", attrs: with(base, "timeout", cty.StringVal("-1s")), wantPaths: []string{"timeout"}},
		{name: "newline in prefix", attrs: with(base, "subject_prefix", cty.StringVal("[a]\r\nBcc: x@y")), wantPaths: []string{"subject_prefix"}},
		{name: "fractional port", attrs: with(base, "smtp_port", cty.NumberFloatVal(587.5)), wantPaths: []string{"smtp_port"}},
		{name: "every problem at once",
			attrs:     with(base, "smtp_host", cty.StringVal("mail.city.example"), "tls", cty.StringVal("none"), "from", cty.StringVal("x"), "timeout", cty.StringVal("0s")),
			wantPaths: []string{"tls", "from", "timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := New()
			diags := n.Configure(context.Background(), sdk.ConfigureRequest{Config: notifytest.Config(t, schema, tt.attrs)})
			var got []string
			var warn string
			for _, d := range diags {
				if strings.Contains(d.Summary+d.Detail, testPassword) {
					t.Errorf("diagnostic shows the password: %+v", d)
				}
				if d.Severity == sdk.SeverityWarning {
					warn = strings.Join(d.Path, ".")
					continue
				}
				got = append(got, strings.Join(d.Path, "."))
				if tt.detail != "" && !strings.Contains(d.Detail, tt.detail) {
					t.Errorf("detail %q does not contain %q", d.Detail, tt.detail)
				}
			}
			if !slices.Equal(got, tt.wantPaths) {
				t.Errorf("error paths = %q, want %q (%v)", got, tt.wantPaths, diags.Err())
			}
			if warn != tt.wantWarn {
				t.Errorf("warning path = %q, want %q", warn, tt.wantWarn)
			}
			if len(tt.wantPaths) > 0 {
				// A rejected configuration leaves the notifier unconfigured.
				err := n.Notify(context.Background(), notifytest.SampleRequest())
				if err == nil || !strings.Contains(err.Error(), "not configured") {
					t.Errorf("Notify after a rejected Configure: %v", err)
				}
			}
		})
	}
}

func TestUnknownConfigDefersValidation(t *testing.T) {
	attrs := with(validAttrs("smtp.city.example", 587), "password", cty.UnknownVal(cty.String))
	n := New()
	if diags := n.Configure(context.Background(), sdk.ConfigureRequest{Config: notifytest.Config(t, schema, attrs)}); diags.HasErrors() {
		t.Fatalf("Configure with an unknown value: %v", diags.Err())
	}
	notifytest.ErrKind(t, n.Notify(context.Background(), notifytest.SampleRequest()), sdk.KindPermanent)
}

func TestScrubRemovesPassword(t *testing.T) {
	s := &sender{cfg: &config{username: testUser, password: testPassword}}
	for _, echoed := range []string{
		testPassword,
		base64.StdEncoding.EncodeToString([]byte(testPassword)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword)),
	} {
		err := s.scrub(sdk.Auth("server said: bad credentials %s", echoed))
		if strings.Contains(err.Error(), echoed) {
			t.Errorf("scrub left %q in %q", echoed, err)
		}
		notifytest.ErrKind(t, err, sdk.KindAuth)
	}
	err := s.scrub(context.Canceled)
	notifytest.ErrKind(t, err, sdk.KindCanceled)
}

// TestReadmeSamples checks that every sample block in README.md configures.
func TestReadmeSamples(t *testing.T) {
	for _, attrs := range notifytest.ReadmeBlocks(t, "README.md", "email", map[string]string{"SMTP_PASSWORD": testPassword}) {
		configured(t, attrs)
	}
}
