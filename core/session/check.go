package session

import (
	"context"
	"fmt"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
)

// Check is `validate`'s road: it starts every component the pipeline uses
// and configures it exactly as Open does (the same requests, through the
// same configure steps below), then closes it again at once. Unlike Open
// it never stops at the first problem: a component that cannot start is
// one more diagnostic at its block, so the user sees every mistake at
// once. Configure contacts nothing and writes nothing, so neither does
// Check: no sign-in, no export, no write.
func Check(ctx context.Context, host *pluginhost.Host, p *pipeline.Pipeline) hcl.Diagnostics {
	var diags hcl.Diagnostics
	cannotStart := func(what string, c *pipeline.Component, err error) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Cannot start %s %q", what, c.Type),
			Detail:   fmt.Sprintf("%v. Check the plugin with `agolpipe plugins`.", err),
			Subject:  c.DeclRange.Ptr(),
		})
	}
	if c := p.Source; c != nil {
		if src, err := host.Source(ctx, c.Type); err != nil {
			cannotStart("source", c, err)
		} else {
			// As a plan: a source told DryRun changes nothing in the portal.
			diags = append(diags, configureSource(ctx, src, p, true)...)
			_ = src.Close()
		}
	}
	locs := make([]string, len(p.Sinks))
	for i, b := range p.Sinks {
		sk, err := host.Sink(ctx, b.Type)
		if err != nil {
			cannotStart("sink", &b.Component, err)
			continue
		}
		f, d := configureSink(ctx, sk, b)
		diags = append(diags, d...)
		locs[i] = f.Location
		_ = sk.Close()
	}
	diags = append(diags, pipeline.CheckSinkLocations(p.Sinks, locs)...)
	for _, b := range p.Notifiers {
		n, err := host.Notifier(ctx, b.Type)
		if err != nil {
			cannotStart("notifier", &b.Component, err)
			continue
		}
		diags = append(diags, configureNotifier(ctx, n, b)...)
		_ = n.Close()
	}
	for _, e := range p.Exports {
		if e.Exporter == nil || e.Skip {
			continue
		}
		ex, err := host.Exporter(ctx, e.Exporter.Type)
		if err != nil {
			cannotStart("exporter", e.Exporter, err)
			continue
		}
		diags = append(diags, configureExporter(ctx, ex, e.Exporter)...)
		_ = ex.Close()
	}
	return diags
}

// The configure steps Open and Check share: what each component is told,
// and where its answers are placed in the pipeline file.

// configureSource hands the source its block. The block's name and the
// pipeline file let the source name the exact `agolpipe login` command
// when a sign-in has lapsed; dryRun keeps a plan from changing anything
// in the portal.
func configureSource(ctx context.Context, src sdk.Source, p *pipeline.Pipeline, dryRun bool) hcl.Diagnostics {
	req := sdk.ConfigureRequest{Config: p.Source.Config, Name: p.Source.Name, PipelineFile: p.Filename, DryRun: dryRun}
	return p.Source.Diagnostics(src.Configure(ctx, req))
}

// configureSink hands a sink its block and returns the features it
// declares (Location: where it writes, for CheckSinkLocations).
func configureSink(ctx context.Context, sk sdk.Sink, b *pipeline.SinkBlock) (sdk.SinkFeatures, hcl.Diagnostics) {
	resp, d := sk.Configure(ctx, sdk.ConfigureRequest{Config: b.Config})
	return resp.Features, b.Component.Diagnostics(d)
}

func configureNotifier(ctx context.Context, n sdk.Notifier, b *pipeline.NotifierBlock) hcl.Diagnostics {
	return b.Component.Diagnostics(n.Configure(ctx, sdk.ConfigureRequest{Config: b.Config}))
}

// configureExporter hands the exporter of an export block its block.
func configureExporter(ctx context.Context, ex sdk.Exporter, c *pipeline.Component) hcl.Diagnostics {
	return c.Diagnostics(ex.Configure(ctx, sdk.ConfigureRequest{Config: c.Config}))
}
