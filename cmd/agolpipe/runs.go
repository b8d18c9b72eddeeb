package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/spf13/cobra"
)

func init() {
	var vars, varFiles []string
	var sink string
	var asJSON bool
	runs := &cobra.Command{
		Use:   "runs <pipeline.hcl>",
		Short: "List the runs each sink holds for a pipeline, newest first",
		Long: `Runs lists, for each sink of a pipeline (or the one --sink names), the
runs of this pipeline it holds, newest first: run folder, start time,
status, items backed up of those discovered, artifacts, bytes and whether
the run is one zip archive. It reads each run's manifest.json through the
sink's plugin (for a zipped run, the manifest stored beside the archive) and
never signs in to the portal. Runs of other pipelines sharing the folder
are counted, not listed.

'agolpipe runs show' shows one run. Wherever a run is asked for, 'latest'
names the newest complete run (success or partial).

Exit status: 0 when every sink was listed, 1 when a sink could not be,
2 for a configuration error, 130 when interrupted.`,
		Example: `  agolpipe runs nightly.hcl
  agolpipe runs nightly.hcl --sink offsite
  agolpipe runs show nightly.hcl latest`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sr, err := openStoredRuns(ctx, args[0], vars, varFiles, sink)
			if err != nil {
				return err
			}
			defer sr.close()
			ls := sr.cat.ListAll(ctx)
			out := cmd.OutOrStdout()
			if asJSON {
				return writeRunsJSON(out, sr, ls)
			}
			failed := 0
			for i, l := range ls {
				if i > 0 {
					fmt.Fprintln(out)
				}
				fmt.Fprintf(out, "%s: ", sr.location(l.Sink))
				if l.Err != nil {
					fmt.Fprintln(out, "cannot be listed")
					fmt.Fprintf(os.Stderr, "Error: %v\n", l.Err)
					failed++
					continue
				}
				fmt.Fprintf(out, "%d run(s) of pipeline %q\n", len(l.Runs), sr.p.ID())
				if len(l.Runs) > 0 {
					tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "  RUN\tSTARTED (UTC)\tSTATUS\tITEMS\tARTIFACTS\tBYTES\tZIPPED")
					for _, r := range l.Runs {
						c := r.Head.Counts
						fmt.Fprintf(tw, "  %s\t%s\t%s\t%d/%d\t%d\t%s\t%s\n", r.Folder, r.Head.Started.UTC().Format("2006-01-02 15:04:05"), runStatus(r),
							c.Exported+c.Partial, c.Discovered, c.Artifacts, report.Bytes(c.Bytes), yesNo(r.Zipped()))
					}
					_ = tw.Flush()
				}
				if l.Others > 0 {
					fmt.Fprintf(out, "  (%d run(s) of other pipelines in the same folder are not listed)\n", l.Others)
				}
				for _, why := range l.Ignored {
					fmt.Fprintf(out, "  ignored %s\n", why)
				}
			}
			if ctx.Err() != nil {
				return withExit(exitCanceled, ctx.Err())
			}
			if failed > 0 {
				return withExit(exitPartial, nil)
			}
			return nil
		},
	}
	runs.Flags().StringVar(&sink, "sink", "", "list only the sink of this name")
	runs.Flags().BoolVar(&asJSON, "json", false, "print the listing as JSON")
	runs.PersistentFlags().StringArrayVar(&vars, "var", nil, "set a variable: --var name=value (repeatable)")
	runs.PersistentFlags().StringArrayVar(&varFiles, "var-file", nil, "read variables from an HCL file of name = value lines (repeatable)")

	var item string
	show := &cobra.Command{
		Use:   "show <pipeline.hcl> <run>",
		Short: "Show one run: its counts, failed and partial items, or one item's artifacts and history",
		Long: `Show prints a run's status, counts and sinks as its manifest recorded them,
and the items that failed or were exported only in part, with why.

<run> is a run folder, a run id, or 'latest' (the newest complete run).
The run is read from the sink --sink names, or else from the first sink
of the pipeline that holds it.

With --item ID it shows that item in the run (its result and every
artifact with its size and sha256), then every run of the sink that
records the item, newest first, and whether the item's content changed
since the run before (same artifact names and sha256: same).

Exit status: 0 when the run was shown, 1 when it could not be read,
2 for a usage or configuration error, 130 when interrupted.`,
		Example: `  agolpipe runs show nightly.hcl latest
  agolpipe runs show nightly.hcl NIGHTLY_2026-12-01_02-00-00 --item 3f6c2b9a1d4e4f0a8b7c6d5e4f3a2b1c`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sr, err := openStoredRuns(ctx, args[0], vars, varFiles, sink)
			if err != nil {
				return err
			}
			defer sr.close()
			folder, err := sr.resolve(ctx, args[1])
			if err != nil {
				return err
			}
			r, err := sr.findRun(ctx, folder)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if item != "" {
				return showItem(ctx, out, sr, r, item)
			}
			return showRun(ctx, out, sr, r)
		},
	}
	show.Flags().StringVar(&sink, "sink", "", "read the run from the sink of this name")
	show.Flags().StringVar(&item, "item", "", "show this item's artifacts and every run that holds it")
	runs.AddCommand(show)
	rootCmd.AddCommand(runs)
}

