package pipeline

import (
	"bytes"
	"fmt"
	"io"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
)

// Redacted replaces a sensitive value wherever agolpipe prints text.
const Redacted = "(sensitive)"

// WriteDiagnostics renders diags as text with source snippets to w, the way
// `agolpipe validate` shows them. p supplies the source files and the
// sensitive values, which are replaced by Redacted as a last line of defence
// (a snippet of a line holding a secret typed into the file, for example).
// p may be nil. width wraps Details (0: no wrapping).
func WriteDiagnostics(w io.Writer, p *Pipeline, diags hcl.Diagnostics, width uint, color bool) error {
	var files map[string]*hcl.File
	var sensitive []string
	if p != nil {
		files, sensitive = p.files, p.Sensitive
	}
	var buf bytes.Buffer
	dw := hcl.NewDiagnosticTextWriter(&buf, files, width, color)
	for _, d := range diags {
		start := buf.Len()
		if err := dw.WriteDiagnostic(d); err != nil {
			return err
		}
		withColumn(&buf, start, d)
	}
	_, err := io.WriteString(w, Redact(buf.String(), sensitive))
	return err
}

// withColumn rewrites hcl's "on FILE line N" of the diagnostic rendered
// into buf from start as "on FILE:N:C": the column the README promises,
// and the form editors and terminals turn into a link.
func withColumn(buf *bytes.Buffer, start int, d *hcl.Diagnostic) {
	if d.Subject == nil {
		return
	}
	r := d.Subject
	old := fmt.Sprintf("on %s line %d", r.Filename, r.Start.Line)
	text := buf.Bytes()[start:]
	i := bytes.Index(text, []byte(old))
	if i < 0 {
		return
	}
	rendered := append([]byte(nil), text[:i]...)
	rendered = append(rendered, fmt.Sprintf("on %s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)...)
	rendered = append(rendered, text[i+len(old):]...)
	buf.Truncate(start)
	buf.Write(rendered)
}

// Redact replaces the sensitive values in s by Redacted: a short value
// only where it stands alone, a longer one wherever it occurs (see
// sdk.Redactor).
func Redact(s string, sensitive []string) string {
	return sdk.NewRedactor(sensitive, Redacted).Replace(s)
}
