package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/plugins/sources/arcgis"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
)

func init() {
	var vars, varFiles []string
	var portalURL, clientID, tokenFile, redirect string
	cmd := &cobra.Command{
		Use:   "login [<pipeline.hcl> <source-name>]",
		Short: "Sign in through the browser (SSO, MFA) and store a refresh token for unattended runs",
		Long: `Login runs the OAuth 2.0 authorization-code flow with PKCE for an arcgis
source that has an oauth block. It prints an address to open in a browser;
after you sign in (single sign-on and multi-factor included), the portal
either shows a code to paste here (redirect = "oob", the default) or sends
the browser back to a listener on 127.0.0.1 (redirect = "loopback").

The refresh token is stored in the block's token_file, created with mode
0600; runs use it to get access tokens and roll it before it lapses. When a
run says the stored sign-in lapsed, run this command again.

Without a pipeline file, --url, --client-id and --token-file say the same.`,
		Example: `  agolpipe login nightly.hcl prod
  agolpipe login --url myorg --client-id AbC123 --token-file ~/.agolpipe/myorg.token`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cfg cty.Value
			switch len(args) {
			case 2:
				vals, err := pipeline.ParseVarFlags(vars)
				if err != nil {
					return withExit(exitUsage, err)
				}
				p, host, diags, err := loadWithHost(cmd.Context(), args[0], vals, varFiles)
				if err != nil {
					return withExit(exitUsage, err)
				}
				defer host.Close()
				if diags.HasErrors() {
					pipeline.WriteDiagnostics(os.Stderr, p, diags, 100, isatty.IsTerminal(os.Stderr.Fd()))
					return withExit(exitUsage, fmt.Errorf("%s has errors; fix them first (agolpipe validate %s)", args[0], args[0]))
				}
				if p.Source == nil || p.Source.Name != args[1] {
					return withExit(exitUsage, fmt.Errorf("%s has no source named %q", args[0], args[1]))
				}
				if p.Source.Type != "arcgis" {
					return withExit(exitUsage, fmt.Errorf("source %q is of type %q; login is for arcgis sources", args[1], p.Source.Type))
				}
				cfg = p.Source.Config
			case 0:
				if portalURL == "" || clientID == "" || tokenFile == "" {
					return withExit(exitUsage, fmt.Errorf("give a pipeline file and source name, or --url, --client-id and --token-file"))
				}
				oauth := map[string]cty.Value{"client_id": cty.StringVal(clientID), "token_file": cty.StringVal(tokenFile)}
				if redirect != "" {
					oauth["redirect"] = cty.StringVal(redirect)
				}
				cfg = arcgis.ConfigValue(map[string]cty.Value{"url": cty.StringVal(portalURL), "oauth": cty.ObjectVal(oauth)})
			default:
				return withExit(exitUsage, fmt.Errorf("give both the pipeline file and the source name"))
			}
			parent := cmd.Context()
			if parent == nil {
				parent = context.Background()
			}
			ctx, stop := signal.NotifyContext(parent, os.Interrupt)
			defer stop()
			res, err := arcgis.Login(ctx, arcgis.LoginOptions{Config: sdk.ConfigureRequest{Config: cfg}, Out: cmd.ErrOrStderr(), In: cmd.InOrStdin()})
			if err != nil {
				if ctx.Err() != nil {
					return withExit(exitCanceled, fmt.Errorf("sign-in canceled"))
				}
				return withExit(exitUsage, fmt.Errorf("sign-in failed: %w", err))
			}
			until := ""
			if !res.RefreshExpires.IsZero() {
				until = fmt.Sprintf("; it lasts until %s if no run renews it", res.RefreshExpires.Local().Format("2006-01-02 15:04"))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Signed in as %s. The sign-in is stored in %s (mode 0600)%s.\n", res.Username, res.TokenFile, until)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&vars, "var", nil, "set a variable of the pipeline: --var name=value (repeatable)")
	cmd.Flags().StringArrayVar(&varFiles, "var-file", nil, "read pipeline variables from an HCL file (repeatable)")
	cmd.Flags().StringVar(&portalURL, "url", "", "organization (without a pipeline file): short name, host or portal URL")
	cmd.Flags().StringVar(&clientID, "client-id", "", "OAuth application client id (without a pipeline file)")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "where to store the refresh token (without a pipeline file)")
	cmd.Flags().StringVar(&redirect, "redirect", "", `"oob" (default) or "loopback" (without a pipeline file)`)
	rootCmd.AddCommand(cmd)
}