// findRun returns the run in folder from the first sink holding it.
func (sr *storedRuns) findRun(ctx context.Context, folder string) (catalog.Run, error) {
	var errs []string
	for _, s := range sr.cat.Sinks() {
		r, err := sr.cat.Find(ctx, s.Name, folder)
		if err == nil {
			return r, nil
		}
		if ctx.Err() != nil {
			return catalog.Run{}, withExit(exitCanceled, err)
		}
		errs = append(errs, err.Error())
	}
	return catalog.Run{}, withExit(exitPartial, fmt.Errorf("run %s cannot be read from any sink: %v", folder, errs))
}

func runStatus(r catalog.Run) string {
	s := r.Head.Status
	if r.Incremental() {
		s += ", incremental"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func itemText(it report.Item) string {
	return fmt.Sprintf("%s %q (%s, %s)", it.ID, it.Title, it.Type, it.Owner)
}

func showRun(ctx context.Context, out io.Writer, sr *storedRuns, r catalog.Run) error {
	var failed, partial []report.Item
	m, err := sr.cat.Scan(ctx, r, func(it report.Item) error {
		switch it.Status {
		case sdk.StatusFailed:
			failed = append(failed, it)
		case sdk.StatusPartial:
			partial = append(partial, it)
		}
		return nil
	}, nil)
	if err != nil {
		return withExit(exitPartial, err)
	}
	fmt.Fprintf(out, "Run %s (id %s), read from %s\n", r.Folder, m.RunID, sr.location(r.Sink))
	status := runStatus(r)
	fmt.Fprintf(out, "Status:    %s (exit code %d)\n", status, m.ExitCode)
	if m.Error != "" {
		fmt.Fprintf(out, "Error:     %s\n", m.Error)
	}
	fmt.Fprintf(out, "Started:   %s\n", m.Started.UTC().Format("2006-01-02 15:04:05 MST"))
	if !m.Finished.IsZero() {
		fmt.Fprintf(out, "Finished:  %s (%s)\n", m.Finished.UTC().Format("2006-01-02 15:04:05 MST"), m.Duration().Round(time.Second))
	}
	if m.ModifiedSince != nil {
		fmt.Fprintf(out, "Holds:     only items modified since %s (incremental)\n", m.ModifiedSince.UTC().Format("2006-01-02 15:04 MST"))
	}
	fmt.Fprintf(out, "Source:    %s %q %s\n", m.Source.Type, m.Source.Name, m.Source.PortalURL)
	c := m.Counts
	fmt.Fprintf(out, "Items:     %d discovered, %d exported, %d partial, %d failed, %d skipped, %d excluded, %d canceled\n",
		c.Discovered, c.Exported, c.Partial, c.Failed, c.Skipped, c.Excluded, c.Canceled)
	fmt.Fprintf(out, "Artifacts: %d (%s)\n", c.Artifacts, report.Bytes(c.Bytes))
	fmt.Fprintf(out, "\nSinks (as the run recorded them)\n")
	for _, s := range m.Sinks {
		fmt.Fprintf(out, "  %s (%s): %s, %d stored (%s), %d missed\n", s.Name, s.Type, s.Outcome, s.Stored, report.Bytes(s.Bytes), s.Missed)
		fmt.Fprintf(out, "    %s\n", s.RunPath)
		if v := s.Verified; v != nil {
			switch {
			case v.Error != "":
				fmt.Fprintf(out, "    read back after the run: NOT VERIFIED: %s\n", v.Error)
			case v.OK:
				fmt.Fprintf(out, "    read back after the run: %d artifact(s), %s, all match\n", v.Checked, report.Bytes(v.Bytes))
			default:
				fmt.Fprintf(out, "    read back after the run: FAILED, %d problem(s)\n", v.ProblemCount)
			}
		}
	}
	list := func(title string, items []report.Item) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(out, "\n%s (%d)\n", title, len(items))
		for _, it := range items {
			fmt.Fprintf(out, "  - %s: %s\n", itemText(it), it.Reason)
		}
	}
	list("Failed", failed)
	list("Partial", partial)
	return nil
}

func showItem(ctx context.Context, out io.Writer, sr *storedRuns, r catalog.Run, id string) error {
	hist, err := sr.cat.ItemHistory(ctx, r.Sink, id)
	if err != nil {
		if ctx.Err() != nil {
			return withExit(exitCanceled, err)
		}
		return withExit(exitPartial, err)
	}
	var this *catalog.ItemRun
	for i := range hist {
		if hist[i].Run.Folder == r.Folder {
			this = &hist[i]
		}
	}
	if this == nil {
		return withExit(exitUsage, fmt.Errorf("run %s in sink %q does not record item %s; 'agolpipe runs show %s %s' lists its failed items, Inventory.csv every item", r.Folder, r.Sink, id, sr.p.Filename, r.Folder))
	}
	it := this.Item
	fmt.Fprintf(out, "Item %s in run %s, read from %s\n", itemText(it), r.Folder, sr.location(r.Sink))
	fmt.Fprintf(out, "Result:    %s", it.Status)
	if it.Reason != "" {
		fmt.Fprintf(out, ": %s", it.Reason)
	}
	fmt.Fprintln(out)
	if !it.Modified.IsZero() {
		fmt.Fprintf(out, "Modified:  %s (in the portal, when backed up)\n", it.Modified.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	fmt.Fprintf(out, "\nArtifacts (%d)\n", len(this.Artifacts))
	for _, a := range this.Artifacts {
		loc, err := this.Run.Locate(a)
		where := loc.Path
		if err != nil {
			where = err.Error()
		} else if loc.Entry != "" {
			where = loc.Entry + " in " + loc.Path
		}
		fmt.Fprintf(out, "  - %s (%s, %s)\n    %s\n    sha256 %s\n", a.Name, a.Format, report.Bytes(a.Size), where, a.SHA256)
	}
	fmt.Fprintf(out, "\nRuns of sink %q recording this item, newest first\n", r.Sink)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  RUN\tSTARTED (UTC)\tRESULT\tARTIFACTS\tBYTES\tCONTENT")
	for _, h := range hist {
		var n int64
		for _, a := range h.Artifacts {
			n += a.Size
		}
		change := h.Change
		switch change {
		case "":
			change = "not held"
		case catalog.ChangeFirst:
			change = "first backup held"
		case catalog.ChangeChanged:
			change = "changed since the run before"
		case catalog.ChangeSame:
			change = "same as the run before"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\t%s\n", h.Run.Folder, h.Run.Head.Started.UTC().Format("2006-01-02 15:04:05"), h.Item.Status, len(h.Artifacts), report.Bytes(n), change)
	}
	return tw.Flush()
}

// runsJSON is what `agolpipe runs --json` prints: one entry per sink.
type runsJSON struct {
	Sink     string    `json:"sink"`
	Type     string    `json:"type"`
	Location string    `json:"location"`
	Error    string    `json:"error,omitempty"`
	Runs     []runJSON `json:"runs"`
	Others   int       `json:"other_pipelines_runs,omitempty"`
	Ignored  []string  `json:"ignored,omitempty"`
}

type runJSON struct {
	Folder      string        `json:"run"`
	RunID       string        `json:"run_id"`
	Started     time.Time     `json:"started"`
	Finished    time.Time     `json:"finished"`
	Status      string        `json:"status"`
	Incremental bool          `json:"incremental"`
	Counts      report.Counts `json:"counts"`
	Zipped      bool          `json:"zipped"`
	Archive     string        `json:"archive,omitempty"`
}

func writeRunsJSON(out io.Writer, sr *storedRuns, ls []catalog.Listing) error {
	var all []runsJSON
	failed := false
	for _, l := range ls {
		s, _ := sr.cat.Sink(l.Sink)
		j := runsJSON{Sink: l.Sink, Type: sr.types[l.Sink], Location: s.Features.Location, Runs: []runJSON{}, Others: l.Others, Ignored: l.Ignored}
		if l.Err != nil {
			j.Error, failed = l.Err.Error(), true
		}
		for _, r := range l.Runs {
			j.Runs = append(j.Runs, runJSON{Folder: r.Folder, RunID: r.Head.RunID, Started: r.Head.Started, Finished: r.Head.Finished, Status: r.Head.Status,
				Incremental: r.Incremental(), Counts: r.Head.Counts, Zipped: r.Zipped(), Archive: r.Archive})
		}
		all = append(all, j)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	if failed {
		return withExit(exitPartial, nil)
	}
	return nil
}
