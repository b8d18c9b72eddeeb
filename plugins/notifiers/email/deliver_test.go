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

// TestDeliver sends the sample run through a real Mailpit in each TLS mode
// and checks what arrived through Mailpit's API.
func TestDeliver(t *testing.T) {
	cert, key := selfSignedCert(t)
	users := authFile(t, testUser, testPassword)
	tests := []struct {
		name  string
		flags []string
		attrs func(port int) map[string]cty.Value
	}{
		{"none to localhost",
			[]string{"--smtp-auth-file", users, "--smtp-auth-allow-insecure"},
			func(port int) map[string]cty.Value {
				return with(validAttrs("127.0.0.1", port), "tls", cty.StringVal("none"))
			}},
		{"starttls with ca_file",
			[]string{"--smtp-auth-file", users, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls"},
			func(port int) map[string]cty.Value {
				return with(validAttrs("127.0.0.1", port), "ca_file", cty.StringVal(cert))
			}},
		{"implicit tls with ca_file",
			[]string{"--smtp-auth-file", users, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-tls"},
			func(port int) map[string]cty.Value {
				return with(validAttrs("127.0.0.1", port), "tls", cty.StringVal("tls"), "ca_file", cty.StringVal(cert))
			}},
		{"relay without login, attachment",
			[]string{"--smtp-auth-accept-any", "--smtp-auth-allow-insecure"},
			func(port int) map[string]cty.Value {
				return with(validAttrs("localhost", port), "tls", cty.StringVal("none"),
					"username", cty.NullVal(cty.String), "password", cty.NullVal(cty.String), "attach_results", cty.True)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp := startMailpit(t, tt.flags...)
			attrs := with(tt.attrs(mp.smtpPort), "cc", strs("boss@city.example"))
			n := configured(t, attrs)
			req := notifytest.SampleRequest()
			if err := n.Notify(context.Background(), req); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			list := mp.messages(t)
			if len(list) != 1 {
				t.Fatalf("Mailpit holds %d messages, want 1", len(list))
			}
			msg, raw := mp.message(t, list[0].ID)
			if want := "[agolpipe] " + req.Headline(); msg.Subject != want {
				t.Errorf("Subject = %q, want %q", msg.Subject, want)
			}
			if msg.From.Address != "gis-backup@city.example" {
				t.Errorf("From = %+v", msg.From)
			}
			if got := addrs(msg.To); !slices.Equal(got, []string{"gis-admins@city.example", "ops@city.example"}) {
				t.Errorf("To = %v", got)
			}
			if got := addrs(msg.Cc); !slices.Equal(got, []string{"boss@city.example"}) {
				t.Errorf("Cc = %v", got)
			}
			for _, want := range []string{"3 failed", "2 partial", "2,030 exported", "Straßenbäume Zürich", "/mnt/gis-backups/PROD_2026-11-22_01-00-00"} {
				if !strings.Contains(msg.Text, want) {
					t.Errorf("body lacks %q:\n%s", want, msg.Text)
				}
			}
			for _, h := range []string{"\r\nDate: ", "\r\nMessage-ID: <", "\r\nMIME-Version: 1.0\r\n", "\r\nAuto-Submitted: auto-generated\r\n"} {
				if !strings.Contains(raw, h) {
					t.Errorf("raw message lacks header %q", strings.TrimSpace(h))
				}
			}
			wantAttach := attrs["attach_results"].Equals(cty.True).True()
			if got := len(msg.Attachments) == 1 && msg.Attachments[0].FileName == "Results.txt"; got != wantAttach {
				t.Errorf("Results.txt attached = %v, want %v (%+v)", got, wantAttach, msg.Attachments)
			}
			for _, secret := range []string{testPassword, base64.StdEncoding.EncodeToString([]byte(testPassword))} {
				if strings.Contains(raw, secret) {
					t.Errorf("the delivered message contains the password")
				}
			}
		})
	}
}

func addrs(as []apiAddress) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Address)
	}
	return out
}

// TestErrorsClassified provokes each kind of SMTP failure against a real
// Mailpit and checks the error's kind and that it never shows the password.
func TestErrorsClassified(t *testing.T) {
	cert, key := selfSignedCert(t)
	users := authFile(t, testUser, testPassword)
	plain := startMailpit(t, "--smtp-auth-file", users, "--smtp-auth-allow-insecure", "--enable-chaos")
	secure := startMailpit(t, "--smtp-auth-file", users, "--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls")
	none := func(port int) map[string]cty.Value {
		return with(validAttrs("127.0.0.1", port), "tls", cty.StringVal("none"))
	}
	tests := []struct {
		name     string
		attrs    map[string]cty.Value
		chaos    string // Mailpit chaos stage to fail, with code
		code     int
		want     sdk.ErrorKind
		contains string
	}{
		{name: "wrong password", attrs: with(none(plain.smtpPort), "password", cty.StringVal("wrong-"+testPassword)),
			want: sdk.KindAuth, contains: "check username and password"},
		{name: "unknown user", attrs: with(none(plain.smtpPort), "username", cty.StringVal("nobody")),
			want: sdk.KindAuth},
		{name: "auth 535 from the server", attrs: none(plain.smtpPort), chaos: "Authentication", code: 535, want: sdk.KindAuth},
		{name: "sender 451 is temporary", attrs: none(plain.smtpPort), chaos: "Sender", code: 451, want: sdk.KindRetryable, contains: "451"},
		{name: "sender 550 is permanent", attrs: none(plain.smtpPort), chaos: "Sender", code: 550, want: sdk.KindPermanent, contains: "from address"},
		{name: "recipient 452 is temporary", attrs: none(plain.smtpPort), chaos: "Recipient", code: 452, want: sdk.KindRetryable},
		{name: "recipient 550 is permanent", attrs: none(plain.smtpPort), chaos: "Recipient", code: 550, want: sdk.KindPermanent, contains: "gis-admins@city.example"},
		{name: "connection refused", attrs: none(freePort(t)), want: sdk.KindRetryable, contains: "connection refused"},
		{name: "untrusted certificate", attrs: validAttrs("127.0.0.1", secure.smtpPort),
			want: sdk.KindPermanent, contains: "ca_file"},
		{name: "tls to a plain port", attrs: with(validAttrs("127.0.0.1", plain.smtpPort), "tls", cty.StringVal("tls")),
			want: sdk.KindPermanent, contains: `port 465 uses tls = "tls"`},
		{name: "starttls not offered", attrs: validAttrs("127.0.0.1", plain.smtpPort),
			want: sdk.KindPermanent, contains: "does not offer STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.chaos != "" {
				plain.chaos(t, tt.chaos, tt.code)
				defer plain.chaos(t, tt.chaos, 0)
			}
			n := configured(t, tt.attrs)
			err := n.Notify(context.Background(), notifytest.SampleRequest())
			notifytest.ErrKind(t, err, tt.want)
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", err, tt.contains)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	if got := len(plain.messages(t)) + len(secure.messages(t)); got != 0 {
		t.Errorf("%d messages were delivered by failing sends", got)
	}
}
