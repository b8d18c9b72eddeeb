package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// WriteManifest writes r as indented JSON.
func WriteManifest(w io.Writer, r *Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// ReadManifest reads a manifest.json, refusing a schema this build cannot
// read (a newer major layout).
func ReadManifest(rd io.Reader) (*Run, error) {
	var r Run
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if r.SchemaVersion < 1 || r.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("manifest.json: schema version %d is not supported by this agolpipe (reads 1 to %d); use a newer agolpipe", r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// InventoryHeader is the first row of Inventory.csv.
// "Depends On" holds forward dependencies (the items this item refers to),
// "Used By" the reverse ones (the items of the run that refer to it).
var InventoryHeader = []string{"Item ID", "Title", "Owner", "Type", "Folder", "Created", "Modified", "Sharing", "Size", "Result", "Depends On", "Used By", "Reason"}

// WriteInventory writes one CSV row per discovered item, in discovery order.
// Dates are RFC 3339 in UTC; Size is empty when the portal did not say;
// Depends On and Used By are item ids separated by ";".
func WriteInventory(w io.Writer, r *Run) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(InventoryHeader); err != nil {
		return err
	}
	for _, it := range r.Items {
		size := ""
		if it.Size >= 0 {
			size = fmt.Sprint(it.Size)
		}
		row := []string{it.ID, csvSafe(it.Title), csvSafe(it.Owner), it.Type, csvSafe(it.Folder), date(it.Created), date(it.Modified),
			it.Access, size, string(it.Status), strings.Join(it.Dependencies, ";"), strings.Join(it.UsedBy, ";"), csvSafe(it.Reason)}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe defuses spreadsheet formulas: a title such as "=HYPERLINK(...)"
// would otherwise run when an administrator opens Inventory.csv in Excel.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Failure categories of Item.ErrorKind, with the hint Results.txt prints.
var hints = map[string]struct{ title, hint string }{
	"auth":        {"Sign-in refused or expired", "Check the source's auth block and that the account is enabled and can see these items; then run again."},
	"not found":   {"Item or file not found", "The item (or a file it refers to) was deleted, moved or is not shared with the backup account while the run was going; check its sharing and run again."},
	"retryable":   {"Transient errors after every retry", "The portal or a sink kept timing out, throttling or failing with 5xx errors. Run again later, lower run.concurrency, or raise run.retries."},
	"timeout":     {"Out of time", "A portal export job past the export block's timeout goes on in the background and is collected until it has run 4 times that timeout; run.max_duration bounds the whole run. Raise timeout for this item type (or max_duration), or export this item in a separate run."},
	"crash":       {"Exporter stopped unexpectedly", "This is a bug in the exporter plugin; report it with run.log attached. Other items were not affected."},
	"sink":        {"Not stored in any sink", "Every sink refused the artifacts; see the Sinks section below for each sink's error."},
	"plugin":      {"Plugin stopped: its binary changed during the run", "The plugin's file no longer matches the sha256 in its plugin block, so it was not started again. If you upgraded it on purpose, put the new checksum (sha256sum <path>) in the plugin block and run again; otherwise someone changed the file: do not run it."},
	"throttled":   {"Throttled by the portal after every retry", "The portal kept answering 429 or 403 to bursts although agolpipe backed off and exported fewer items at once. Run again later, or lower run.concurrency."},
	"unreachable": {"Portal or server could not be reached", "Nothing answered at the address (connection refused, unknown host). Check that the portal or server is up and its URL, then run again."},
	"permanent":   {"Refused by the portal or exporter", "The message says why; usually the item needs a change in the portal (for example, allow export on a hosted feature layer) or an export block needs another format."},
}

// HintFor returns the Results.txt hint for an error kind name.
func HintFor(kind string) string { return hints[kind].hint }

// WriteResults writes Results.txt: the run summary a person reads first.
func WriteResults(w io.Writer, r *Run) error {
	p := &printer{w: w}
	p.f("agolpipe %s run %s\n", r.AgolpipeVersion, r.RunFolder)
	p.f("Status:    %s (exit code %d)\n", strings.ToUpper(r.Status), r.ExitCode)
	if r.Error != "" {
		p.f("Error:     %s\n", r.Error)
	}
	p.f("Started:   %s\n", r.Started.UTC().Format("2006-01-02 15:04:05 MST"))
	p.f("Finished:  %s\n", r.Finished.UTC().Format("2006-01-02 15:04:05 MST"))
	p.f("Duration:  %s\n", r.Duration().Round(time.Second))
	src := fmt.Sprintf("%s %q %s", r.Source.Type, r.Source.Name, r.Source.PortalURL)
	if r.Source.OrgName != "" {
		src += " (" + r.Source.OrgName + ")"
	}
	p.f("Source:    %s\n", src)
	p.f("Pipeline:  %s (sha256 %s)\n", r.Pipeline.File, r.Pipeline.SHA256)

	c := r.Counts
	p.f("\nItems\n")
	for _, row := range []struct {
		k string
		v int
	}{{"Discovered", c.Discovered}, {"Exported", c.Exported}, {"Partial", c.Partial}, {"Failed", c.Failed}, {"Skipped", c.Skipped}, {"Excluded", c.Excluded}, {"Canceled", c.Canceled}} {
		p.f("  %-11s %6d\n", row.k, row.v)
	}
	p.f("  %-11s %6d (%s)\n", "Artifacts", c.Artifacts, Bytes(c.Bytes))
	switch {
	case r.Source.ItemCount < 0:
	case r.Source.Admin:
		p.f("  The portal reports %d items in the organization.\n", r.Source.ItemCount)
	default:
		// Without the admin privilege the count is the user's own items
		// (or what an API key can see), not the organization's.
		p.f("  The portal reports %d items within reach of %s, who is not an administrator: this is not the whole organization.\n", r.Source.ItemCount, r.Source.Username)
	}

	byType := map[string]int{}
	for _, it := range r.Items {
		if it.Status == sdk.StatusExported || it.Status == sdk.StatusPartial {
			byType[it.Type]++
		}
	}
	if len(byType) > 0 {
		p.f("\nExported by type\n")
		for _, t := range sortedKeys(byType) {
			p.f("  %-30s %6d\n", t, byType[t])
		}
	}

	var failed []Item
	for _, it := range r.Items {
		if it.Status == sdk.StatusFailed {
			failed = append(failed, it)
		}
	}
	if len(failed) > 0 {
		p.f("\nFailed (%d)\n", len(failed))
		groups := map[string][]Item{}
		for _, it := range failed {
			k := it.ErrorKind
			if _, ok := hints[k]; !ok {
				k = "permanent"
			}
			groups[k] = append(groups[k], it)
		}
		for _, k := range sortedKeys(groups) {
			h := hints[k]
			p.f("  %s (%d)\n", h.title, len(groups[k]))
			p.f("    What to do: %s\n", h.hint)
			for _, it := range groups[k] {
				p.f("    - %s: %s\n", itemLabel(it), it.Reason)
				if it.Hint != "" && it.Hint != h.hint {
					p.f("      %s\n", it.Hint)
				}
			}
		}
	}
	p.list("Partial and fallback exports", r.Items, sdk.StatusPartial)
	p.list("Skipped", r.Items, sdk.StatusSkipped)
	p.list("Canceled", r.Items, ItemCanceled)

	var warns []string
	for _, it := range r.Items {
		for _, w := range it.Warnings {
			warns = append(warns, itemLabel(it)+": "+w)
		}
	}
	warns = append(warns, r.Warnings...)
	if len(warns) > 0 {
		p.f("\nWarnings (%d)\n", len(warns))
		for _, w := range warns {
			p.f("  - %s\n", w)
		}
	}
	p.list("Excluded", r.Items, sdk.StatusExcluded)

	p.f("\nSinks\n")
	for _, s := range r.Sinks {
		req := "required"
		if !s.Required {
			req = "optional"
		}
		p.f("  %s (%s, %s): %s, %d stored (%s), %d missed\n", s.Name, s.Type, req, strings.ToUpper(s.Outcome), s.Stored, Bytes(s.Bytes), s.Missed)
		p.f("    %s\n", s.RunPath)
		if s.Error != "" {
			p.f("    Error: %s\n", s.Error)
		}
		for _, w := range s.Warnings {
			p.f("    - %s\n", w)
		}
		p.verified(s.Verified)
		p.retention(s.Retention)
	}
	return p.err
}

// verified prints what reading the sink's copy back found.
func (p *printer) verified(v *Verified) {
	switch {
	case v == nil:
	case v.Error != "":
		p.f("    Verify: NOT VERIFIED: %s\n", v.Error)
	case v.OK:
		p.f("    Verify: read back %d artifact(s), %s: sizes and sha256 match the manifest\n", v.Checked, Bytes(v.Bytes))
	default:
		p.f("    Verify: FAILED: %d problem(s) in %d artifact(s) read back (%s); run `agolpipe verify` for the details\n", v.ProblemCount, v.Checked, Bytes(v.Bytes))
		for _, pr := range v.Problems {
			p.f("      - %s\n", pr)
		}
		if n := v.ProblemCount - len(v.Problems); n > 0 {
			p.f("      ... and %d more\n", n)
		}
	}
}

// retention prints what a sink's retention policy did after the run.
func (p *printer) retention(r *Retention) {
	if r != nil && p.err == nil {
		p.err = WriteRetention(p.w, "    ", r)
	}
}

// WriteRetention renders a retention outcome, each line starting with
// indent: the lines Results.txt shows under a sink, and what `agolpipe
// prune` prints, so both say it the same way.
func WriteRetention(w io.Writer, indent string, r *Retention) error {
	p := &printer{w: w}
	if r.Skipped != "" {
		p.f("%sRetention: not applied: %s\n", indent, r.Skipped)
		return p.err
	}
	verb := "deleted"
	if r.DryRun {
		verb = "would delete (dry_run)"
	}
	p.f("%sRetention: %s %d run(s), %d object(s), %s; kept %d run(s)\n", indent, verb, len(r.Deleted), r.Objects, Bytes(r.Bytes), r.Kept)
	if k := r.Retained; k != nil && k.Objects > 0 {
		p.f("%s  NOT freed: %d object(s), %s of the deleted runs are still stored: %s\n", indent, k.Objects, Bytes(k.Bytes), retainedText(k))
	}
	line := func(d PrunedRun) {
		status := d.Status
		if d.Kind == "incremental" {
			status += ", incremental"
		}
		p.f("%s  - %s (started %s, %s): %s\n", indent, d.Folder, d.Started.UTC().Format("2006-01-02 15:04 MST"), status, d.Reason)
		if k := d.Retained; k != nil && k.Objects > 0 {
			p.f("%s    still stored: %d object(s), %s: %s\n", indent, k.Objects, Bytes(k.Bytes), retainedText(k))
		}
	}
	for _, d := range r.Deleted {
		line(d)
	}
	for _, d := range r.KeptRuns {
		line(d)
	}
	if len(r.Others) > 0 {
		p.f("%s  Left alone: %d run(s) of other pipelines or sinks in this folder\n", indent, len(r.Others))
		for _, d := range r.Others {
			line(d)
		}
	}
	for _, why := range r.Ignored {
		p.f("%s  - ignored %s\n", indent, why)
	}
	if r.Error != "" {
		p.f("%sRetention error: %s\n", indent, r.Error)
	}
	return p.err
}

// retainedText says why deleted bytes are still stored and until when.
func retainedText(k *Retained) string {
	s := k.Reason
	if k.Until != nil {
		s += fmt.Sprintf(" (locked until %s at the latest)", k.Until.UTC().Format("2006-01-02 15:04 MST"))
	}
	if k.LegalHolds > 0 {
		s += fmt.Sprintf(" (%d under a legal hold)", k.LegalHolds)
	}
	return s
}

func itemLabel(it Item) string {
	return fmt.Sprintf("%s %q (%s, %s)", it.ID, it.Title, it.Type, it.Owner)
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (p *printer) list(title string, items []Item, st sdk.ExportStatus) {
	var sel []Item
	for _, it := range items {
		if it.Status == st {
			sel = append(sel, it)
		}
	}
	if len(sel) == 0 {
		return
	}
	p.f("\n%s (%d)\n", title, len(sel))
	for _, it := range sel {
		p.f("  - %s: %s\n", itemLabel(it), it.Reason)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Bytes formats a byte count for people: "1.5 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
