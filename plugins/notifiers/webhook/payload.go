package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agolpipe/agolpipe/sdk"
)

// PayloadVersion is the version of the JSON payload. Fields are only ever
// added within a version; a renamed or removed field raises it.
const PayloadVersion = 1

// RunFinished is the stable JSON payload of format "json", documented in
// README.md. Times are RFC 3339 in UTC.
type RunFinished struct {
	Version         int              `json:"version"`
	Event           string           `json:"event"` // always "run.finished"
	RunID           string           `json:"run_id"`
	Pipeline        string           `json:"pipeline"`
	Status          string           `json:"status"` // success, partial, failed, canceled
	ExitCode        int              `json:"exit_code"`
	Headline        string           `json:"headline"`
	Started         *time.Time       `json:"started"`
	Finished        *time.Time       `json:"finished"`
	DurationSeconds float64          `json:"duration_seconds"`
	TotalItems      int64            `json:"total_items"`
	Counts          map[string]int64 `json:"counts"` // always has exported, partial, failed, skipped, excluded
	Locations       []string         `json:"locations"`
	Results         string           `json:"results"` // text of Results.txt
}

// standardCounts are present in every payload, zero when the run had none.
var standardCounts = []sdk.ExportStatus{sdk.StatusExported, sdk.StatusPartial, sdk.StatusFailed, sdk.StatusSkipped, sdk.StatusExcluded}

// NewRunFinished builds the JSON payload of a run.
func NewRunFinished(req sdk.NotifyRequest) RunFinished {
	counts := map[string]int64{}
	for _, s := range standardCounts {
		counts[string(s)] = 0
	}
	for k, v := range req.Counts {
		counts[k] = v
	}
	p := RunFinished{
		Version: PayloadVersion, Event: "run.finished",
		RunID: req.RunID, Pipeline: req.Pipeline, Status: req.Status, ExitCode: req.ExitCode,
		Headline: req.Headline(), TotalItems: req.TotalItems(), Counts: counts,
		Locations: req.Locations, Results: req.Results,
	}
	if p.Locations == nil {
		p.Locations = []string{}
	}
	if !req.Started.IsZero() {
		t := req.Started.UTC()
		p.Started = &t
	}
	if !req.Finished.IsZero() {
		t := req.Finished.UTC()
		p.Finished = &t
	}
	if p.Started != nil && p.Finished != nil {
		p.DurationSeconds = p.Finished.Sub(*p.Started).Seconds()
	}
	return p
}

// Payload renders the request body of a format.
func Payload(format string, req sdk.NotifyRequest) ([]byte, error) {
	var v any
	switch format {
	case FormatJSON:
		v = NewRunFinished(req)
	case FormatSlack:
		v = slackMessage(req)
	case FormatTeams:
		v = teamsMessage(req)
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
	return json.MarshalIndent(v, "", "  ")
}

// Limits of the chat formats: Slack section text holds 3,000 characters,
// a Teams message about 28 KB. Results.txt is cut to fit; the full text is
// in the reports.
const (
	slackResultsMax = 2800
	teamsResultsMax = 12000
)

func slackMessage(req sdk.NotifyRequest) map[string]any {
	headline := req.Headline()
	var fields []map[string]any
	for _, s := range standardCounts {
		fields = append(fields, map[string]any{"type": "mrkdwn",
			"text": fmt.Sprintf("*%s*\n%s", titleCase(string(s)), sdk.GroupThousands(req.Counts[string(s)]))})
	}
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": cut(emoji(req.Status)+" "+headline, 150), "emoji": true}},
		{"type": "section", "fields": fields},
	}
	if len(req.Locations) > 0 {
		var b strings.Builder
		b.WriteString("*Reports*")
		for _, l := range req.Locations {
			b.WriteString("\n• " + slackEscape(l))
		}
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": cut(b.String(), 2900)}})
	}
	if req.Results != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn",
			"text": "```" + cutResults(slackEscape(req.Results), slackResultsMax) + "```"}})
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{
		{"type": "mrkdwn", "text": slackEscape(runFacts(req))},
	}})
	// text is what notifications and clients without blocks show.
	return map[string]any{"text": slackEscape(headline), "blocks": blocks}
}

// teamsMessage is an Adaptive Card in the message envelope that Teams
// workflows ("When a Teams webhook request is received") and incoming
// webhooks accept.
func teamsMessage(req sdk.NotifyRequest) map[string]any {
	color := map[string]string{"success": "Good", "partial": "Warning", "failed": "Attention", "canceled": "Warning"}[req.Status]
	if color == "" {
		color = "Default"
	}
	var facts []map[string]string
	for _, s := range standardCounts {
		facts = append(facts, map[string]string{"title": titleCase(string(s)), "value": sdk.GroupThousands(req.Counts[string(s)])})
	}
	body := []map[string]any{
		{"type": "TextBlock", "text": req.Headline(), "weight": "Bolder", "size": "Medium", "color": color, "wrap": true},
		{"type": "FactSet", "facts": facts},
	}
	if len(req.Locations) > 0 {
		body = append(body, map[string]any{"type": "TextBlock", "wrap": true,
			"text": "**Reports**\n\n- " + strings.Join(req.Locations, "\n- ")})
	}
	if req.Results != "" {
		body = append(body, map[string]any{"type": "TextBlock", "wrap": true, "fontType": "Monospace", "size": "Small",
			"text": cutResults(req.Results, teamsResultsMax)})
	}
	body = append(body, map[string]any{"type": "TextBlock", "wrap": true, "isSubtle": true, "size": "Small", "text": runFacts(req)})
	return map[string]any{
		"type": "message",
		"attachments": []map[string]any{{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"msteams": map[string]any{"width": "Full"},
				"body":    body,
			},
		}},
	}
}

// runFacts is the small print: run id, exit code, start and duration.
func runFacts(req sdk.NotifyRequest) string {
	parts := []string{"run " + req.RunID, fmt.Sprintf("exit code %d", req.ExitCode)}
	if !req.Started.IsZero() {
		parts = append(parts, "started "+req.Started.UTC().Format("2006-01-02 15:04 MST"))
		if !req.Finished.IsZero() {
			parts = append(parts, "took "+req.Finished.Sub(req.Started).Round(time.Second).String())
		}
	}
	return strings.Join(parts, " · ")
}

func emoji(status string) string {
	switch status {
	case "success":
		return "✅"
	case "partial":
		return "⚠️"
	case "canceled":
		return "⏹️"
	}
	return "❌"
}

// cutResults keeps the first max bytes of Results.txt, cut at a line end.
func cutResults(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	if i := strings.LastIndexByte(s, '\n'); i > max/2 {
		s = s[:i+1]
	}
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "… (cut; the full Results.txt is with the reports)\n"
}

// cut shortens s to at most max runes.
func cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// slackEscape escapes the three characters Slack's mrkdwn treats as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
