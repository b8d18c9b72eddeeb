package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

func init() {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plugins [pipeline.hcl]",
		Short: "List every available component: kind, name, version, protocol, built-in or path",
		Long: `Plugins lists the components agolpipe can use: the built-ins, and with a
pipeline file also the third-party plugins its plugin blocks declare (each
checked against its recorded sha256 and asked what it serves).`,
		Example: `  agolpipe plugins
  agolpipe plugins nightly.hcl
  agolpipe plugins --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := pluginhost.New(cmd.Context(), hostOptions())
			if err != nil {
				return withExit(exitUsage, err)
			}
			defer h.Close()
			if len(args) == 1 {
				// Only the plugin blocks matter here; the rest of the file
				// is validate's business.
				var pluginDiags hcl.Diagnostics
				p, _ := pipeline.Load(args[0], pipeline.LoadOptions{
					Schemas: h,
					Plugins: func(decls []*pipeline.PluginDecl) (pipeline.SchemaSource, hcl.Diagnostics) {
						src, diags := h.PipelinePlugins(decls)
						pluginDiags = diags
						return src, diags
					},
				})
				if pluginDiags.HasErrors() {
					_ = pipeline.WriteDiagnostics(os.Stderr, p, pluginDiags, 100, isatty.IsTerminal(os.Stderr.Fd()))
					return withExit(exitUsage, nil)
				}
			}
			comps := h.Components()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(comps)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KIND\tNAME\tVERSION\tPROTOCOL\tFROM")
			for _, c := range comps {
				from := "built-in"
				if !c.BuiltIn {
					from = c.Path
				}
				fmt.Fprintf(w, "%s\t%s\t%s\tv%d\t%s\n", c.Kind, c.Name, c.Version, c.Protocol, from)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	rootCmd.AddCommand(cmd)
}
