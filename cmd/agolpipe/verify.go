package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/verify"
	"github.com/spf13/cobra"
)

func init() {
	var vars, varFiles []string
	var run, sink string
	var deep, noLive, asJSON bool
	var drill int
	var drillTo string
	var parallel int
	cmd := &cobra.Command{
		Use:   "verify <pipeline.hcl>",
		Short: "Read a run back from every sink and check it against its manifest",
		Long: `Verify reads every artifact of a run back from every sink of the pipeline
(or the one --sink names), through the sink's plugin, and checks its size
and sha256 against the run's manifest.json. It reports, per sink, with the
item id and title:

  missing     the manifest lists it, the sink does not hold it
  not stored  the run stored it in another sink and recorded it as failed
              in this one
  truncated   fewer bytes than recorded
  oversized   more bytes than recorded
  corrupt     the right size, other bytes (sha256, or a zip entry's CRC)
  extra       the sink holds it in the run's folder, the manifest does not
              list it
  run missing the sink holds no manifest.json for the run
  unreadable  the sink failed while it was read (no verdict; run again)

A zipped run is read in place: the manifest beside the archive, each entry
by ranged reads. Bytes stream (memory does not grow with the run), at most
--parallel artifacts per sink at once, all sinks side by side.

--deep also looks inside what agolpipe can read: zips open and every entry
matches its CRC; JSON parses; a feature service's export holds the rows and
attachments counted in the live service at export time (where the format is
readable: the simulator's stand-in; a real File Geodatabase is checked as a
zip only, and the report says so), and each service's counts now are shown
beside them (signing in to the portal; --no-live skips that; a portal that
cannot be reached costs the live counts, not the verification).

--drill N is a restore drill: N items of the run (a sample across types,
feature services first) are restored as new, private (unshared) items into
a scratch folder "agolpipe-drill-<id>" of the pipeline's portal (or
--drill-to OTHER.hcl's), each compared with the backup (its type; its data
JSON after the id remap; a file item's bytes by sha256; a feature service's
rows against the counts at export time), then exactly the items the drill
created are deleted (by the restore's mark, as 'agolpipe restore undo'
does) and the scratch folder removed. restore.json and undo.json stay in
the first sink under restores/<drill id>. It signs in to the portal.

--run names the run: a run folder, a run id or 'latest' (the default: the
newest complete run found in any sink).

Exit status: 0 only when every sink holds the whole run unchanged (and,
with --drill, every sampled item came back equal and was removed); 1 when
anything is missing, different or extra, or a sink could not be read;
2 for a usage or configuration error; 130 when interrupted.`,
		Example: `  agolpipe verify nightly.hcl
  agolpipe verify nightly.hcl --run NIGHTLY_2026-12-01_02-00-00 --sink offsite
  agolpipe verify nightly.hcl --deep`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if drill < 0 || drill > 100 {
				return withExit(exitUsage, fmt.Errorf("--drill %d: give 1 to 100 items", drill))
			}
			if drill > 0 && asJSON {
				return withExit(exitUsage, fmt.Errorf("--drill cannot be combined with --json"))
			}
			if parallel < 1 || parallel > 64 {
				return withExit(exitUsage, fmt.Errorf("--parallel %d: give 1 to 64", parallel))
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sr, err := openStoredRuns(ctx, args[0], vars, varFiles, sink)
			if err != nil {
				return err
			}
			defer sr.close()
			folder, err := sr.resolve(ctx, run)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !asJSON {
				fmt.Fprintf(out, "Verifying run %s of pipeline %q\n", folder, sr.p.ID())
			}
			opts := verify.Options{Parallel: parallel, Deep: deep}
			var liveErr error
			if deep && !noLive {
				// The live counts are shown beside the backup's; a portal
				// that cannot be reached costs them, not the verification.
				src, err := sr.source(ctx)
				if err != nil {
					liveErr = err
				} else {
					defer src.Close()
					opts.Live = verify.SourceCounts(src)
				}
			}
			res := verify.Run(ctx, sr.cat, folder, opts)
			if liveErr != nil {
				res.Live = append(res.Live, "live counts not shown: "+liveErr.Error())
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				writeVerify(out, sr, res)
			}
			drillOK := true
			if drill > 0 && ctx.Err() == nil {
				target := args[0]
				if drillTo != "" {
					target = drillTo
				}
				ok, err := runDrill(ctx, out, sr, target, vars, varFiles, folder, drill)
				if err != nil {
					return err
				}
				drillOK = ok
			}
			switch {
			case ctx.Err() != nil:
				return withExit(exitCanceled, fmt.Errorf("interrupted: the run was not verified to the end"))
			case !res.OK() || !drillOK:
				return withExit(exitPartial, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&run, "run", catalog.Latest, "the run to verify: a run folder, a run id or 'latest'")
	cmd.Flags().StringVar(&sink, "sink", "", "verify only the sink of this name")
	cmd.Flags().BoolVar(&deep, "deep", false, "also check inside artifacts: zips and their CRCs, JSON, feature row and attachment counts")
	cmd.Flags().BoolVar(&noLive, "no-live", false, "with --deep, do not sign in to the portal to show the live counts")
	cmd.Flags().IntVar(&drill, "drill", 0, "also restore this many items of the run (a sample across types) as new private items into a scratch folder, compare them with the backup, and delete them")
	cmd.Flags().StringVar(&drillTo, "drill-to", "", "with --drill, restore into the portal of this pipeline file's source (default: the pipeline's own)")
	cmd.Flags().IntVar(&parallel, "parallel", 4, "artifacts read at once per sink")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: --var name=value (repeatable)")
	cmd.Flags().StringArrayVar(&varFiles, "var-file", nil, "read variables from an HCL file of name = value lines (repeatable)")
	rootCmd.AddCommand(cmd)
}

// writeVerify prints a verification for people: one block per sink, its
// findings with item id and title, and a last line that says it all.
func writeVerify(out io.Writer, sr *storedRuns, res verify.Result) {
	whole := 0
	for _, s := range res.Sinks {
		fmt.Fprintf(out, "\n%s: ", sr.location(s.Sink))
		speed := ""
		if secs := s.Duration.Seconds(); secs > 0 && s.Bytes > 0 {
			speed = fmt.Sprintf(" in %s (%s/s)", s.Duration.Round(10*time.Millisecond), report.Bytes(int64(float64(s.Bytes)/secs)))
		}
		switch {
		case s.Error != "":
			fmt.Fprintf(out, "NOT VERIFIED: %s\n", s.Error)
		case len(s.Findings) == 0:
			whole++
			fmt.Fprintf(out, "OK: %d artifact(s), %s read back%s; sizes and sha256 match the manifest\n", s.Checked, report.Bytes(s.Bytes), speed)
		default:
			fmt.Fprintf(out, "%d PROBLEM(S) in %d artifact(s) read back (%s)%s\n", len(s.Findings), s.Checked, report.Bytes(s.Bytes), speed)
		}
		for _, f := range s.Findings {
			where := f.Path
			if f.Entry != "" {
				where = f.Entry + " in archive " + f.Path
			}
			fmt.Fprintf(out, "  - %s: %s\n", f.Problem, where)
			if f.ItemID != "" {
				fmt.Fprintf(out, "      item %s %q (%s)\n", f.ItemID, f.Title, f.ItemType)
			}
			fmt.Fprintf(out, "      %s\n", f.Detail)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(out, "  note: %s\n", n)
		}
	}
	if len(res.Live) > 0 {
		fmt.Fprintf(out, "\nLive feature services now, beside the counts at export time (drift since the backup, not a problem):\n")
		for _, l := range res.Live {
			fmt.Fprintf(out, "  - %s\n", l)
		}
	}
	if whole == len(res.Sinks) {
		fmt.Fprintf(out, "\nEvery sink (%d) holds the whole run %s unchanged (%d artifacts).\n", len(res.Sinks), res.Run, res.Artifacts)
		return
	}
	fmt.Fprintf(out, "\n%d of %d sink(s) hold the whole run %s unchanged. Run 'agolpipe run' again to write a complete new backup; restore refuses a copy whose bytes differ from the manifest.\n", whole, len(res.Sinks), res.Run)
}
