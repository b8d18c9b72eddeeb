package pipeline

import (
	"fmt"
	"regexp"

	"github.com/hashicorp/hcl/v2"
)

// Defaults and limits of the run block.
const (
	DefaultPrefix      = "agolpipe"
	DefaultConcurrency = 4
	MaxConcurrency     = 64
	DefaultRetries     = 3
	MaxRetries         = 10
)

var runSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "prefix"},
		{Name: "concurrency"},
		{Name: "retries"},
		{Name: "modified_within"},
		{Name: "max_duration"},
		{Name: "verify"},
	},
}

// prefixPattern keeps the run folder name valid on every OS and sink.
var prefixPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// decodeRun decodes the optional run block, filling defaults.
func (l *loader) decodeRun(blocks []*hcl.Block) {
	l.p.Run = Run{Prefix: DefaultPrefix, Concurrency: DefaultConcurrency, Retries: DefaultRetries}
	for i, b := range blocks {
		if i > 0 {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate run block",
				Detail:   fmt.Sprintf("The run settings are already given at %s. Merge the two blocks into one.", blocks[0].DefRange),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		l.p.Run.DeclRange = b.DefRange
		content, diags := b.Body.Content(runSchema)
		l.diags = append(l.diags, diags...)
		attrs := content.Attributes
		if s, a, ok := l.getString(attrs, "prefix"); ok {
			if prefixPattern.MatchString(s) {
				l.p.Run.Prefix = s
			} else {
				l.diags = append(l.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid prefix",
					Detail:   "The prefix starts every run folder's name, so it must be 1 to 64 letters, digits, dots, dashes or underscores, starting with a letter or digit, as in \"PROD\".",
					Subject:  a.Expr.Range().Ptr(),
				})
			}
		}
		l.p.Run.Concurrency = l.getInt(attrs, "concurrency", DefaultConcurrency, 1, MaxConcurrency)
		l.p.Run.Retries = l.getInt(attrs, "retries", DefaultRetries, 0, MaxRetries)
		l.p.Run.ModifiedWithin = l.getDuration(attrs, "modified_within")
		l.p.Run.MaxDuration = l.getDuration(attrs, "max_duration")
		l.p.Run.Verify = l.getBool(attrs, "verify", false)
	}
}
