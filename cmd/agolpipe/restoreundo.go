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

// newRestoreUndoCmd is `agolpipe restore undo`, a child of `restore`.
func newRestoreUndoCmd() *cobra.Command {
	var (
		vars, varFiles []string
		to             string
		dryRun, yes    bool
		force          bool
	)
	cmd := &cobra.Command{
		Use:   "undo <pipeline.hcl> <restore-id>",
		Short: "Undo a restore: put its safety copies back and delete the items it created",
		Long: `Undo reads the restore's record (restore.json and its safety copies, in
the pipeline's first sink under restores/<restore id>/), then:

  - deletes exactly the items that restore created: those carrying its mark
    (the type keyword agolpipe-restore-<restore id>), also ones restore.json
    does not list (a temporary upload left by a restore that stopped), and
    never an item without the mark, whatever restore.json says;
  - puts every safety copy back in place (the item's state before the
    restore overwrote it), checked against its sha256, with the same
    exporter that restored it: the item keeps its id and URL.

An item changed since the restore (its modified stamp, or the data the
restore or replace wrote, differs from what restore.json records the
restore left) is kept as it is and reported with when it changed: undoing
yesterday's restore does not throw away today's edits. --force undoes it
too. An item the restore created and someone deleted since is reported.
What an earlier undo of the same restore did is listed as already undone
and not done again (its later edits are safe); a second undo only retries
what the first failed or kept.

It shows the plan first; --dry-run stops there; applying asks for
confirmation on a terminal and needs --yes otherwise. undo.json and
Undo.txt are stored beside the restore's report. A restore that used --to
is undone with the same --to.

Exit status: 0 when everything was undone, 1 when a step failed or an
item changed since the restore was kept, 2 for a
usage or configuration error, 130 when interrupted.`,
		Example: `  agolpipe restore undo nightly.hcl 20261206T120000Z-a1b2c3 --dry-run
  agolpipe restore undo nightly.hcl 20261206T120000Z-a1b2c3 --yes`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			out := cmd.OutOrStdout()
			id := args[1]
			sr, err := openStoredRuns(ctx, args[0], vars, varFiles, "")
			if err != nil {
				return err
			}
			defer sr.close()
			first := sr.cat.Sinks()[0]
			rep, err := restore.LoadReport(ctx, first.Sink, id)
			if err != nil {
				if errors.Is(err, restore.ErrNoRestore) {
					return withExit(exitUsage, fmt.Errorf("restore %s: %w in sink %q", id, err, first.Name))
				}
				return withExit(exitPartial, fmt.Errorf("reading restore %s from sink %q: %w", id, first.Name, err))
			}
			target := args[0]
			if to != "" {
				target = to
			}
			types := make([]string, 0, len(rep.Safety))
			for _, sc := range rep.Safety {
				types = append(types, sc.Type)
			}
			s, org, restorers, err := openRestoreTarget(ctx, target, vars, varFiles, types)
			if err != nil {
				return err
			}
			defer s.close()
			o := &restore.UndoOptions{Sink: first.Sink, SinkName: first.Name, Target: s.opts.Source, TargetOrg: org,
				Restorers: restorers, RestoreID: id, Log: s.log.Logger(), Force: force}
			fmt.Fprintf(out, "Undo of restore %s (sink %s) in %s as %s\n", id, first.Name, org.PortalURL, org.Username)
			plan, err := restore.PlanUndo(ctx, o, rep)
			if err != nil {
				if ctx.Err() != nil {
					return withExit(exitCanceled, err)
				}
				return withExit(exitUsage, err)
			}
			restore.WriteUndoPlan(out, plan)
			if dryRun || len(plan.Steps) == 0 {
				return nil
			}
			if !plan.Actionable() {
				if plan.Kept() > 0 {
					return withExit(exitPartial, fmt.Errorf("nothing undone: the %d item(s) changed since the restore were kept (--force undoes them too)", plan.Kept()))
				}
				// Everything was done by an earlier undo: that is the
				// state asked for, and its undo.json stays the record.
				fmt.Fprintf(out, "Nothing left to undo: restore %s was undone already (%s/undo.json in sink %q).\n", id, restore.Folder(id), first.Name)
				return nil
			}
			if !yes {
				if !isatty.IsTerminal(os.Stdin.Fd()) {
					return withExit(exitUsage, errors.New("not applied: confirm with --yes when not on a terminal"))
				}
				fmt.Fprint(out, "Undo this restore? Only 'yes' applies it: ")
				line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					fmt.Fprintln(out, "Not applied.")
					return nil
				}
			}
			ur := restore.ApplyUndo(ctx, o, plan)
			restore.WriteUndoSummary(out, ur)
			serr := restore.StoreUndo(ctx, first.Sink, ur)
			if serr != nil {
				fmt.Fprintf(os.Stderr, "Error: the undo report could not be stored in sink %q: %v\n", first.Name, serr)
			}
			if ctx.Err() != nil {
				return withExit(exitCanceled, ctx.Err())
			}
			if ur.Failed() > 0 || ur.Kept() > 0 || serr != nil {
				return withExit(exitPartial, fmt.Errorf("%d undo step(s) failed, %d item(s) changed since the restore kept as they are (--force undoes them too)", ur.Failed(), ur.Kept()))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "the pipeline file the restore used with --to (its source is the target)")
	f.BoolVar(&dryRun, "dry-run", false, "show what the undo would do and stop")
	f.BoolVar(&yes, "yes", false, "apply without asking")
	f.BoolVar(&force, "force", false, "undo also the items changed since the restore (their later edits are lost)")
	f.StringArrayVar(&vars, "var", nil, "set a pipeline variable (name=value)")
	f.StringArrayVar(&varFiles, "var-file", nil, "read pipeline variables from a file")
	return cmd
}

func init() {
	// restore.go's init (earlier in file order) registered `restore`.
	for _, c := range rootCmd.Commands() {
		if c.Name() == "restore" {
			c.AddCommand(newRestoreUndoCmd())
			return
		}
	}
	panic("agolpipe: the restore command is not registered; restore undo has nothing to hang from")
}
