package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/objectpath"
	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/retention"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
)

func init() {
	var vars, varFiles []string
	cmd := &cobra.Command{
		Use:   "plan <pipeline.hcl>",
		Short: "Show what a run would back up and where, without exporting",
		Long: `Plan signs in to the source and lists the items the pipeline covers, then
shows how many items of each type would be exported and by which exporter,
how many items each source filter leaves out, and, per sink, where the run
would go, whether it is zipped, and its retention policy.

For a sink with a retention block, plan lists the sink and reads each run's
manifest.json (the same reads retention makes; one listing and one small
read per run) to show which runs retention would delete after this run if
it succeeds. No export is started and nothing is written to or deleted
from any sink.

Exit status: 0 when the plan was made; 1 when the source could not be
listed; 2 for configuration errors.`,
		Example: `  agolpipe plan nightly.hcl
  agolpipe plan nightly.hcl --var org=https://myorg.maps.arcgis.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := setup(ctx, args[0], vars, varFiles, "text", true)
			if err != nil {
				return err
			}
			defer s.close()
			rep, err := engine.Run(ctx, s.opts)
			if err != nil {
				return withExit(rep.ExitCode, err)
			}
			now := time.Now()
			folder := objectpath.RunFolder(s.opts.Pipeline.Run.Prefix, now)
			previews := map[string]retentionPreview{}
			for _, sk := range s.opts.Sinks {
				if sk.Block.Retention != nil {
					rec, err := previewRetention(ctx, sk.Sink, s.opts.Pipeline, sk.Block, folder, now)
					if ctx.Err() != nil {
						return withExit(exitCanceled, ctx.Err())
					}
					previews[sk.Block.Name] = retentionPreview{rec, err}
				}
			}
			writePlan(cmd.OutOrStdout(), s.opts, rep, folder, previews)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: --var name=value (repeatable)")
	cmd.Flags().StringArrayVar(&varFiles, "var-file", nil, "read variables from an HCL file of name = value lines (repeatable)")
	rootCmd.AddCommand(cmd)
}

// retentionPreview is what a sink's retention would do after the planned
// run, or why that could not be found out.
type retentionPreview struct {
	rec *report.Retention
	err error
}

// previewRetention runs the retention selection on the sink's current runs
// plus the planned run (started now, assumed to succeed: retention only
// runs after a run that left a complete backup), so the plan shows the runs
// retention would delete after it. It only lists and reads; the policy's
// own dry_run does not matter here.
// It shows every run with the reason it is kept or deleted, and the runs
// of other pipelines it leaves alone, so the policy can be checked before
// it deletes anything.
func previewRetention(ctx context.Context, sk sdk.Sink, p *pipeline.Pipeline, b *pipeline.SinkBlock, folder string, now time.Time) (*report.Retention, error) {
	found, err := retention.Find(ctx, sk, retention.Options{Now: now, PipelineID: p.ID(), Sink: b.Name})
	if err != nil {
		return nil, err
	}
	runs, others, ignored := found.Runs, found.Others, found.Ignored
	planned := retention.Run{Folder: folder + " (this run)", Manifest: retention.Manifest{RunFolder: folder, PipelineID: p.ID(), Sink: b.Name, Started: now, Status: report.StatusSuccess}}
	if d := p.Run.ModifiedWithin; d > 0 {
		since := now.Add(-d)
		planned.Manifest.ModifiedSince = &since
	}
	keep, del := retention.Select(append([]retention.Run{planned}, runs...), retention.FromPipeline(b.Retention), now, nil)
	res := retention.Result{DryRun: true, Kept: keep, Deleted: del, Ignored: ignored, Others: others}
	for _, r := range del {
		res.DeletedObjects += r.Objects
		res.DeletedBytes += r.Bytes
	}
	return engine.RetentionRecord(res), nil
}

// policyText says a retention block in its own words.
func policyText(b *pipeline.Retention) string {
	var parts []string
	if b.DeleteAfter > 0 {
		d := b.DeleteAfter.String()
		if b.DeleteAfter%(24*time.Hour) == 0 {
			d = fmt.Sprintf("%dd", b.DeleteAfter/(24*time.Hour))
		}
		parts = append(parts, "delete_after "+d)
	}
	for _, k := range []struct {
		name string
		n    int
	}{{"keep_daily", b.KeepDaily}, {"keep_weekly", b.KeepWeekly}, {"keep_monthly", b.KeepMonthly}} {
		if k.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k.name, k.n))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, "deletes nothing (no delete_after or keep rule)")
	}
	if b.DryRun {
		parts = append(parts, "dry_run (only reports)")
	}
	return strings.Join(parts, ", ")
}

// writePlan prints the plan of a dry run.
func writePlan(w io.Writer, o engine.Options, r *report.Run, folder string, previews map[string]retentionPreview) {
	fmt.Fprintf(w, "Source %s %q: %s", r.Source.Type, r.Source.Name, r.Source.PortalURL)
	if r.Source.OrgName != "" {
		fmt.Fprintf(w, " (%s, signed in as %s)", r.Source.OrgName, r.Source.Username)
	}
	fmt.Fprintln(w)
	if d := o.Pipeline.Run.ModifiedWithin; d > 0 {
		fmt.Fprintf(w, "Incremental: only items modified within %s\n", sdk.FormatDuration(d))
	}
	type row struct {
		typ, exporter, format string
		n                     int
		size                  int64
	}
	rows := map[string]*row{}
	reasons := map[string]map[string]int{}
	export := 0
	for _, it := range r.Items {
		if it.Status != "" {
			if reasons[string(it.Status)] == nil {
				reasons[string(it.Status)] = map[string]int{}
			}
			reasons[string(it.Status)][it.Reason]++
			continue
		}
		export++
		rw := rows[it.Type]
		if rw == nil {
			rw = &row{typ: it.Type, exporter: it.Exporter, format: it.Format}
			rows[it.Type] = rw
		}
		rw.n++
		if it.Size > 0 {
			rw.size += it.Size
		}
	}
	fmt.Fprintf(w, "\n%d items discovered; %d would be exported\n", len(r.Items), export)
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		fmt.Fprintf(w, "\n  %-30s %6s  %-12s  %-24s %s\n", "ITEM TYPE", "ITEMS", "SIZE", "EXPORTER", "FORMAT")
		for _, k := range keys {
			rw := rows[k]
			f := rw.format
			if f == "" {
				f = "(exporter default)"
			}
			fmt.Fprintf(w, "  %-30s %6d  %-12s  %-24s %s\n", rw.typ, rw.n, report.Bytes(rw.size), rw.exporter, f)
		}
	}
	writeFilters(w, o.Pipeline, r)
	for _, st := range []sdk.ExportStatus{sdk.StatusExcluded, sdk.StatusSkipped} {
		m := reasons[string(st)]
		if len(m) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nLeft out (%s):\n", st)
		rs := make([]string, 0, len(m))
		for k := range m {
			rs = append(rs, k)
		}
		sort.Strings(rs)
		for _, k := range rs {
			fmt.Fprintf(w, "  %5d  %s\n", m[k], k)
		}
	}
	fmt.Fprintf(w, "\nSinks (each gets a run folder such as %s):\n", folder)
	blocks := map[string]*pipeline.SinkBlock{}
	for _, b := range o.Pipeline.Sinks {
		blocks[b.Name] = b
	}
	for _, s := range r.Sinks {
		req := "required"
		if !s.Required {
			req = "optional"
		}
		fmt.Fprintf(w, "  %s (%s, %s, layout %s): %s\n", s.Name, s.Type, req, s.Layout, s.Location)
		b := blocks[s.Name]
		if b == nil {
			continue
		}
		if b.Zip {
			fmt.Fprintf(w, "    zip: on: one archive %s/%s.zip, with %s and %s also beside it\n", folder, path.Base(folder), report.ManifestFile, report.ResultsFile)
		} else {
			fmt.Fprintf(w, "    zip: off: artifacts as files under %s/\n", folder)
		}
		if b.Retention == nil {
			fmt.Fprintf(w, "    retention: none (runs stay until deleted by hand or by agolpipe prune with a retention block)\n")
			continue
		}
		fmt.Fprintf(w, "    retention: %s\n", policyText(b.Retention))
		switch pv := previews[b.Name]; {
		case pv.err != nil:
			fmt.Fprintf(w, "    could not list the sink to preview retention: %v\n", pv.err)
		case pv.rec != nil:
			fmt.Fprintf(w, "    after this run, if it succeeds (runs of pipeline %q, sink %q, in the sink now):\n", o.Pipeline.ID(), b.Name)
			_ = report.WriteRetention(w, "      ", pv.rec)
		}
	}
	// The same warnings run prints (a non-admin or API-key sign-in that
	// covers less than the organization, a completeness mismatch...): a
	// plan that hid them would promise more than the run delivers.
	if len(r.Warnings) > 0 {
		fmt.Fprintf(w, "\nWarnings (%d):\n", len(r.Warnings))
		for _, warn := range r.Warnings {
			fmt.Fprintf(w, "  - %s\n", warn)
		}
	}
	maxDur := "max_duration none (deferred exports are still bounded by 4 times their timeout)"
	if d := o.Pipeline.Run.MaxDuration; d > 0 {
		maxDur = "max_duration " + d.String() + " (then what is still pending fails)"
	}
	fmt.Fprintf(w, "\nRun settings: concurrency %d, retries %d, %s. Nothing was exported or written.\n", o.Pipeline.Run.Concurrency, o.Pipeline.Run.Retries, maxDur)
}

// quoted matches a %q-quoted value inside a reason ("type \"Web Map\" is
// in exclude_types"), which must not count as naming a filter.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// namesAttr reports whether reason names the attribute outside quotes, as
// a whole word ("types" is not named by "exclude_types").
func namesAttr(reason, attr string) bool {
	r := quoted.ReplaceAllString(reason, `""`)
	for i := 0; ; {
		j := strings.Index(r[i:], attr)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(attr)
		if (j == 0 || !isWordByte(r[j-1])) && (end == len(r) || !isWordByte(r[end])) {
			return true
		}
		i = j + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// writeFilters shows each filter of the source block and how many items it
// left out. Core does not know a source's filters, so a filter is an
// attribute of the source block that holds a list, or one an exclusion
// reason names (the source says which filter left an item out); the run
// block's modified_within counts too. An item is counted once, under the
// first filter that left it out (the source judges in order).
func writeFilters(w io.Writer, p *pipeline.Pipeline, r *report.Run) {
	var reasons []string
	for _, it := range r.Items {
		if it.Status == sdk.StatusExcluded {
			reasons = append(reasons, it.Reason)
		}
	}
	// name is what an exclusion reason says; text is the filter as the
	// pipeline file writes it.
	type filter struct{ name, text string }
	var filters []filter
	if c := p.Source.Config; !c.IsNull() && c.IsKnown() && c.Type().IsObjectType() {
		names := make([]string, 0, len(c.Type().AttributeTypes()))
		for n := range c.Type().AttributeTypes() {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			v := c.GetAttr(n)
			if v.IsNull() || !v.IsKnown() {
				continue
			}
			isList := v.Type().IsListType() || v.Type().IsSetType() || v.Type().IsTupleType()
			named := slices.ContainsFunc(reasons, func(x string) bool { return namesAttr(x, n) })
			if (isList && v.LengthInt() > 0) || (named && !v.Type().IsObjectType()) {
				filters = append(filters, filter{n, n + " = " + ctyText(v, p.Sensitive)})
			}
		}
	}
	if d := p.Run.ModifiedWithin; d > 0 && !slices.ContainsFunc(filters, func(f filter) bool { return f.name == "modified_within" }) {
		filters = append(filters, filter{"modified_within", fmt.Sprintf("run { modified_within = %q }", sdk.FormatDuration(d))})
	}
	if len(filters) == 0 {
		return
	}
	fmt.Fprintf(w, "\nSource filters (%s %q), items each left out:\n", p.Source.Type, p.Source.Name)
	counted := make([]bool, len(reasons))
	for _, f := range filters {
		n := 0
		for i, x := range reasons {
			if !counted[i] && namesAttr(x, f.name) {
				counted[i] = true
				n++
			}
		}
		fmt.Fprintf(w, "  %6d  %s\n", n, f.text)
	}
	other := 0
	for _, c := range counted {
		if !c {
			other++
		}
	}
	if other > 0 {
		fmt.Fprintf(w, "  %6d  by the source's own rules (see Left out below)\n", other)
	}
}

// ctyText prints a filter's value as it would be written in HCL; a value
// the pipeline marks sensitive is never printed.
func ctyText(v cty.Value, sensitive []string) string {
	switch {
	case v.Type() == cty.String:
		if slices.Contains(sensitive, v.AsString()) {
			return "(sensitive)"
		}
		return fmt.Sprintf("%q", v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	case v.Type() == cty.Bool:
		return fmt.Sprint(v.True())
	case v.CanIterateElements():
		var parts []string
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e.IsNull() || !e.IsKnown() {
				continue
			}
			parts = append(parts, ctyText(e, sensitive))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return "(" + v.Type().FriendlyName() + ")"
}
