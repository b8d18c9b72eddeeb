// Package session assembles a run: it loads a pipeline file with the
// plugin host's schemas, starts and configures the source, the sinks and
// the notifiers, maps every item type to its exporter, and closes it all
// again. `run`, `plan`, `demo`, `prune`, the benchmarks and the commands
// that read backups back share it, so a pipeline means the same thing to
// each of them; the CLI keeps only its flags and its printing.
package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/sinkwatch"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// DefaultExportTimeout applies when an export block sets no timeout (see
// sdk.ExportRequest.Timeout).
const DefaultExportTimeout = 120 * time.Minute

// ErrInvalid is Open's error when the pipeline file or a component's
// configuration has errors; they went to Options.Diagnostics.
var ErrInvalid = errors.New("the pipeline has errors; nothing was run")

// Options say which pipeline to open and how.
type Options struct {
	// File is the pipeline file; Vars and VarFiles set its variables.
	File     string
	Vars     map[string]string
	VarFiles []string
	// LogFormat is run.log's format: "text" or "json".
	LogFormat string
	// DryRun opens for a plan: no data channel check, no notifiers, no
	// exporter started, and the source told not to change the portal.
	DryRun bool
	// Host configures the plugin host (the built-in components, the
	// binary that serves them). Its Logger is replaced: plugin log lines
	// go to run.log.
	Host pluginhost.Options
	// KeepDir and StateDir are engine.Options' (the local folders for
	// reports a sink could not take, and the retry state); empty keeps none.
	KeepDir, StateDir string
	// OnlySinks, when set, opens only the sinks it returns true for: no
	// source, notifiers or exporters are started (`prune` opens the sinks
	// with a retention block).
	OnlySinks func(*pipeline.SinkBlock) bool
	// SinksOnly (with OnlySinks) loads the pipeline for a command that
	// never signs in: an env() or variable that only the source, export or
	// notify blocks use may be unset (pipeline.LoadOptions.SinksOnly), and
	// those blocks' settings may then be unknown.
	SinksOnly bool
	// Diagnostics receives the problems found in the pipeline file and in
	// the components' configuration, warnings included, as they are found
	// (first the file's, then the configuration's). Nil drops them; Open
	// fails with ErrInvalid when any is an error either way.
	Diagnostics func(p *pipeline.Pipeline, diags hcl.Diagnostics)
}

// Session is an opened pipeline: its components started and configured.
type Session struct {
	Pipeline *pipeline.Pipeline
	Host     *pluginhost.Host
	// Log is run.log; plugin log lines go there too.
	Log *report.Log
	// Engine is what engine.Run needs, every component in place; set its
	// Progress (and nothing else needs setting) before Run.
	Engine engine.Options

	closers []func() error
	once    sync.Once
}

// Run runs the backup (or, opened with DryRun, the plan).
func (s *Session) Run(ctx context.Context) (*report.Run, error) {
	return engine.Run(ctx, s.Engine)
}

// Close stops every component and process Open started and closes
// run.log, once; later calls and a nil Session do nothing. To stop the
// plugin processes from a signal handler, call Host.Close.
func (s *Session) Close() error {
	if s == nil {
		return nil
	}
	var errs []error
	s.once.Do(func() {
		for i := len(s.closers) - 1; i >= 0; i-- {
			errs = append(errs, s.closers[i]())
		}
	})
	return errors.Join(errs...)
}

