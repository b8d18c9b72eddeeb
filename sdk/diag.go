package sdk

import (
	"fmt"
	"strings"
)

// Severity of a diagnostic.
type Severity int

const (
	SeverityError Severity = iota
	SeverityWarning
)

// Diagnostic is a problem a component found in its configuration or while
// working. Path names the attribute it is about (for example
// ["auth", "username"]); the host turns it into file:line:col and a snippet.
// Summary is short; Detail says what to do. Neither may contain a secret.
type Diagnostic struct {
	Severity Severity
	Summary  string
	Detail   string
	Path     []string
}

// Diagnostics is a list of diagnostics; a nil list means no problems.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (d Diagnostics) HasErrors() bool {
	for _, x := range d {
		if x.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errorf appends an error diagnostic about the attribute at path.
func (d Diagnostics) Errorf(path []string, summary, detailFormat string, args ...any) Diagnostics {
	return append(d, Diagnostic{Severity: SeverityError, Summary: summary, Detail: fmt.Sprintf(detailFormat, args...), Path: path})
}

// Warnf appends a warning diagnostic about the attribute at path.
func (d Diagnostics) Warnf(path []string, summary, detailFormat string, args ...any) Diagnostics {
	return append(d, Diagnostic{Severity: SeverityWarning, Summary: summary, Detail: fmt.Sprintf(detailFormat, args...), Path: path})
}

// Err returns the error diagnostics as one error, or nil when there are none.
// It is for callers that have no source file to point into.
func (d Diagnostics) Err() error {
	var msgs []string
	for _, x := range d {
		if x.Severity != SeverityError {
			continue
		}
		m := x.Summary
		if len(x.Path) > 0 {
			m = strings.Join(x.Path, ".") + ": " + m
		}
		if x.Detail != "" {
			m += ": " + x.Detail
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}
