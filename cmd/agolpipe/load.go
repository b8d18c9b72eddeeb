package main

import (
	"context"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/plugins"
	"github.com/hashicorp/hcl/v2"
)

// loadWithHost loads a pipeline file with the schemas of every component the
// plugin host knows, built-in or declared in the file, so validate, login
// and prune see exactly what run sees. The caller closes the host.
func loadWithHost(ctx context.Context, file string, vars map[string]string, varFiles []string) (*pipeline.Pipeline, *pluginhost.Host, hcl.Diagnostics, error) {
	h, err := pluginhost.New(ctx, hostOptions())
	if err != nil {
		return nil, nil, nil, err
	}
	p, diags := pipeline.Load(file, pipeline.LoadOptions{Vars: vars, VarFiles: varFiles, Schemas: h, Plugins: h.PipelinePlugins})
	return p, h, diags, nil
}

// hostOptions are the plugin host's options of every command: the built-in
// components (package plugins), which this binary serves when the host
// re-executes it.
func hostOptions() pluginhost.Options {
	return pluginhost.Options{BuiltIns: plugins.BuiltIns().Describe()}
}