// Open loads the pipeline file with the plugin host's schemas, starts the
// source, the sinks and (unless DryRun) the notifiers and the exporters of
// export blocks, and configures them, so that configuration problems are
// found before anything is exported. Every other item type an exporter
// declares gets that exporter with its default settings, started on its
// first item (pluginhost.Host.ExporterOnDemand), so a type the
// organization does not have costs no process. On error, what was started
// is closed again.
func Open(ctx context.Context, o Options) (s *Session, err error) {
	hostOut := &lazyWriter{}
	hostOpts := o.Host
	hostOpts.Logger = hclog.New(&hclog.LoggerOptions{Name: "plugins", Output: hostOut, Level: hclog.Info})
	host, err := pluginhost.New(ctx, hostOpts)
	if err != nil {
		return nil, err
	}
	s = &Session{Host: host}
	s.closers = append(s.closers, host.Close)
	// The deferred clean-up holds its own reference: every failing return
	// below sets the named result s to nil before deferred calls run.
	opened := s
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	show := func(p *pipeline.Pipeline, diags hcl.Diagnostics) error {
		if len(diags) == 0 {
			return nil
		}
		if o.Diagnostics != nil {
			o.Diagnostics(p, diags)
		}
		if diags.HasErrors() {
			return ErrInvalid
		}
		return nil
	}

	p, diags := pipeline.Load(o.File, pipeline.LoadOptions{Vars: o.Vars, VarFiles: o.VarFiles, Schemas: host, Plugins: host.PipelinePlugins,
		SinksOnly: o.SinksOnly && o.OnlySinks != nil})
	if err := show(p, diags); err != nil {
		return nil, err
	}
	s.Pipeline = p
	log, err := report.NewLog(o.LogFormat, p.Sensitive, nil)
	if err != nil {
		return nil, err
	}
	s.Log = log
	s.closers = append(s.closers, log.Close)
	hostOut.set(log.Writer())
	s.Engine = engine.Options{Pipeline: p, Log: log, DryRun: o.DryRun, Exporters: map[string]engine.Exporter{}, KeepDir: o.KeepDir, StateDir: o.StateDir}
	if o.OnlySinks != nil {
		d, err := s.openSinks(ctx, host, p, o.OnlySinks)
		if err != nil {
			return nil, err
		}
		if err := show(p, d); err != nil {
			return nil, err
		}
		return s, nil
	}
	if !o.DryRun {
		if err := host.DataChannel().Ready(); err != nil {
			log.Logger().Warn("artifact bytes will go through gRPC, at well under half the speed of the data channel",
				"reason", err.Error(), "fix", "set TMPDIR to a short, writable local folder (the data channel is a Unix socket in a private folder there; socket paths are limited to about 100 characters)")
		}
	}

	var cdiags hcl.Diagnostics

	src, err := host.Source(ctx, p.Source.Type)
	if err != nil {
		return nil, fmt.Errorf("source %q (%s): %w", p.Source.Name, p.Source.DeclRange, err)
	}
	s.closers = append(s.closers, src.Close)
	cdiags = append(cdiags, configureSource(ctx, src, p, o.DryRun)...)
	s.Engine.Source = src

	d, err := s.openSinks(ctx, host, p, nil)
	cdiags = append(cdiags, d...)
	if err != nil {
		return nil, err
	}
	locs := make([]string, len(s.Engine.Sinks))
	for i, sk := range s.Engine.Sinks {
		locs[i] = sk.Features.Location
	}
	cdiags = append(cdiags, pipeline.CheckSinkLocations(p.Sinks, locs)...)
	if !o.DryRun {
		for _, b := range p.Notifiers {
			n, err := host.Notifier(ctx, b.Type)
			if err != nil {
				return nil, fmt.Errorf("notifier %q (%s): %w", b.Name, b.DeclRange, err)
			}
			s.closers = append(s.closers, n.Close)
			cdiags = append(cdiags, configureNotifier(ctx, n, b)...)
			s.Engine.Notifiers = append(s.Engine.Notifiers, engine.Notifier{Block: b, Notifier: n})
		}
	}

	d, err = s.mapExporters(ctx, host, p, o.DryRun)
	cdiags = append(cdiags, d...)
	if err != nil {
		return nil, err
	}
	if err := show(p, cdiags); err != nil {
		return nil, err
	}
	return s, nil
}

