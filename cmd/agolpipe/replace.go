package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

func init() {
	var (
		vars, varFiles []string
		sel            restore.Selection
		find, repl     string
		dryRun, yes    bool
	)
	cmd := &cobra.Command{
		Use:   "replace <pipeline.hcl> --find OLD --replace NEW [selection]",
		Short: "Find and replace a URL or id in the JSON of live items, with a safety copy and undo",
		Long: `Replace rewrites a text, typically a service URL or an item id, in the
live items of the pipeline's portal: in every string value of the item's
JSON data (web maps, apps, dashboards...) and in the item properties URLs
live in (url, snippet, description). Object keys are not rewritten, a
hosted service's own url neither, and data that is a file is not searched;
the plan says where the text was found but left.

It always shows the plan first: per item every string that changes, where
(the property, or the JSON path in the data), old and new, and how many
times. --dry-run stops there; applying asks for confirmation on a terminal
and needs --yes otherwise. A --find that matches nothing says so and exits 0.

Before an item is changed its JSON as it is (item.json, and data.json when
the data changes) is saved as a safety copy in the pipeline's first sink
under restores/<id>/safety/<item id>/; the record (restore.json) and
Replace.txt land in restores/<id>/. Undo it like a restore:
agolpipe restore undo <pipeline.hcl> <id> puts every item back, byte for
byte.

Exit status: 0 when every change was made (or nothing matched), 1 when an
item failed or could not be read (it is listed with !; the others are
searched and changed), 2 for a usage or configuration error, 130 when
interrupted.`,
		Example: `  agolpipe replace nightly.hcl --find https://old.example.com/arcgis --replace https://gis.example.com/arcgis --all --dry-run
  agolpipe replace nightly.hcl --find 4f2e0a... --replace 9b1c7d... --type "Web Map" --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if find == "" {
				return withExit(exitUsage, errors.New("--find is required: the text to look for (a URL or an item id)"))
			}
			if !cmd.Flags().Changed("replace") {
				return withExit(exitUsage, errors.New("--replace is required: the text to put in its place"))
			}
			if find == repl {
				return withExit(exitUsage, errors.New("--find and --replace are the same: nothing would change"))
			}
			if sel.Empty() {
				return withExit(exitUsage, errors.New("say which items to search: --item, --type, --owner, --folder, --tag or --all"))
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			sr, err := openStoredRunsAndSource(ctx, args[0], vars, varFiles)
			if err != nil {
				return err
			}
			defer sr.close()
			src, org, err := sr.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return withExit(exitCanceled, err)
				}
				return withExit(exitPartial, fmt.Errorf("%s: %w", args[0], err))
			}
			defer src.Close()
			first := sr.cat.Sinks()[0]
			o := &restore.ReplaceOptions{Find: find, Replace: repl, Select: sel, Target: src, TargetOrg: org, Pipeline: sr.p.ID(),
				ReplaceID: newRestoreID(), Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
				Safety: first.Sink, SafetySinkName: first.Name}
			fmt.Fprintf(out, "Replace %s: %q -> %q in %s as %s\n", o.ReplaceID, find, repl, org.PortalURL, org.Username)
			plan, err := restore.PlanReplace(ctx, o)
			if err != nil {
				if ctx.Err() != nil {
					return withExit(exitCanceled, err)
				}
				return withExit(exitPartial, err)
			}
			restore.WriteReplacePlan(out, plan)
			unread := func() error {
				if len(plan.Unreadable) > 0 {
					return withExit(exitPartial, fmt.Errorf("%d item(s) could not be read and were not searched", len(plan.Unreadable)))
				}
				return nil
			}
			if dryRun || !plan.Actionable() {
				return unread()
			}
			if !yes {
				if !isatty.IsTerminal(os.Stdin.Fd()) {
					return withExit(exitUsage, errors.New("not applied: confirm with --yes when not on a terminal"))
				}
				fmt.Fprint(out, "Apply these changes? Only 'yes' applies them: ")
				line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					fmt.Fprintln(out, "Not applied.")
					return nil
				}
			}
			o.Progress = func(done, total int, rec restore.ReplaceItem) {
				outcome := rec.Outcome
				if outcome == restore.Overwritten {
					outcome = "changed"
				}
				fmt.Fprintf(out, "[%d/%d] %s %s %q\n", done, total, outcome, rec.ID, rec.Title)
			}
			rep := restore.ApplyReplace(ctx, o, plan)
			restore.WriteReplaceSummary(out, rep)
			// The record is stored even when interrupted: it is what undo
			// reads. Bounded on its own.
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Minute)
			dir, serr := restore.StoreReplace(sctx, first.Sink, rep)
			scancel()
			if serr != nil {
				fmt.Fprintf(os.Stderr, "Error: the replace record could not be stored in sink %q: %v; the safety copies are in %s/safety\n", first.Name, serr, dir)
			} else {
				fmt.Fprintf(out, "Record: %s/restore.json and Replace.txt in sink %q (%s)\n", dir, first.Name, first.Features.Location)
			}
			if len(rep.Safety) > 0 {
				fmt.Fprintf(out, "Undo: agolpipe restore undo %s %s\n", args[0], o.ReplaceID)
			}
			if ctx.Err() != nil {
				return withExit(exitCanceled, ctx.Err())
			}
			if rep.Failed() > 0 || serr != nil {
				return withExit(exitPartial, fmt.Errorf("%d item(s) could not be changed", rep.Failed()))
			}
			return unread()
		},
	}
	f := cmd.Flags()
	f.StringVar(&find, "find", "", "the text to find (a URL, an item id)")
	f.StringVar(&repl, "replace", "", "the text to put in its place")
	f.StringArrayVar(&sel.Items, "item", nil, "search this item id (repeatable)")
	f.StringArrayVar(&sel.Types, "type", nil, "search items of this type (repeatable)")
	f.StringArrayVar(&sel.Owners, "owner", nil, "search items of this owner (repeatable)")
	f.StringArrayVar(&sel.Folders, "folder", nil, "search items in this folder (repeatable)")
	f.StringArrayVar(&sel.Tags, "tag", nil, "search items with this tag (repeatable)")
	f.BoolVar(&sel.All, "all", false, "search every item the pipeline backs up")
	f.BoolVar(&dryRun, "dry-run", false, "show the plan and stop")
	f.BoolVar(&yes, "yes", false, "apply without asking")
	f.StringArrayVar(&vars, "var", nil, "set a pipeline variable (name=value)")
	f.StringArrayVar(&varFiles, "var-file", nil, "read pipeline variables from a file")
	rootCmd.AddCommand(cmd)
}
