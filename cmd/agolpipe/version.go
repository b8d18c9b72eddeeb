package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/version"
	"github.com/spf13/cobra"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print agolpipe's version, the plugin protocol it speaks and how it was built",
		Long: `Version prints what a bug report or a support ticket needs: agolpipe's
version (the built-in plugins are the same binary, so the same version),
the plugin protocol version third-party plugins must speak, the Go version,
the platform, and the source revision when the build recorded it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "agolpipe %s\n", version.Version)
			fmt.Fprintf(w, "plugin protocol v%d\n", sdk.ProtocolVersion)
			fmt.Fprintf(w, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if rev := revision(); rev != "" {
				fmt.Fprintf(w, "revision %s\n", rev)
			}
			return nil
		},
	})
}

// revision is the VCS revision `go build` recorded (absent with
// -buildvcs=false or outside a checkout), with "+dirty" for uncommitted
// changes.
func revision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}
