package email

import (
	"bytes"
	"encoding/base64"
	"flag"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/notifytest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixedMessage renders the sample run with a fixed clock and token.
func fixedMessage(t *testing.T, attrs map[string]cty.Value, req sdk.NotifyRequest) []byte {
	t.Helper()
	n := configured(t, attrs)
	now := time.Date(2026, 11, 22, 2, 2, 4, 0, time.FixedZone("CET", 3600))
	var buf bytes.Buffer
	if _, err := newMessage(n.cfg, req, now, "0123456789abcdef").WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestMessageGolden(t *testing.T) {
	base := with(validAttrs("smtp.city.example", 587), "cc", strs("Jürgen Müller <j.mueller@city.example>"))
	unicode := notifytest.SampleRequest()
	unicode.Pipeline = "Nächtliche Sicherung.hcl"
	tests := []struct {
		golden string
		attrs  map[string]cty.Value
		req    sdk.NotifyRequest
	}{
		{"plain.eml", base, notifytest.SampleRequest()},
		{"attached.eml", with(base, "attach_results", cty.True, "subject_prefix", cty.StringVal("[GIS]")), notifytest.SampleRequest()},
		{"unicode-subject.eml", base, unicode},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got := fixedMessage(t, tt.attrs, tt.req)
			notifytest.Golden(t, filepath.Join("testdata", tt.golden), got, *update)
		})
	}
}

// TestMessageWellFormed parses the message back the way a mail client does.
func TestMessageWellFormed(t *testing.T) {
	req := notifytest.SampleRequest()
	req.Pipeline = "Nächtliche Sicherung.hcl"
	req.Results += strings.Repeat("a very long line of Results.txt ", 40) + "\n.\n"
	for _, attach := range []bool{false, true} {
		raw := fixedMessage(t, with(validAttrs("smtp.city.example", 587), "attach_results", cty.BoolVal(attach)), req)
		for i, line := range bytes.Split(raw, []byte("\r\n")) {
			if len(line) > 998 || bytes.ContainsAny(line, "\r\n") {
				t.Errorf("line %d is not a valid RFC 5322 line (%d bytes)", i+1, len(line))
			}
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "[agolpipe] FAILED Nächtliche Sicherung: 3 failed, 2 partial of 2,041 items"; subject != want {
			t.Errorf("Subject = %q, want %q", subject, want)
		}
		if _, err := msg.Header.Date(); err != nil {
			t.Errorf("Date: %v", err)
		}
		if id := msg.Header.Get("Message-ID"); !strings.HasPrefix(id, "<PROD_2026-11-22_01-00-00.") || !strings.HasSuffix(id, "@city.example>") {
			t.Errorf("Message-ID = %q", id)
		}
		to, err := msg.Header.AddressList("To")
		if err != nil || len(to) != 2 || to[0].Address != "gis-admins@city.example" {
			t.Errorf("To = %v, %v", to, err)
		}
		mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil {
			t.Fatal(err)
		}
		var text, attached string
		if attach {
			if mediaType != "multipart/mixed" {
				t.Fatalf("Content-Type %q with an attachment", mediaType)
			}
			mr := multipart.NewReader(msg.Body, params["boundary"])
			for {
				p, err := mr.NextPart() // decodes quoted-printable itself
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(p)
				if p.FileName() == "Results.txt" {
					dec, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(b)))
					if err != nil {
						t.Fatal(err)
					}
					attached = string(dec)
				} else {
					text = string(b)
				}
			}
			if attached != strings.ReplaceAll(req.Results, "\n", "\r\n") {
				t.Errorf("attached Results.txt differs from NotifyRequest.Results:\n%q", attached)
			}
		} else {
			b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
			if err != nil {
				t.Fatal(err)
			}
			text = string(b)
		}
		for _, want := range []string{"3 failed", "2,030 exported", "Straßenbäume Zürich", "s3://city-backups/PROD_2026-11-22_01-00-00", "took 1h2m3s"} {
			if !strings.Contains(text, want) {
				t.Errorf("attach=%v: body lacks %q:\n%s", attach, want, text)
			}
		}
	}
}
