package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/sim"
	"github.com/spf13/cobra"
)

// simReady is the --ready-file JSON: what a script needs to drive the
// simulator. Passwords are the simulator's own fake test passwords.
type simReady struct {
	PortalURL string     `json:"portal_url"`
	OrgID     string     `json:"org_id"`
	Users     []sim.User `json:"users"`
	ItemCount int        `json:"item_count"`
	CAFile    string     `json:"ca_file,omitempty"`
	// OAuthClientID is the registered app that accepts the oob and
	// loopback redirects.
	OAuthClientID string `json:"oauth_client_id"`
	// APIKeys are the API keys the simulator accepts (simulator test keys,
	// like the passwords): read-only, they see public and organization
	// content and may not export, which is how a user tries API-key
	// sign-in and the query fallback from the command line.
	APIKeys []string `json:"api_keys"`
}

func init() {
	var opt sim.Options
	var readyFile string
	var faultEndpoints string
	var faults []string
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Serve a simulated ArcGIS Online or Portal for ArcGIS organization on loopback",
		Long: `Sim generates an organization (deterministic for --seed) with users, groups and
items of every kind agolpipe backs up, and serves the ArcGIS REST API for it:
tokens and OAuth 2.0, portal, users, groups, search, content, export jobs,
hosted feature and tile services. Point a pipeline's source at the printed
portal URL and sign in with one of the printed users.

The passwords printed are the simulator's own fake test passwords.`,
		Example: `  agolpipe sim --listen 127.0.0.1:8443 --items 2000 --seed 7 --ready-file sim.json
  agolpipe sim --mode enterprise --tls --latency 50ms --export-time 2s --fault-rate 0.05`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opt.Mode != "online" && opt.Mode != "enterprise" {
				return withExit(exitUsage, fmt.Errorf("--mode %q: want online or enterprise", opt.Mode))
			}
			if opt.FaultRate < 0 || opt.FaultRate > 1 {
				return withExit(exitUsage, fmt.Errorf("--fault-rate %v: want a probability between 0 and 1", opt.FaultRate))
			}
			if opt.TruncateRate < 0 || opt.TruncateRate > 1 {
				return withExit(exitUsage, fmt.Errorf("--truncate %v: want a probability between 0 and 1", opt.TruncateRate))
			}
			if faultEndpoints != "" {
				opt.FaultEndpoints = strings.Split(faultEndpoints, ",")
			}
			opt.Faults = nil
			for _, f := range faults {
				sf, err := sim.ParseFault(f)
				if err != nil {
					return withExit(exitUsage, fmt.Errorf("--fault: %w", err))
				}
				opt.Faults = append(opt.Faults, sf)
			}
			start := time.Now()
			srv, err := sim.Start(opt)
			if err != nil {
				return withExit(exitUsage, err)
			}
			defer srv.Close()
			o := srv.Org()
			o.Mu.RLock()
			items := len(o.Items)
			o.Mu.RUnlock()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Simulated %s organization %s with %d items, ready in %s\n", opt.Mode, srv.OrgID(), items, time.Since(start).Round(time.Millisecond))
			fmt.Fprintf(out, "Portal URL: %s\n", srv.PortalURL())
			fmt.Fprintf(out, "Sharing API: %s/sharing/rest\n", srv.PortalURL())
			if srv.CAFile() != "" {
				fmt.Fprintf(out, "CA certificate: %s\n", srv.CAFile())
			}
			fmt.Fprintf(out, "OAuth client id: %s\n", srv.OAuthClientID())
			fmt.Fprintln(out, "Users (simulator test passwords):")
			users := srv.Users()
			for _, u := range users {
				fmt.Fprintf(out, "  %-28s %-24s %s (%s)\n", u.Username, u.Password, u.Role, u.Kind)
			}
			keys := srv.APIKeys()
			sort.Strings(keys)
			if len(keys) > 0 {
				fmt.Fprintln(out, "API keys (simulator test keys; read-only: public and organization content, no export):")
				for _, k := range keys {
					fmt.Fprintf(out, "  %s\n", k)
				}
			}
			if readyFile != "" {
				ready := simReady{PortalURL: srv.PortalURL(), OrgID: srv.OrgID(), Users: users, ItemCount: items, CAFile: srv.CAFile(), OAuthClientID: srv.OAuthClientID(), APIKeys: keys}
				if ready.APIKeys == nil {
					ready.APIKeys = []string{}
				}
				if err := writeReady(readyFile, ready); err != nil {
					return withExit(exitUsage, fmt.Errorf("--ready-file: %w", err))
				}
				defer os.Remove(readyFile)
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
			defer signal.Stop(sig)
			<-sig
			fmt.Fprintln(out, "Stopping the simulator.")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opt.Listen, "listen", "127.0.0.1:8443", "address to listen on (use port 0 for any free port)")
	f.IntVar(&opt.Items, "items", 2000, "number of items to generate")
	f.BoolVar(&opt.Empty, "empty", false, "start an organization with its users only (no items, groups or folders): a restore target")
	f.Uint64Var(&opt.Seed, "seed", 7, "seed of the generated organization")
	f.StringVar(&opt.Mode, "mode", "online", "online (ArcGIS Online) or enterprise (Portal for ArcGIS)")
	f.BoolVar(&opt.TLS, "tls", false, "serve HTTPS with a self-signed certificate made at start")
	f.DurationVar(&opt.Latency, "latency", 0, "latency added to every request")
	f.DurationVar(&opt.SearchLag, "search-lag", 0, "how long a new item stays out of search results (real ArcGIS indexes new items with a delay)")
	f.DurationVar(&opt.ExportTime, "export-time", 2*time.Second, "how long export, replica and tile jobs take")
	f.Float64Var(&opt.FaultRate, "fault-rate", 0, "probability of an injected fault per request (500, 503, reset, slow body)")
	f.Float64Var(&opt.TruncateRate, "truncate", 0, "probability that a download (item data, export result, resource, thumbnail, metadata, attachment, replica, tile package) is cut off mid-way")
	f.StringVar(&faultEndpoints, "fault-endpoints", "", "comma-separated endpoints faults apply to (default: all but sign-in)")
	f.StringArrayVar(&faults, "fault", nil, "answer exact requests with an error: ENDPOINT[@N[xCOUNT]]=KIND, KIND one of 429, 429-body, 498, 499, 403, 403-html, 500, exists (repeatable; e.g. addPart@2=498)")
	f.DurationVar(&opt.TokenTTL, "token-ttl", 0, "cap on token lifetime (default 2 weeks, the ArcGIS maximum)")
	f.BoolVar(&opt.Throttle, "throttle", false, "answer bursts of feature queries with 429 and bursts of writes with 403")
	f.StringVar(&opt.OrgFile, "org-file", "", "load the organization from a JSON scenario instead of generating it")
	f.Int64Var(&opt.LargeFileSize, "large-file-size", 0, "size in bytes of the generated large files (default 96 MiB)")
	f.StringVar(&readyFile, "ready-file", "", "write portal URL, org id, users, API keys and item count as JSON here once listening")
	rootCmd.AddCommand(cmd)
}

// writeReady writes the ready file atomically, so a watcher never reads a
// half-written file.
func writeReady(path string, r simReady) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sim-ready-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return errors.Join(err)
	}
	return nil
}
