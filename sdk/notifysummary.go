package sdk

import (
	"path"
	"strconv"
	"strings"
)

// Headline sums up a run in one line, the same for every notifier so that an
// email subject, a Slack message and a log line read alike, for example
// "FAILED nightly: 3 failed, 2 partial of 2,041 items". It names the pipeline
// without folder or ".hcl" and never contains a secret (it is built from
// counts, the status and the pipeline name only).
func (r NotifyRequest) Headline() string {
	status := strings.ToUpper(r.Status)
	switch r.Status {
	case "success":
		status = "OK"
	case "":
		status = "UNKNOWN"
	}
	// The engine may pass a file path written on Windows; cut at either separator.
	name := strings.TrimSuffix(path.Base(strings.ReplaceAll(r.Pipeline, `\`, "/")), ".hcl")
	if r.Pipeline == "" {
		name = "pipeline"
	}
	total := r.TotalItems()
	failed, partial := r.Counts[string(StatusFailed)], r.Counts[string(StatusPartial)]
	var parts []string
	if failed > 0 {
		parts = append(parts, GroupThousands(failed)+" failed")
	}
	if partial > 0 {
		parts = append(parts, GroupThousands(partial)+" partial")
	}
	if len(parts) == 0 {
		parts = append(parts, GroupThousands(r.Counts[string(StatusExported)])+" exported")
	}
	noun := "items"
	if total == 1 {
		noun = "item"
	}
	return status + " " + name + ": " + strings.Join(parts, ", ") + " of " + GroupThousands(total) + " " + noun
}

// TotalItems is the number of items the run discovered: the sum of Counts.
func (r NotifyRequest) TotalItems() int64 {
	var n int64
	for _, c := range r.Counts {
		n += c
	}
	return n
}

// GroupThousands writes n with comma thousands separators ("2,041"), the
// way counts appear in reports and notifications.
func GroupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
