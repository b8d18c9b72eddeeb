package sdk

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// MinSubstringSecret is the length from which a secret is hidden wherever
// it occurs, even inside a longer word. A shorter one is hidden only where
// it stands as a value of its own (between characters that are not
// letters, digits or '_'): replacing every "n" of a one-character
// password turned a log's "content" into "conte[redacted]t", which hid
// nothing and mangled everything.
const MinSubstringSecret = 6

// Redactor replaces secret values in text: each as written, as JSON
// escapes it and as Go quoting escapes it, longest first so that a secret
// containing another is hidden whole. The zero of *Redactor (nil) changes
// nothing. Safe for concurrent use.
type Redactor struct {
	long  *strings.Replacer
	short []*regexp.Regexp
	with  string
}

// NewRedactor returns a Redactor that writes replacement in place of each
// of secrets (empty ones are ignored), or nil when there is none.
func NewRedactor(secrets []string, replacement string) *Redactor {
	seen := map[string]bool{}
	var forms []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		js, _ := json.Marshal(s)
		q := strconv.Quote(s)
		for _, f := range []string{s, string(js[1 : len(js)-1]), q[1 : len(q)-1]} {
			if f != "" && !seen[f] {
				seen[f] = true
				forms = append(forms, f)
			}
		}
	}
	if len(forms) == 0 {
		return nil
	}
	sort.Slice(forms, func(i, j int) bool {
		if len(forms[i]) != len(forms[j]) {
			return len(forms[i]) > len(forms[j])
		}
		return forms[i] < forms[j]
	})
	r := &Redactor{with: replacement}
	var args []string
	for _, f := range forms {
		if len(f) >= MinSubstringSecret {
			args = append(args, f, replacement)
			continue
		}
		// Go's regexp has no look-around: the neighbours are captured and
		// written back.
		r.short = append(r.short, regexp.MustCompile(`(^|[^\pL\pN_])`+regexp.QuoteMeta(f)+`($|[^\pL\pN_])`))
	}
	if len(args) > 0 {
		r.long = strings.NewReplacer(args...)
	}
	return r
}

// Replace returns s with every secret replaced.
func (r *Redactor) Replace(s string) string {
	if r == nil {
		return s
	}
	if r.long != nil {
		s = r.long.Replace(s)
	}
	for _, re := range r.short {
		// A match takes its right neighbour, so "a a" needs a second pass
		// for the second "a"; two passes cover any run of them.
		for range 2 {
			s = re.ReplaceAllString(s, "${1}"+strings.ReplaceAll(r.with, "$", "$$")+"${2}")
		}
	}
	return s
}
