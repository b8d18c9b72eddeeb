package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

func init() {
	var (
		vars, varFiles, ownerMap []string
		sel                      restore.Selection
		run, sink, to            string
		asNew, overwrite, dryRun bool
		parallel                 int
		yes                      bool
	)
	cmd := &cobra.Command{
		Use:   "restore <pipeline.hcl> --run RUN [selection]",
		Short: "Restore items of a stored run into the pipeline's portal or another one",
		Long: `Restore puts items of a run back: into the pipeline's own source by
default, or with --to into the portal that another pipeline file's source
signs in to (its credentials stay in that file).

It always shows the plan first, like terraform plan: per item create,
overwrite, skip (the target already holds the same) or cannot (why), in the
order it will act: services, views, maps, apps, every item after the items
it refers to. Items are applied --parallel at a time (default 4), each
once the items it refers to are done. Dependencies of the selection that the target lacks are
added (a web map pulls in its layers). --dry-run stops there; applying asks
for confirmation on a terminal and needs --yes otherwise.

Every item id and service URL of the backup is rewritten, in every JSON
restored, to its new counterpart; owners are mapped (--owner-map old=new,
everything else to the signed-in user); folders and groups are created as
they were and items shared as they were (org/metadata.json). An item that
exists in the target is skipped when identical, otherwise left alone unless
--overwrite (in place: id and URL kept) or --as-new (a copy).

Artifacts are read from the run's sink through its plugin, checked against
the manifest's sha256: an item whose artifact does not match fails, the
others go on. restore.json and Restore.txt (per item restored, overwritten,
skipped or failed, new id, reason, and the remap table) are stored in the
pipeline's first sink under restores/<restore id>/.

Exit status: 0 when everything planned was done, 1 when an item failed,
2 for a usage or configuration error, 130 when interrupted.`,
		Example: `  agolpipe restore nightly.hcl --run latest --item 4f2e... --dry-run
  agolpipe restore nightly.hcl --run latest --type "Web Map" --yes
  agolpipe restore nightly.hcl --run 2026-12-01T020000Z --all --to neworg.hcl --owner-map ann=ann_new --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asNew && overwrite {
				return withExit(exitUsage, errors.New("--as-new and --overwrite exclude each other"))
			}
			if run == "" {
				return withExit(exitUsage, errors.New("--run is required: a run folder, a run id, or latest (`agolpipe runs` lists them)"))
			}
			if sel.Empty() {
				return withExit(exitUsage, errors.New("say what to restore: --item, --type, --owner, --folder, --tag or --all"))
			}
			owners := map[string]string{}
			for _, m := range ownerMap {
				old, nu, ok := strings.Cut(m, "=")
				if !ok || old == "" || nu == "" {
					return withExit(exitUsage, fmt.Errorf("--owner-map %q: write old=new", m))
				}
				owners[old] = nu
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// After Ctrl-C no item starts and the ones under way finish
			// (restore.Apply); a second one means "now".
			defer onSecondSignal(ctx, stop, "\nStopping: no further item starts; the ones under way finish and the report is stored (press Ctrl-C again to quit at once, leaving them half done)...",
				func() { os.Exit(exitCanceled) })()
			out := cmd.OutOrStdout()

			sr, err := openStoredRuns(ctx, args[0], vars, varFiles, sink)
			if err != nil {
				return err
			}
			defer sr.close()
			folder, err := sr.resolve(ctx, run)
			if err != nil {
				return err
			}
			var r catalog.Run
			var findErr error
			for _, s := range sr.cat.Sinks() {
				if r, findErr = sr.cat.Find(ctx, s.Name, folder); findErr == nil {
					break
				}
			}
			if findErr != nil {
				return withExit(exitPartial, findErr)
			}
			m, err := sr.cat.Manifest(ctx, r)
			if err != nil {
				return withExit(exitPartial, err)
			}

			target := args[0]
			if to != "" {
				target = to
			}
			types := make([]string, 0, len(m.Items))
			for _, it := range m.Items {
				types = append(types, it.Type)
			}
			s, org, restorers, err := openRestoreTarget(ctx, target, vars, varFiles, types)
			if err != nil {
				return err
			}
			defer s.close()
			mode := sdk.RestoreMode("")
			switch {
			case asNew:
				mode = sdk.RestoreNew
			case overwrite:
				mode = sdk.RestoreOverwrite
			}
			first := sr.cat.Sinks()[0]
			o := &restore.Options{Catalog: sr.cat, Run: r, Manifest: m, Target: s.opts.Source, TargetOrg: org, Restorers: restorers,
				Select: sel, Mode: mode, OwnerMap: owners, RestoreID: newRestoreID(), Log: s.log.Logger(),
				Safety: first.Sink, SafetySinkName: first.Name, Parallel: parallel}
			fmt.Fprintf(out, "Restore %s: run %s (sink %s, %s) into %s as %s\n", o.RestoreID, r.Folder, r.Sink,
				m.Source.PortalURL, org.PortalURL, org.Username)
			plan, err := restore.MakePlan(ctx, o)
			if err != nil {
				if ctx.Err() != nil {
					return withExit(exitCanceled, err)
				}
				return withExit(exitUsage, err)
			}
			restore.WritePlan(out, plan)
			if dryRun || !plan.Actionable() {
				return nil
			}
			if !yes {
				if !isatty.IsTerminal(os.Stdin.Fd()) {
					return withExit(exitUsage, errors.New("not applied: confirm with --yes when not on a terminal"))
				}
				fmt.Fprint(out, "Apply this plan? Only 'yes' applies it: ")
				line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					fmt.Fprintln(out, "Not applied.")
					return nil
				}
			}
			o.Progress = func(done, total int, st *restore.Step) {
				if st.Outcome == restore.NotRestored || st.Outcome == restore.Skipped {
					return
				}
				line := fmt.Sprintf("[%d/%d] %s %s %q (%s)", done, total, st.Outcome, st.Item.ID, st.Item.Title, st.Item.Type)
				if st.Error != "" {
					line += ": " + st.Error
				}
				fmt.Fprintln(out, line)
			}
			rep := restore.Apply(ctx, o, plan)
			restore.WriteSummary(out, rep)
			// The report is stored even when the restore was interrupted:
			// it is the record of what was done. Bounded on its own.
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Minute)
			dir, err := restore.Store(sctx, first.Sink, rep)
			scancel()
			if err != nil {
				fmt.Fprintf(os.Stderr, "Error: the restore report could not be stored in sink %q: %v\n", first.Name, err)
			} else {
				fmt.Fprintf(out, "Report: %s/restore.json and Restore.txt in sink %q (%s)\n", dir, first.Name, first.Features.Location)
			}
			if ctx.Err() != nil {
				return withExit(exitCanceled, ctx.Err())
			}
			if rep.Failed() > 0 || err != nil {
				return withExit(exitPartial, fmt.Errorf("%d item(s) failed to restore", rep.Failed()))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&run, "run", "", "the run to restore from: a run folder, a run id, or latest")
	f.StringVar(&sink, "sink", "", "read the run from this sink only")
	f.StringArrayVar(&sel.Items, "item", nil, "restore this item id (repeatable)")
	f.StringArrayVar(&sel.Types, "type", nil, "restore items of this type (repeatable)")
	f.StringArrayVar(&sel.Owners, "owner", nil, "restore items of this owner (repeatable)")
	f.StringArrayVar(&sel.Folders, "folder", nil, "restore items in this folder (repeatable)")
	f.StringArrayVar(&sel.Tags, "tag", nil, "restore items with this tag (repeatable)")
	f.BoolVar(&sel.All, "all", false, "restore every item of the run")
	f.BoolVar(&sel.NoDependencies, "no-dependencies", false, "do not add the dependencies the target lacks")
	f.StringVar(&to, "to", "", "restore into the portal of this pipeline file's source")
	f.BoolVar(&asNew, "as-new", false, "restore items that exist in the target as new copies")
	f.BoolVar(&overwrite, "overwrite", false, "overwrite items that exist in the target, in place")
	f.StringArrayVar(&ownerMap, "owner-map", nil, "give items of owner old to owner new (old=new, repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "show the plan and stop")
	f.BoolVar(&yes, "yes", false, "apply without asking")
	f.IntVar(&parallel, "parallel", restore.DefaultParallel, "items restored at once (each after the items it needs)")
	f.StringArrayVar(&vars, "var", nil, "set a pipeline variable (name=value)")
	f.StringArrayVar(&varFiles, "var-file", nil, "read pipeline variables from a file")
	rootCmd.AddCommand(cmd)
}

// openRestoreTarget opens the pipeline file whose portal a restore, its
// undo or a drill writes to, signs in, and finds for each item type asked
// for the exporter that can restore it (types no exporter restores are
// left out: the plan says why). The caller closes the session.
func openRestoreTarget(ctx context.Context, file string, vars, varFiles, types []string) (*session, sdk.OrgInfo, map[string]restore.Restorer, error) {
	s, err := setup(ctx, file, vars, varFiles, "text", false)
	if err != nil {
		return nil, sdk.OrgInfo{}, nil, err
	}
	org, err := s.opts.Source.Connect(ctx)
	if err != nil {
		s.close()
		return nil, sdk.OrgInfo{}, nil, withExit(exitPartial, fmt.Errorf("signing in to the target (%s, source %q): %w", file, s.p.Source.Name, err))
	}
	restorers := map[string]restore.Restorer{}
	for _, t := range types {
		if _, done := restorers[t]; done {
			continue
		}
		b, ok := s.opts.Exporters[t]
		if !ok || b.Exporter == nil {
			continue
		}
		rs, err := restorerOf(b.Exporter)
		if err != nil {
			s.close()
			return nil, sdk.OrgInfo{}, nil, withExit(exitUsage, fmt.Errorf("exporter %q: %w", b.Name, err))
		}
		if rs != nil && containsType(rs.RestoreItemTypes(), t) {
			sr, _ := rs.(sdk.SkippedRestorer)
			restorers[t] = restore.Restorer{Name: b.Name, R: rs, Skipped: sr != nil && containsType(sr.RestoreSkippedItemTypes(), t)}
		}
	}
	return s, org, restorers, nil
}

// restorerOf returns the exporter's restore side (the supervised plugin
// starts on demand); nil when it has none.
func restorerOf(ex sdk.Exporter) (sdk.Restorer, error) {
	r, ok := ex.(sdk.Restorer)
	if !ok || len(r.RestoreItemTypes()) == 0 {
		return nil, nil
	}
	return r, nil
}

func containsType(types []string, t string) bool {
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

// newRestoreID names a restore: when, and a random suffix.
func newRestoreID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}
