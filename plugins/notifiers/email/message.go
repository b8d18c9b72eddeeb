package email

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// message is one notification mail, ready to be written as RFC 5322.
type message struct {
	from      *mail.Address
	to, cc    []*mail.Address
	subject   string
	date      time.Time
	messageID string
	// boundary separates the parts when Results.txt is attached.
	boundary string
	req      sdk.NotifyRequest
	attach   bool
}

func newMessage(cfg *config, req sdk.NotifyRequest, now time.Time, token string) *message {
	subject := req.Headline()
	if cfg.subjectPrefix != "" {
		subject = cfg.subjectPrefix + " " + subject
	}
	domain := "agolpipe.invalid"
	if at := strings.LastIndexByte(cfg.from.Address, '@'); at >= 0 {
		domain = cfg.from.Address[at+1:]
	}
	return &message{
		from: cfg.from, to: cfg.to, cc: cfg.cc,
		subject:   subject,
		date:      now,
		messageID: fmt.Sprintf("<%s.%s@%s>", safeID(req.RunID), token, domain),
		boundary:  "agolpipe-" + token,
		req:       req,
		attach:    cfg.attach,
	}
}

// WriteTo writes the message with CRLF line ends. Header values that carry
// text (subject, names) are RFC 2047 encoded; the body is UTF-8 in
// quoted-printable, so no line exceeds what SMTP allows.
func (m *message) WriteTo(dst io.Writer) (int64, error) {
	cw := &countWriter{w: dst}
	w := bufio.NewWriter(cw)
	h := func(name, value string) { fmt.Fprintf(w, "%s: %s\r\n", name, value) }
	h("From", m.from.String())
	h("To", joinAddresses(m.to))
	if len(m.cc) > 0 {
		h("Cc", joinAddresses(m.cc))
	}
	h("Subject", mime.QEncoding.Encode("utf-8", headerText(m.subject)))
	h("Date", m.date.Format(time.RFC1123Z))
	h("Message-ID", m.messageID)
	h("MIME-Version", "1.0")
	// Auto-Submitted keeps out-of-office replies from answering a robot
	// (RFC 3834); the X- headers let mail rules sort by run and status.
	h("Auto-Submitted", "auto-generated")
	h("X-Agolpipe-Run", headerText(m.req.RunID))
	h("X-Agolpipe-Status", headerText(m.req.Status))

	if !m.attach {
		h("Content-Type", "text/plain; charset=utf-8")
		h("Content-Transfer-Encoding", "quoted-printable")
		w.WriteString("\r\n")
		if err := writeQP(w, m.body()); err != nil {
			return cw.n, err
		}
		err := w.Flush()
		return cw.n, err
	}

	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(m.boundary); err != nil {
		return cw.n, err
	}
	h("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	w.WriteString("\r\n")
	body, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return cw.n, err
	}
	if err := writeQP(body, m.body()); err != nil {
		return cw.n, err
	}
	att, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8; name=\"Results.txt\""},
		"Content-Disposition":       {"attachment; filename=\"Results.txt\""},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return cw.n, err
	}
	enc := base64.NewEncoder(base64.StdEncoding, &lineWrapper{w: att, width: 76})
	if _, err := io.WriteString(enc, crlf(m.req.Results)); err != nil {
		return cw.n, err
	}
	if err := enc.Close(); err != nil {
		return cw.n, err
	}
	if err := mw.Close(); err != nil {
		return cw.n, err
	}
	err = w.Flush()
	return cw.n, err
}

// body is the plain-text body: the headline, the run facts, where the
// reports are, then Results.txt.
func (m *message) body() string {
	r := m.req
	var b strings.Builder
	b.WriteString(r.Headline() + "\n\n")
	fmt.Fprintf(&b, "Run:      %s\n", r.RunID)
	fmt.Fprintf(&b, "Pipeline: %s\n", r.Pipeline)
	fmt.Fprintf(&b, "Status:   %s (exit code %d)\n", r.Status, r.ExitCode)
	if !r.Started.IsZero() {
		fmt.Fprintf(&b, "Started:  %s\n", r.Started.Format("2006-01-02 15:04:05 MST"))
	}
	if !r.Finished.IsZero() {
		took := ""
		if !r.Started.IsZero() {
			took = fmt.Sprintf(" (took %s)", r.Finished.Sub(r.Started).Round(time.Second))
		}
		fmt.Fprintf(&b, "Finished: %s%s\n", r.Finished.Format("2006-01-02 15:04:05 MST"), took)
	}
	b.WriteString("Items:    ")
	for i, s := range []sdk.ExportStatus{sdk.StatusExported, sdk.StatusPartial, sdk.StatusFailed, sdk.StatusSkipped, sdk.StatusExcluded} {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", sdk.GroupThousands(r.Counts[string(s)]), s)
	}
	b.WriteString("\n\n")
	if len(r.Locations) > 0 {
		b.WriteString("Reports (manifest.json, Inventory.csv, Results.txt, run.log) are in:\n")
		for _, l := range r.Locations {
			fmt.Fprintf(&b, "  %s\n", l)
		}
		b.WriteString("\n")
	}
	if m.attach {
		b.WriteString("Results.txt is attached and follows here.\n\n")
	}
	if r.Results != "" {
		b.WriteString("Results.txt\n-----------\n")
		b.WriteString(r.Results)
		if !strings.HasSuffix(r.Results, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// writeQP writes text as quoted-printable with CRLF line ends.
func writeQP(w io.Writer, text string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, text); err != nil {
		return err
	}
	return qp.Close()
}

func joinAddresses(as []*mail.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	// Folding after each comma keeps long recipient lists under the
	// recommended 78 characters per header line.
	return strings.Join(s, ",\r\n ")
}

// headerText removes control characters so a value can never start a new
// header line (header injection).
func headerText(s string) string {
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
}

// safeID keeps the characters a Message-ID left part may hold.
func safeID(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, s)
	s = strings.Trim(s, ".")
	if s == "" {
		return "run"
	}
	return s
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

func randomToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// lineWrapper breaks base64 output into lines of width characters.
type lineWrapper struct {
	w     io.Writer
	width int
	col   int
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if l.col == l.width {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return n, err
			}
			l.col = 0
		}
		k := min(l.width-l.col, len(p))
		if _, err := l.w.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		l.col += k
		p = p[k:]
	}
	return n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
