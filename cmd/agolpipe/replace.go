package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

func init() {
	var (
		vars, varFiles    []string
		sel               restore.Selection
		find, replaceWith string
		dryRun, yes       bool
	)
	cmd := &cobra.Command{
		Use:   "replace <pipeline.hcl> --find OLD --replace NEW [selection]",
		Short: "Find and replace a URL or id in the JSON of live items, with a safety copy and undo",
		Long: `Replace rewrites every occurrence of OLD (a service URL, an item id) in
the data JSON of the selected live items of the pipeline's portal (web map
layers, app and dashboard data sources, StoryMap references) and in the
url of items that are not hosted services (a registered service moved to
another server).

It shows the plan first: per item the occurrences found, or why it cannot
be changed; --dry-run stops there; applying asks for confirmation on a
terminal and needs --yes otherwise. Before an item is changed its current
state is saved as a safety copy in the pipeline's first sink under
restores/<id>/safety/, and restore.json and Restore.txt record what was
changed; ` + "`agolpipe restore undo <pipeline> <id>`" + ` puts every item back.

Exit status: 0 when every planned change was made, 1 when an item failed,
2 for a usage or configuration error, 130 when interrupted.`,
		Example: `  agolpipe replace nightly.hcl --find https://old.example.com/arcgis --replace https://gis.example.com/arcgis --type "Web Map" --dry-run
  agolpipe replace nightly.hcl --find 4f2e...old --replace 9a1b...new --all --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if find == "" {
				return withExit(exitUsage, errors.New("--find is required"))
			}
			if find == replaceWith {
				return withExit(exitUsage, errors.New("--find and --replace are the same"))
			}
			if sel.Empty() {
				return withExit(exitUsage, errors.New("say which items to look in: --item, --type, --owner, --folder, --tag or --all"))
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			sr, err := openStoredRuns(ctx, args[0], vars, varFiles, "")
			if err != nil {
				return err
			}
			defer sr.close()
			first := sr.cat.Sinks()[0]
			s, err := setup(ctx, args[0], vars, varFiles, "text", false)
			if err != nil {
				return err
			}
			defer s.close()
			org, err := s.opts.Source.Connect(ctx)
			if err != nil {
				return withExit(exitPartial, fmt.Errorf("signing in (%s, source %q): %w", args[0], s.p.Source.Name, err))
			}
			restorers := map[string]restore.Restorer{}
			for typ, b := range s.opts.Exporters {
				if b.Exporter == nil {
					continue
				}
				rs, err := restorerOf(b.Exporter)
				if err != nil {
					return withExit(exitUsage, fmt.Errorf("exporter %q: %w", b.Name, err))
				}
				if rs != nil && containsType(rs.RestoreItemTypes(), typ) {
					restorers[typ] = restore.Restorer{Name: b.Name, R: rs}
				}
			}
			o := &restore.ReplaceOptions{Source: s.opts.Source, Org: org, Restorers: restorers, Select: sel, Find: find, Replace: replaceWith,
				ID: newRestoreID(), Pipeline: args[0], Safety: first.Sink, SafetySinkName: first.Name, Log: s.log.Logger()}
			fmt.Fprintf(out, "Replace %s: in %s as %s\n", o.ID, org.PortalURL, org.Username)
			plan, err := restore.PlanReplace(ctx, o)
			if err != nil {
				if ctx.Err() != nil {
					return withExit(exitCanceled, err)
				}
				return withExit(exitPartial, err)
			}
			restore.WriteReplacePlan(out, o, plan)
			changes := 0
			for _, st := range plan.Steps {
				if st.Cannot == "" {
					changes++
				}
			}
			if dryRun || changes == 0 {
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
			rep := restore.ApplyReplace(ctx, o, plan)
			restore.WriteSummary(out, rep)
			dir, err := restore.Store(ctx, first.Sink, rep)
			if err != nil {
				fmt.Fprintf(os.Stderr, "Error: the report could not be stored in sink %q: %v\n", first.Name, err)
			} else {
				fmt.Fprintf(out, "Report: %s/restore.json and Restore.txt in sink %q; undo with: agolpipe restore undo %s %s\n", dir, first.Name, args[0], o.ID)
			}
			if ctx.Err() != nil {
				return withExit(exitCanceled, ctx.Err())
			}
			if rep.Failed() > 0 || err != nil {
				return withExit(exitPartial, fmt.Errorf("%d item(s) failed", rep.Failed()))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&find, "find", "", "the text to find (a URL or an id)")
	f.StringVar(&replaceWith, "replace", "", "what to put in its place")
	f.StringArrayVar(&sel.Items, "item", nil, "look in this item (repeatable)")
	f.StringArrayVar(&sel.Types, "type", nil, "look in items of this type (repeatable)")
	f.StringArrayVar(&sel.Owners, "owner", nil, "look in items of this owner (repeatable)")
	f.StringArrayVar(&sel.Folders, "folder", nil, "look in items in this folder (repeatable)")
	f.StringArrayVar(&sel.Tags, "tag", nil, "look in items with this tag (repeatable)")
	f.BoolVar(&sel.All, "all", false, "look in every item the pipeline covers")
	f.BoolVar(&dryRun, "dry-run", false, "show the plan and stop")
	f.BoolVar(&yes, "yes", false, "apply without asking")
	f.StringArrayVar(&vars, "var", nil, "set a pipeline variable (name=value)")
	f.StringArrayVar(&varFiles, "var-file", nil, "read pipeline variables from a file")
	rootCmd.AddCommand(cmd)
}