// openSinks starts and configures the sinks (those only accepts, when it
// is set).
func (s *Session) openSinks(ctx context.Context, host *pluginhost.Host, p *pipeline.Pipeline, only func(*pipeline.SinkBlock) bool) (hcl.Diagnostics, error) {
	var diags hcl.Diagnostics
	// Every call to a sink of the session (a run's, prune's, verify's,
	// restore's) is bounded by its progress: a store that stops answering
	// fails the call instead of holding the command (core/sinkwatch).
	idle, err := sinkwatch.IdleTimeout()
	if err != nil {
		return diags, err
	}
	for _, b := range p.Sinks {
		if only != nil && !only(b) {
			continue
		}
		sk, err := host.Sink(ctx, b.Type)
		if err != nil {
			return diags, fmt.Errorf("sink %q (%s): %w", b.Name, b.DeclRange, err)
		}
		s.closers = append(s.closers, sk.Close)
		f, d := configureSink(ctx, sk, b)
		diags = append(diags, d...)
		s.Engine.Sinks = append(s.Engine.Sinks, engine.Sink{Block: b, Sink: sinkwatch.Wrap(sk, b.Name, idle), Features: f})
	}
	return diags, nil
}

// mapExporters gives every item type its exporter: export blocks first;
// then every item type some exporter declares gets that exporter with its
// default settings. The exporters of export blocks start now (unless the
// type is skipped or this is a plan), so their configuration problems are
// found before any export; the others start on their first item.
func (s *Session) mapExporters(ctx context.Context, host *pluginhost.Host, p *pipeline.Pipeline, dryRun bool) (hcl.Diagnostics, error) {
	var diags hcl.Diagnostics
	for _, e := range p.Exports {
		b := engine.Exporter{Format: e.Format, Timeout: e.Timeout, Skip: e.Skip}
		if b.Timeout == 0 {
			b.Timeout = DefaultExportTimeout
		}
		if e.Exporter != nil {
			c := e.Exporter
			b.Name = c.Type
			req := sdk.ConfigureRequest{Config: c.Config}
			var ex sdk.Exporter
			var err error
			if !e.Skip && !dryRun {
				ex, err = host.Exporter(ctx, c.Type)
				if err != nil {
					return diags, fmt.Errorf("export %q (%s): %w", e.ItemType, e.DeclRange, err)
				}
				s.closers = append(s.closers, ex.Close)
				// Only errors are shown: a warning of an export block's
				// exporter was never reported, and this keeps it so.
				if d := configureExporter(ctx, ex, c); d.HasErrors() {
					diags = append(diags, d...)
				}
			} else {
				ex, err = host.ExporterOnDemand(ctx, c.Type, req)
				if err != nil {
					return diags, fmt.Errorf("export %q (%s): %w", e.ItemType, e.DeclRange, err)
				}
				s.closers = append(s.closers, ex.Close)
			}
			b.Exporter = ex
		} else if !e.Skip {
			return diags, fmt.Errorf("%s: export %q names no exporter and none declares the item type; add exporter = \"<name>\" (see agolpipe plugins)", e.DeclRange, e.ItemType)
		}
		s.Engine.Exporters[e.ItemType] = b
	}
	names := slices.Clone(host.Names(sdk.KindExporter))
	sort.Strings(names)
	for _, n := range names {
		schema, err := host.Schema(sdk.KindExporter, n)
		if err != nil {
			continue
		}
		var ex sdk.Exporter
		for _, t := range host.ItemTypes(n) {
			if _, ok := s.Engine.Exporters[t]; ok {
				continue
			}
			if ex == nil {
				if ex, err = host.ExporterOnDemand(ctx, n, sdk.ConfigureRequest{Config: emptyConfig(schema)}); err != nil {
					return diags, fmt.Errorf("exporter %q: %w", n, err)
				}
				s.closers = append(s.closers, ex.Close)
			}
			s.Engine.Exporters[t] = engine.Exporter{Name: n, Exporter: ex, Timeout: DefaultExportTimeout}
		}
	}
	return diags, nil
}

// emptyConfig is the configuration of a component no block configures:
// every attribute null, every nested block absent.
func emptyConfig(s sdk.Schema) cty.Value {
	v, _ := s.ConfigValue(nil) // with nothing given, nothing can fail to convert
	return v
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
