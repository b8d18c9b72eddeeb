package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/agolpipe/agolpipe/core/pipeline"
	coresession "github.com/agolpipe/agolpipe/core/session"
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
				diags = append(diags, coresession.Check(cmd.Context(), host, p)...)
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
