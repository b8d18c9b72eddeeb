package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	coresession "github.com/agolpipe/agolpipe/core/session"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
)

// storedRuns is a pipeline's sinks opened for reading what they hold: the
// pipeline file loaded, the sinks' plugins started and configured (bounded
// by core/sinkwatch like a run's), nothing else (no source sign-in, no
// exporters, no notifiers), so `runs` and `verify` work when the portal is
// down.
type storedRuns struct {
	p     *pipeline.Pipeline
	host  *pluginhost.Host
	cat   *catalog.Catalog
	types map[string]string // sink name -> type
	close func()
}

// openStoredRuns loads file and opens its sinks (only the one named only,
// when set) through a sinks-only session. Configuration errors are printed
// and come back with exitUsage. The source's settings may be left unknown
// by an env() or variable that is not set (pipeline.LoadOptions.SinksOnly):
// reading backups needs no portal password; source says so if asked.
func openStoredRuns(ctx context.Context, file string, vars, varFiles []string, only string) (*storedRuns, error) {
	return openStored(ctx, file, vars, varFiles, only, true)
}

// openStoredRunsAndSource is openStoredRuns for a command that signs in
// too (replace): the whole pipeline must evaluate, as for a run.
func openStoredRunsAndSource(ctx context.Context, file string, vars, varFiles []string) (*storedRuns, error) {
	return openStored(ctx, file, vars, varFiles, "", false)
}

func openStored(ctx context.Context, file string, vars, varFiles []string, only string, sinksOnly bool) (*storedRuns, error) {
	vals, err := pipeline.ParseVarFlags(vars)
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	var printErr error
	var names []string
	s, err := coresession.Open(ctx, coresession.Options{
		File: file, Vars: vals, VarFiles: varFiles, LogFormat: "text", Host: hostOptions(), SinksOnly: sinksOnly,
		OnlySinks: func(b *pipeline.SinkBlock) bool {
			names = append(names, b.Name)
			return only == "" || b.Name == only
		},
		Diagnostics: func(p *pipeline.Pipeline, diags hcl.Diagnostics) {
			if !diags.HasErrors() {
				return
			}
			if err := writeDiags(p, diags); err != nil && printErr == nil {
				printErr = err
			}
		},
	})
	if errors.Is(err, coresession.ErrInvalid) {
		if printErr == nil {
			printErr = errors.New("the pipeline has errors")
		}
		return nil, withExit(exitUsage, printErr)
	}
	if err != nil {
		return nil, withExit(exitUsage, err)
	}
	sr := &storedRuns{p: s.Pipeline, host: s.Host, types: map[string]string{}}
	var sinks []catalog.Sink
	for _, es := range s.Engine.Sinks {
		sinks = append(sinks, catalog.Sink{Name: es.Block.Name, Sink: es.Sink, Features: es.Features})
		sr.types[es.Block.Name] = es.Block.Type
	}
	if only != "" && len(sinks) == 0 {
		_ = s.Close()
		return nil, withExit(exitUsage, fmt.Errorf("--sink %q: %s has no such sink (its sinks: %s)", only, file, strings.Join(names, ", ")))
	}
	sr.cat = catalog.New(s.Pipeline.ID(), sinks)
	sr.close = func() {
		_ = sr.cat.Close()
		_ = s.Close()
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
	src, _, err := sr.connect(ctx)
	return src, err
}

// connect is source with the organization it signed in to.
func (sr *storedRuns) connect(ctx context.Context) (sdk.Source, sdk.OrgInfo, error) {
	b := sr.p.Source
	if !b.Config.IsWhollyKnown() {
		return nil, sdk.OrgInfo{}, fmt.Errorf("source %q (%s): an environment variable or variable its settings use is not set (agolpipe validate names it)", b.Name, b.DeclRange)
	}
	src, err := sr.host.Source(ctx, b.Type)
	if err != nil {
		return nil, sdk.OrgInfo{}, fmt.Errorf("source %q (%s): %w", b.Name, b.DeclRange, err)
	}
	if d := src.Configure(ctx, sdk.ConfigureRequest{Config: b.Config, Name: b.Name, PipelineFile: sr.p.Filename}); d.HasErrors() {
		_ = src.Close()
		return nil, sdk.OrgInfo{}, fmt.Errorf("source %q (%s): %w", b.Name, b.DeclRange, d.Err())
	}
	org, err := src.Connect(ctx)
	if err != nil {
		_ = src.Close()
		return nil, sdk.OrgInfo{}, fmt.Errorf("source %q: signing in: %w", b.Name, err)
	}
	return src, org, nil
}
