package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/mattn/go-isatty"
)

// storedRuns is a pipeline's sinks opened for reading what they hold: the
// pipeline file loaded, the sinks' plugins started and configured, nothing
// else (no source sign-in, no exporters, no notifiers), so `runs` and
// `verify` work when the portal is down.
type storedRuns struct {
	p     *pipeline.Pipeline
	host  *pluginhost.Host
	cat   *catalog.Catalog
	types map[string]string // sink name -> type
	close func()
}

// openStoredRuns loads file and opens its sinks (only the one named only,
// when set). Configuration errors are printed and come back with
// exitUsage.
func openStoredRuns(ctx context.Context, file string, vars, varFiles []string, only string) (*storedRuns, error) {
	vals, err := pipeline.ParseVarFlags(vars)
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	p, host, diags, err := loadWithHost(ctx, file, vals, varFiles)
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	var closers []func() error
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
		host.Close()
	}
	color := isatty.IsTerminal(os.Stderr.Fd())
	if diags.HasErrors() {
		_ = pipeline.WriteDiagnostics(os.Stderr, p, diags, 100, color)
		closeAll()
		return nil, withExit(exitUsage, errors.New("the pipeline has errors"))
	}
	sr := &storedRuns{p: p, host: host, types: map[string]string{}}
	var sinks []catalog.Sink
	var names []string
	for _, b := range p.Sinks {
		names = append(names, b.Name)
		if only != "" && b.Name != only {
			continue
		}
		sk, err := host.Sink(ctx, b.Type)
		if err != nil {
			closeAll()
			return nil, withExit(exitUsage, fmt.Errorf("sink %q (%s): %w", b.Name, b.DeclRange, err))
		}
		closers = append(closers, sk.Close)
		resp, d := sk.Configure(ctx, sdk.ConfigureRequest{Config: b.Config, Name: b.Name, PipelineFile: p.Filename})
		if d.HasErrors() {
			_ = pipeline.WriteDiagnostics(os.Stderr, p, b.Component.Diagnostics(d), 100, color)
			closeAll()
			return nil, withExit(exitUsage, fmt.Errorf("sink %q is not configured; fix the pipeline file", b.Name))
		}
		sinks = append(sinks, catalog.Sink{Name: b.Name, Sink: sk, Features: resp.Features})
		sr.types[b.Name] = b.Type
	}
	if only != "" && len(sinks) == 0 {
		closeAll()
		return nil, withExit(exitUsage, fmt.Errorf("--sink %q: %s has no such sink (its sinks: %s)", only, file, strings.Join(names, ", ")))
	}
	sr.cat = catalog.New(p.ID(), sinks)
	sr.close = func() {
		_ = sr.cat.Close()
		closeAll()
	}
	return sr, nil
}

// location names a sink for people: its name, type and where it stores.
func (sr *storedRuns) location(name string) string {
	s, _ := sr.cat.Sink(name)
	return fmt.Sprintf("sink %q (%s, %s)", name, sr.types[name], s.Features.Location)
}

// resolve turns a run reference (a run folder, a run id or "latest") into
// a run folder; a reference no sink knows is a usage error.
func (sr *storedRuns) resolve(ctx context.Context, ref string) (string, error) {
	folder, err := sr.cat.Resolve(ctx, ref)
	if err != nil {
		var nr *catalog.NoRunError
		if errors.As(err, &nr) {
			return "", withExit(exitUsage, err)
		}
		if ctx.Err() != nil {
			return "", withExit(exitCanceled, err)
		}
		return "", withExit(exitPartial, err)
	}
	return folder, nil
}

// source starts, configures and signs in the pipeline's source, for what
// only the live portal can say (verify --deep's live counts). The caller
// closes it.
func (sr *storedRuns) source(ctx context.Context) (sdk.Source, error) {
	b := sr.p.Source
	src, err := sr.host.Source(ctx, b.Type)
	if err != nil {
		return nil, fmt.Errorf("source %q (%s): %w", b.Name, b.DeclRange, err)
	}
	if d := src.Configure(ctx, sdk.ConfigureRequest{Config: b.Config, Name: b.Name, PipelineFile: sr.p.Filename}); d.HasErrors() {
		_ = src.Close()
		return nil, fmt.Errorf("source %q (%s): %w", b.Name, b.DeclRange, d.Err())
	}
	if _, err := src.Connect(ctx); err != nil {
		_ = src.Close()
		return nil, fmt.Errorf("source %q: signing in: %w", b.Name, err)
	}
	return src, nil
}
