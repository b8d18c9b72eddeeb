package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/retention"
	coresession "github.com/agolpipe/agolpipe/core/session"
	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"
)

func init() {
	var vars, varFiles []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "prune <pipeline.hcl>",
		Short: "Apply the sinks' retention policies now, without running a backup",
		Long: `Prune applies the retention block of every sink in a pipeline file:
runs older than delete_after are deleted unless keep_daily, keep_weekly or
keep_monthly keeps them. Only runs this pipeline wrote into this sink are
ever deleted, recognised by their manifest.json (its pipeline_id and sink);
runs of other pipelines in the same folder, folders deeper down and
everything else in a sink are never touched, the sink's root never, and the
newest complete full run (and every full run a kept incremental run builds
on) is always kept. Every run is listed with the reason it is kept or
deleted.

With --dry-run (or dry_run = true in a retention block) prune only lists
what it would delete.

Exit status: 0 when every sink was pruned, 1 when some sink failed,
2 for a configuration error, 130 when interrupted.`,
		Example: `  agolpipe prune nightly.hcl --dry-run
  agolpipe prune nightly.hcl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vals, err := pipeline.ParseVarFlags(vars)
			if err != nil {
				return withExit(exitUsage, err)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Only the sinks with a retention block are started; the rest
			// of the pipeline is loaded and checked as run does.
			var printErr error
			s, err := coresession.Open(ctx, coresession.Options{
				File: args[0], Vars: vals, VarFiles: varFiles, LogFormat: "text", Host: hostOptions(),
				OnlySinks: func(b *pipeline.SinkBlock) bool { return b.Retention != nil },
				SinksOnly: true, // prune never signs in: no portal password needed
				Diagnostics: func(p *pipeline.Pipeline, diags hcl.Diagnostics) {
					if !diags.HasErrors() {
						return // prune has always kept quiet about warnings
					}
					if err := writeDiags(p, diags); err != nil && printErr == nil {
						printErr = err
					}
				},
			})
			if errors.Is(err, coresession.ErrInvalid) {
				return withExit(exitUsage, printErr)
			}
			if err != nil {
				return withExit(exitUsage, err)
			}
			defer s.Close()
			p := s.Pipeline
			out := cmd.OutOrStdout()
			failed, any := 0, false
			for _, es := range s.Engine.Sinks {
				b, sk := es.Block, es.Sink
				any = true
				policy := retention.FromPipeline(b.Retention)
				policy.DryRun = policy.DryRun || dryRun
				// sk is bounded like a run's sinks (the session wraps them
				// with core/sinkwatch): a store that stops answering fails
				// prune within minutes instead of holding it.
				res, err := retention.Apply(ctx, sk, policy, retention.Options{PipelineID: p.ID(), Sink: b.Name, RunPrefix: p.Run.Prefix})
				_ = sk.Close() // as soon as its sink is pruned
				rec := engine.RetentionRecord(res)
				if err != nil {
					rec.Error = err.Error()
				}
				fmt.Fprintf(out, "sink %q (%s, %s), runs of pipeline %q:\n", b.Name, b.Type, es.Features.Location, p.ID())
				if werr := report.WriteRetention(out, "  ", rec); werr != nil {
					return werr
				}
				if err != nil {
					if ctx.Err() != nil {
						return withExit(exitCanceled, fmt.Errorf("sink %q: interrupted: %w", b.Name, err))
					}
					failed++
					fmt.Fprintf(os.Stderr, "Error: sink %q (%s): %v\n", b.Name, b.Retention.DeclRange, err)
				}
			}
			if !any {
				fmt.Fprintf(out, "%s: no sink has a retention block; nothing to prune.\n", args[0])
			}
			if failed > 0 {
				return withExit(exitPartial, nil)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted; delete nothing")
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: --var name=value (repeatable)")
	cmd.Flags().StringArrayVar(&varFiles, "var-file", nil, "read variables from an HCL file of name = value lines (repeatable)")
	rootCmd.AddCommand(cmd)
}
