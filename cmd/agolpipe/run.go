package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/runlock"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
)

// defaultExportTimeout applies when an export block sets no timeout (see
// sdk.ExportRequest.Timeout).
const defaultExportTimeout = 120 * time.Minute

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
			finished := make(chan struct{})
			defer close(finished)
			go func() {
				select {
				case <-ctx.Done():
				case <-finished:
					return
				}
				stop()
				again := make(chan os.Signal, 1)
				signal.Notify(again, os.Interrupt, syscall.SIGTERM)
				fmt.Fprintln(os.Stderr, "\nStopping: finishing reports for what completed (press Ctrl-C again to quit at once)...")
				<-again
				s.host.Close()
				os.Exit(exitCanceled)
			}()

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

// session is a loaded pipeline with its components started and configured.
type session struct {
	p      *pipeline.Pipeline
	host   *pluginhost.Host
	log    *report.Log
	opts   engine.Options
	closer []func() error
	once   sync.Once
}

// close stops what setup started, once. A nil session (setup failed and
// cleaned up after itself) has nothing to close.
func (s *session) close() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		for i := len(s.closer) - 1; i >= 0; i-- {
			s.closer[i]()
		}
	})
}

// lazyWriter lets the plugin host log before run.log exists: lines written
// before the log is known are dropped (they are about describing plugins).
type lazyWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w == nil {
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *lazyWriter) set(w io.Writer) { l.mu.Lock(); l.w = w; l.mu.Unlock() }

// setup loads the pipeline with the plugin host's schemas and starts and
// configures every component, reporting configuration problems the way
// validate does (exit 2).
func setup(ctx context.Context, file string, vars, varFiles []string, logFormat string, dryRun bool) (s *session, err error) {
	vals, err := pipeline.ParseVarFlags(vars)
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	hostOut := &lazyWriter{}
	host, err := pluginhost.New(ctx, pluginhost.Options{Logger: hclog.New(&hclog.LoggerOptions{Name: "plugins", Output: hostOut, Level: hclog.Info})})
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	s = &session{host: host}
	s.closer = append(s.closer, host.Close)
	// The deferred clean-up holds its own reference: every failing return
	// below sets the named result s to nil before deferred calls run, and
	// closing through s then was a nil-pointer panic after the diagnostics.
	started := s
	defer func() {
		if err != nil {
			started.close()
		}
	}()
	p, diags := pipeline.Load(file, pipeline.LoadOptions{Vars: vals, VarFiles: varFiles, Schemas: host, Plugins: host.PipelinePlugins})
	if err := showDiags(p, diags); err != nil {
		return nil, err
	}
	s.p = p
	log, err := report.NewLog(logFormat, p.Sensitive, nil)
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	s.log = log
	s.closer = append(s.closer, log.Close)
	hostOut.set(log.Writer())
	if !dryRun {
		if err := grpcplugin.DataChannelReady(); err != nil {
			log.Logger().Warn("artifact bytes will go through gRPC, at well under half the speed of the data channel",
				"reason", err.Error(), "fix", "set TMPDIR to a short, writable local folder (the data channel is a Unix socket in a private folder there; socket paths are limited to about 100 characters)")
		}
	}

	s.opts = engine.Options{Pipeline: p, Log: log, DryRun: dryRun, Exporters: map[string]engine.Exporter{}, KeepDir: keepDir(), StateDir: stateDir()}
	var cdiags hcl.Diagnostics

	src, err := host.Source(ctx, p.Source.Type)
	if err != nil {
		return nil, withExit(exitUsage, fmt.Errorf("source %q (%s): %w", p.Source.Name, p.Source.DeclRange, err))
	}
	s.closer = append(s.closer, src.Close)
	// The block's name and the pipeline file let the source name the exact
	// `agolpipe login` command when a sign-in has lapsed; DryRun keeps a
	// plan from changing anything in the portal.
	creq := sdk.ConfigureRequest{Config: p.Source.Config, Name: p.Source.Name, PipelineFile: p.Filename, DryRun: dryRun}
	cdiags = append(cdiags, p.Source.Diagnostics(src.Configure(ctx, creq))...)
	s.opts.Source = src

	for _, b := range p.Sinks {
		sk, err := host.Sink(ctx, b.Type)
		if err != nil {
			return nil, withExit(exitUsage, fmt.Errorf("sink %q (%s): %w", b.Name, b.DeclRange, err))
		}
		s.closer = append(s.closer, sk.Close)
		resp, d := sk.Configure(ctx, sdk.ConfigureRequest{Config: b.Config})
		cdiags = append(cdiags, b.Component.Diagnostics(d)...)
		s.opts.Sinks = append(s.opts.Sinks, engine.Sink{Block: b, Sink: sk, Features: resp.Features})
	}
	locs := make([]string, len(s.opts.Sinks))
	for i, sk := range s.opts.Sinks {
		locs[i] = sk.Features.Location
	}
	cdiags = append(cdiags, pipeline.CheckSinkLocations(p.Sinks, locs)...)
	if !dryRun {
		for _, b := range p.Notifiers {
			n, err := host.Notifier(ctx, b.Type)
			if err != nil {
				return nil, withExit(exitUsage, fmt.Errorf("notifier %q (%s): %w", b.Name, b.DeclRange, err))
			}
			s.closer = append(s.closer, n.Close)
			cdiags = append(cdiags, b.Component.Diagnostics(n.Configure(ctx, sdk.ConfigureRequest{Config: b.Config}))...)
			s.opts.Notifiers = append(s.opts.Notifiers, engine.Notifier{Block: b, Notifier: n})
		}
	}

	// Export blocks first; then every item type some exporter declares gets
	// that exporter with its default settings. Exporters start lazily, on
	// their first item, so a type the organization does not have costs no
	// process.
	for _, e := range p.Exports {
		b := engine.Exporter{Format: e.Format, Timeout: e.Timeout, Skip: e.Skip}
		if b.Timeout == 0 {
			b.Timeout = defaultExportTimeout
		}
		if e.Exporter != nil {
			c := e.Exporter
			b.Name = c.Type
			lz := &lazyExporter{ctx: ctx, host: host, name: c.Type, config: c.Config, comp: c}
			s.closer = append(s.closer, lz.Close)
			if !e.Skip && !dryRun {
				// Configuration problems are found now, before any export.
				if err := lz.start(); err != nil {
					cdiags = append(cdiags, lz.diags...)
					if len(lz.diags) == 0 {
						return nil, withExit(exitUsage, fmt.Errorf("export %q (%s): %w", e.ItemType, e.DeclRange, err))
					}
				}
			}
			b.Exporter = lz
		} else if !e.Skip {
			return nil, withExit(exitUsage, fmt.Errorf("%s: export %q names no exporter and none declares the item type; add exporter = \"<name>\" (see agolpipe plugins)", e.DeclRange, e.ItemType))
		}
		s.opts.Exporters[e.ItemType] = b
	}
	names := slices.Clone(host.Names(sdk.KindExporter))
	sort.Strings(names)
	for _, n := range names {
		schema, err := host.Schema(sdk.KindExporter, n)
		if err != nil {
			continue
		}
		var lz *lazyExporter
		for _, t := range host.ItemTypes(n) {
			if _, ok := s.opts.Exporters[t]; ok {
				continue
			}
			if lz == nil {
				lz = &lazyExporter{ctx: ctx, host: host, name: n, config: emptyConfig(schema)}
				s.closer = append(s.closer, lz.Close)
			}
			s.opts.Exporters[t] = engine.Exporter{Name: n, Exporter: lz, Timeout: defaultExportTimeout}
		}
	}
	if err := showDiags(p, cdiags); err != nil {
		return nil, err
	}
	return s, nil
}

