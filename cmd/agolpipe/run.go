package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/runlock"
	coresession "github.com/agolpipe/agolpipe/core/session"
	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

func init() {
	var vars, varFiles []string
	var logFormat string
	var plain bool
	cmd := &cobra.Command{
		Use:   "run <pipeline.hcl>",
		Short: "Back up an organization as the pipeline file says",
		Long: `Run signs in to the source, checks every sink with a test write, lists the
items, exports them and streams every artifact to all sinks at once. Each
sink receives a run folder <prefix>_<YYYY-MM-DD_HH-MM-SS> with the artifacts
and the reports: manifest.json, Inventory.csv, Results.txt and run.log.

Ctrl-C (SIGINT) or SIGTERM stops starting items, aborts the ones in flight
cleanly and still writes the reports; a second Ctrl-C stops at once.

Exit status: 0 everything exported and stored in every required sink;
1 some item failed or is partial, or a required sink missed an artifact;
2 configuration error (also a sink or source refusing its settings or
credentials at preflight); 130 cancelled.`,
		Example: `  agolpipe run nightly.hcl
  agolpipe run nightly.hcl --var org=https://myorg.maps.arcgis.com
  agolpipe run nightly.hcl --var-file prod.vars --log-format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if logFormat != "text" && logFormat != "json" {
				return withExit(exitUsage, fmt.Errorf("--log-format must be text or json, not %q", logFormat))
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			s, err := setup(ctx, args[0], vars, varFiles, logFormat, false)
			if err != nil {
				return err
			}
			defer s.close()
			// One run of a pipeline at a time on this machine: a second one
			// (cron overlapping a long run, a manual run) would write a
			// second backup of the same organization beside the first.
			lock, err := acquireRunLock(s.p)
			if err != nil {
				return withExit(exitPartial, err)
			}
			defer lock.Release()
			// A second signal means "now": kill the plugins and leave.
			defer onSecondSignal(ctx, stop, "\nStopping: finishing reports for what completed (press Ctrl-C again to quit at once)...",
				func() { s.host.Close(); os.Exit(exitCanceled) })()

			out := cmd.ErrOrStderr()
			disp := newProgress(out, !plain && isatty.IsTerminal(os.Stderr.Fd()))
			s.opts.Progress = disp.event
			disp.start()
			rep, err := engine.Run(ctx, s.opts)
			disp.stop()
			printSummary(cmd.OutOrStdout(), rep)
			if err != nil && rep.ExitCode != exitCanceled {
				return withExit(rep.ExitCode, err)
			}
			return withExit(rep.ExitCode, nil)
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: --var name=value (repeatable)")
	cmd.Flags().StringArrayVar(&varFiles, "var-file", nil, "read variables from an HCL file of name = value lines (repeatable)")
	cmd.Flags().StringVar(&logFormat, "log-format", "text", "format of run.log: text or json")
	cmd.Flags().BoolVar(&plain, "plain", false, "print progress as plain lines even on a terminal")
	rootCmd.AddCommand(cmd)
}

// session is a loaded pipeline with its components started and configured
// (core/session); the fields are the core session's, by their old names.
type session struct {
	*coresession.Session
	p    *pipeline.Pipeline
	host *pluginhost.Host
	log  *report.Log
	opts engine.Options
}

// close stops what setup started, once. A nil session (setup failed and
// cleaned up after itself) has nothing to close.
func (s *session) close() {
	if s == nil {
		return
	}
	s.Session.Close()
}

// setup opens the pipeline (core/session.Open) with the built-in
// components, printing its diagnostics the way validate does; every
// problem is a configuration error (exit 2).
func setup(ctx context.Context, file string, vars, varFiles []string, logFormat string, dryRun bool) (*session, error) {
	vals, err := pipeline.ParseVarFlags(vars)
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	var printErr error
	cs, err := coresession.Open(ctx, coresession.Options{
		File: file, Vars: vals, VarFiles: varFiles, LogFormat: logFormat, DryRun: dryRun,
		Host: hostOptions(), KeepDir: keepDir(), StateDir: stateDir(),
		Diagnostics: func(p *pipeline.Pipeline, diags hcl.Diagnostics) {
			if err := writeDiags(p, diags); err != nil && printErr == nil {
				printErr = err
			}
		},
	})
	if err != nil {
		if printErr != nil {
			err = printErr
		}
		return nil, withExit(exitUsage, err)
	}
	return &session{Session: cs, p: cs.Pipeline, host: cs.Host, log: cs.Log, opts: cs.Engine}, nil
}

// writeDiags prints diagnostics to stderr as validate does.
func writeDiags(p *pipeline.Pipeline, diags hcl.Diagnostics) error {
	color := isatty.IsTerminal(os.Stderr.Fd())
	return pipeline.WriteDiagnostics(os.Stderr, p, diags, 100, color)
}

// acquireRunLock takes the pipeline's run lock (core/runlock) in
// agolpipe's state folder.
func acquireRunLock(p *pipeline.Pipeline) (*runlock.Lock, error) {
	dir, err := runlock.StateDir()
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	return runlock.Acquire(dir, runlock.Holder{PipelineID: p.ID(), File: p.Filename, Host: host, PID: os.Getpid(), Started: time.Now()})
}

// printSummary tells the user how the run went and where the reports are.
func printSummary(w io.Writer, r *report.Run) {
	if r == nil {
		return
	}
	c := r.Counts
	fmt.Fprintf(w, "%s: %s in %s — %d exported, %d partial, %d failed, %d skipped, %d excluded",
		r.RunFolder, r.Status, r.Duration().Round(time.Second), c.Exported, c.Partial, c.Failed, c.Skipped, c.Excluded)
	if c.Canceled > 0 {
		fmt.Fprintf(w, ", %d not finished", c.Canceled)
	}
	fmt.Fprintf(w, " (%s, %s)\n", plural(c.Artifacts, "artifact"), report.Bytes(c.Bytes))
	for _, s := range r.Sinks {
		mark := "reports in"
		if !s.Reports {
			mark = "NO reports in"
		}
		fmt.Fprintf(w, "  %s %s (%s): %s, %d stored, %d missed\n", mark, s.Name, s.Type, s.Outcome, s.Stored, s.Missed)
		fmt.Fprintf(w, "    %s\n", s.RunPath)
		if s.Error != "" {
			fmt.Fprintf(w, "    error: %s\n", s.Error)
		}
		if s.ReportsKept != "" {
			fmt.Fprintf(w, "    its reports are kept locally in %s\n", s.ReportsKept)
		}
		for _, warn := range s.Warnings {
			fmt.Fprintf(w, "    warning: %s\n", warn)
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", warn)
	}
}

// stateDir is where agolpipe keeps what one run of a pipeline leaves the
// next (the items it did not back up, to export again): "retry" beside
// the kept reports, in $AGOLPIPE_STATE_DIR or the user's state folder
// (~/.local/state/agolpipe/retry, %LOCALAPPDATA%\agolpipe\retry).
func stateDir() string {
	if k := keepDir(); k != "" {
		return filepath.Join(filepath.Dir(k), "retry")
	}
	return ""
}
