package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/objectpath"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/spf13/cobra"
)

func init() {
	var vars, varFiles []string
	cmd := &cobra.Command{
		Use:   "plan <pipeline.hcl>",
		Short: "Show what a run would back up and where, without exporting",
		Long: `Plan signs in to the source and lists the items the pipeline covers, then
shows how many items of each type would be exported and by which exporter,
what the filters leave out and why, and where each sink would put the run.
No export is started and nothing is written to any sink.

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
			writePlan(cmd.OutOrStdout(), s.opts, rep)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: --var name=value (repeatable)")
	cmd.Flags().StringArrayVar(&varFiles, "var-file", nil, "read variables from an HCL file of name = value lines (repeatable)")
	rootCmd.AddCommand(cmd)
}

// writePlan prints the plan of a dry run.
func writePlan(w io.Writer, o engine.Options, r *report.Run) {
	fmt.Fprintf(w, "Source %s %q: %s", r.Source.Type, r.Source.Name, r.Source.PortalURL)
	if r.Source.OrgName != "" {
		fmt.Fprintf(w, " (%s, signed in as %s)", r.Source.OrgName, r.Source.Username)
	}
	fmt.Fprintln(w)
	if d := o.Pipeline.Run.ModifiedWithin; d > 0 {
		fmt.Fprintf(w, "Incremental: only items modified within %s\n", d)
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
	folder := objectpath.RunFolder(o.Pipeline.Run.Prefix, time.Now())
	fmt.Fprintf(w, "\nSinks (each gets a run folder such as %s):\n", folder)
	for _, s := range r.Sinks {
		req := "required"
		if !s.Required {
			req = "optional"
		}
		fmt.Fprintf(w, "  %s (%s, %s, layout %s): %s\n", s.Name, s.Type, req, s.Layout, s.Location)
	}
	fmt.Fprintf(w, "\nRun settings: concurrency %d, retries %d. Nothing was exported or written.\n", o.Pipeline.Run.Concurrency, o.Pipeline.Run.Retries)
}
