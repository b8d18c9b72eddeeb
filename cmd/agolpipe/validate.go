package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

func init() {
	var vars, varFiles []string
	cmd := &cobra.Command{
		Use:   "validate <pipeline.hcl>",
		Short: "Check a pipeline file and report every mistake at once",
		Long: `Validate decodes a pipeline file with the schema of every component it
uses and reports every problem at once, each with file:line:col and the
lines concerned. Nothing is contacted: no sign-in, no export, no write.

Exit status: 0 when the pipeline is valid (warnings may be shown),
2 when it has errors.`,
		Example: `  agolpipe validate nightly.hcl
  agolpipe validate nightly.hcl --var org=https://myorg.maps.arcgis.com
  agolpipe validate nightly.hcl --var-file prod.vars`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vals, err := pipeline.ParseVarFlags(vars)
			if err != nil {
				return withExit(exitUsage, err)
			}
			file := args[0]
			p, host, diags, err := loadWithHost(cmd.Context(), file, vals, varFiles)
			if err != nil {
				return withExit(exitUsage, err)
			}
			defer host.Close()
			if !diags.HasErrors() {
				// The values only a component can judge (a sink path that is
				// a root, a portal URL without a host) are checked by the
				// component's own Configure, as run does (Configure contacts
				// nothing and writes nothing); so are sinks that overlap.
				diags = append(diags, configureAll(cmd.Context(), host, p)...)
			}
			if len(diags) > 0 {
				color := isatty.IsTerminal(os.Stderr.Fd())
				if err := pipeline.WriteDiagnostics(os.Stderr, p, diags, 100, color); err != nil {
					return withExit(exitUsage, err)
				}
			}
			if diags.HasErrors() {
				errs := 0
				for _, d := range diags {
					if d.Severity == hcl.DiagError {
						errs++
					}
				}
				fmt.Fprintf(os.Stderr, "%s: %d error(s); nothing was run.\n", file, errs)
				return withExit(exitUsage, nil)
			}
			fmt.Fprintln(cmd.OutOrStdout(), summary(file, p))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable: --var name=value (repeatable; wins over --var-file and AGOLPIPE_VAR_<name>)")
	cmd.Flags().StringArrayVar(&varFiles, "var-file", nil, "read variables from an HCL file of name = value lines (repeatable; later files win)")
	rootCmd.AddCommand(cmd)
}

// configureAll starts every component the pipeline uses and hands it its
// block, as run does, and returns what the components said with the file
// positions of the attributes concerned. Components are closed again at
// once: validate never signs in, exports or writes.
func configureAll(ctx context.Context, host *pluginhost.Host, p *pipeline.Pipeline) hcl.Diagnostics {
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
			req := sdk.ConfigureRequest{Config: c.Config, Name: c.Name, PipelineFile: p.Filename}
			diags = append(diags, c.Diagnostics(src.Configure(ctx, req))...)
			_ = src.Close()
		}
	}
	// Where each sink writes, as the sink resolves it, so sinks on one
	// folder or on nested folders are refused (pipeline.CheckSinkLocations),
	// as run and plan do.
	locs := make([]string, len(p.Sinks))
	for i, b := range p.Sinks {
		sk, err := host.Sink(ctx, b.Type)
		if err != nil {
			cannotStart("sink", &b.Component, err)
			continue
		}
		resp, d := sk.Configure(ctx, sdk.ConfigureRequest{Config: b.Config})
		diags = append(diags, b.Component.Diagnostics(d)...)
		locs[i] = resp.Features.Location
		_ = sk.Close()
	}
	diags = append(diags, pipeline.CheckSinkLocations(p.Sinks, locs)...)
	for _, b := range p.Notifiers {
		n, err := host.Notifier(ctx, b.Type)
		if err != nil {
			cannotStart("notifier", &b.Component, err)
			continue
		}
		diags = append(diags, b.Component.Diagnostics(n.Configure(ctx, sdk.ConfigureRequest{Config: b.Config}))...)
		_ = n.Close()
	}
	for _, e := range p.Exports {
		if e.Exporter == nil || e.Skip {
			continue
		}
		c := e.Exporter
		ex, err := host.Exporter(ctx, c.Type)
		if err != nil {
			cannotStart("exporter", c, err)
			continue
		}
		diags = append(diags, c.Diagnostics(ex.Configure(ctx, sdk.ConfigureRequest{Config: c.Config}))...)
		_ = ex.Close()
	}
	return diags
}

// summary is the one line validate prints for a valid pipeline.
func summary(file string, p *pipeline.Pipeline) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("source %s.%s", p.Source.Type, p.Source.Name))
	parts = append(parts, plural(len(p.Sinks), "sink"))
	if n := len(p.Exports); n > 0 {
		parts = append(parts, plural(n, "export rule"))
	}
	if n := len(p.Notifiers); n > 0 {
		parts = append(parts, plural(n, "notifier"))
	}
	if n := len(p.Plugins); n > 0 {
		parts = append(parts, plural(n, "plugin"))
	}
	parts = append(parts, fmt.Sprintf("concurrency %d", p.Run.Concurrency))
	return fmt.Sprintf("%s: valid (%s)", file, strings.Join(parts, ", "))
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