func showDiags(p *pipeline.Pipeline, diags hcl.Diagnostics) error {
	if len(diags) == 0 {
		return nil
	}
	color := isatty.IsTerminal(os.Stderr.Fd())
	if err := pipeline.WriteDiagnostics(os.Stderr, p, diags, 100, color); err != nil {
		return withExit(exitUsage, err)
	}
	if diags.HasErrors() {
		return withExit(exitUsage, errors.New("the pipeline has errors; nothing was run"))
	}
	return nil
}

// emptyConfig is the configuration of a component no block configures:
// every attribute null, every nested block absent.
func emptyConfig(s sdk.Schema) cty.Value {
	v, _ := s.ConfigValue(nil) // with nothing given, nothing can fail to convert
	return v
}

// lazyExporter starts its exporter plugin on first use.
type lazyExporter struct {
	ctx    context.Context
	host   *pluginhost.Host
	name   string
	config cty.Value
	comp   *pipeline.Component

	once  sync.Once
	ex    sdk.Exporter
	err   error
	diags hcl.Diagnostics
	mu    sync.Mutex
}

func (l *lazyExporter) start() error {
	l.once.Do(func() {
		ex, err := l.host.Exporter(l.ctx, l.name)
		if err != nil {
			l.err = err
			return
		}
		d := ex.Configure(l.ctx, sdk.ConfigureRequest{Config: l.config})
		if l.comp != nil {
			l.diags = l.comp.Diagnostics(d)
		}
		if d.HasErrors() {
			ex.Close()
			l.err = fmt.Errorf("exporter %q: %w", l.name, d.Err())
			return
		}
		l.mu.Lock()
		l.ex = ex
		l.mu.Unlock()
	})
	return l.err
}

func (l *lazyExporter) Info() sdk.Info     { return sdk.Info{Kind: sdk.KindExporter, Name: l.name} }
func (l *lazyExporter) Schema() sdk.Schema { s, _ := l.host.Schema(sdk.KindExporter, l.name); return s }
func (l *lazyExporter) ItemTypes() []string {
	return l.host.ItemTypes(l.name)
}
func (l *lazyExporter) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics { return nil }
func (l *lazyExporter) Export(ctx context.Context, req sdk.ExportRequest, h sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	if err := l.start(); err != nil {
		return sdk.ExportResult{}, sdk.Permanent("%v", err)
	}
	return l.ex.Export(ctx, req, h, out)
}
func (l *lazyExporter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ex == nil {
		return nil
	}
	err := l.ex.Close()
	l.ex = nil
	return err
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
