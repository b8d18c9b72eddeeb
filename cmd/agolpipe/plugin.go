package main

import (
	"encoding/json"

	"github.com/agolpipe/agolpipe/plugins"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/spf13/cobra"
)

// The hidden `plugin` command is how agolpipe serves its own built-in
// components: the plugin host re-executes this binary with `plugin serve
// <kind> <name>`, so built-ins travel the same gRPC road as third-party
// plugins. Nothing here may write to stdout before go-plugin's handshake.
func init() {
	pluginCmd := &cobra.Command{
		Use:    "plugin",
		Short:  "Serve a built-in component to an agolpipe host (internal)",
		Hidden: true,
	}
	pluginCmd.AddCommand(&cobra.Command{
		Use:   "serve <kind> <name>",
		Short: "Serve one built-in component over the plugin protocol",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := grpcplugin.ServeComponent(plugins.BuiltIns(), sdk.Kind(args[0]), args[1]); err != nil {
				return withExit(exitUsage, err)
			}
			return nil
		},
	})
	pluginCmd.AddCommand(&cobra.Command{
		Use:   "describe",
		Short: "Print the built-in components and their schemas as JSON",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(plugins.BuiltIns().Describe())
		},
	})
	rootCmd.AddCommand(pluginCmd)
}
