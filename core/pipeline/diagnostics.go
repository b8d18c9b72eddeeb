package pipeline

import (
	"bytes"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Redacted replaces a sensitive value wherever agolpipe prints text.
const Redacted = "(sensitive)"

// minRedactLen is the shortest value Redact replaces: blanking out every
// occurrence of one or two characters would make output unreadable and
// hides nothing worth hiding.
const minRedactLen = 3

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
	if err := hcl.NewDiagnosticTextWriter(&buf, files, width, color).WriteDiagnostics(diags); err != nil {
		return err
	}
	_, err := io.WriteString(w, Redact(buf.String(), sensitive))
	return err
}

// Redact replaces every occurrence of a sensitive value in s by Redacted,
// longest values first so a value containing another is hidden whole.
func Redact(s string, sensitive []string) string {
	vals := make([]string, 0, len(sensitive))
	for _, v := range sensitive {
		if len(v) >= minRedactLen {
			vals = append(vals, v)
		}
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, v := range vals {
		s = strings.ReplaceAll(s, v, Redacted)
	}
	return s
}
