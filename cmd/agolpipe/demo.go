package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/examples"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// demoPasswordEnv is the environment variable examples/demo.hcl reads the
// password from, as the other examples do; the demo sets it in its own
// process only, so the password is never on a command line or printed.
const demoPasswordEnv = "AGOL_PASSWORD"

// demoOptions are the settings of one demo run.
type demoOptions struct {
	dir      string
	pipeline string
	items    int
	seed     uint64
	plain    bool
}

func init() {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Back up a simulated organization with examples/demo.hcl, to see agolpipe work",
		Long: `Demo starts a simulated ArcGIS Online organization on loopback (the same one
'agolpipe sim' serves: users, groups, feature services, web maps, apps, files
and more), runs the pipeline examples/demo.hcl against it into --dir, and
prints where the reports are. Nothing leaves this machine.

The run is a real one: the plugins run as subprocesses, every artifact
streams to the two local sinks of the pipeline, and the run folder holds
Results.txt, manifest.json, Inventory.csv and run.log as a production run
would. Open Results.txt first.

Exit status as for 'agolpipe run'.`,
		Example: `  agolpipe demo
  agolpipe demo --dir /tmp/agolpipe-demo --items 1000 --seed 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "./agolpipe-demo", "folder that receives the backup (created if missing)")
	f.StringVar(&o.pipeline, "pipeline", "", "pipeline file to run against the simulated organization (default: the built-in examples/demo.hcl, copied into --dir)")
	f.IntVar(&o.items, "items", 300, "number of items in the simulated organization")
	f.Uint64Var(&o.seed, "seed", 7, "seed of the simulated organization (same seed, same organization)")
	f.BoolVar(&o.plain, "plain", false, "print progress as plain lines even on a terminal")
	rootCmd.AddCommand(cmd)
}

// runDemo serves the simulated organization, runs the demo pipeline against
// it and tells the user where to look. Its exit code is the run's.
func runDemo(parent context.Context, stdout, stderr io.Writer, o demoOptions) error {
	if o.items < 1 {
		return withExit(exitUsage, fmt.Errorf("--items %d: want at least 1", o.items))
	}
	if o.pipeline != "" {
		if _, err := os.Stat(o.pipeline); err != nil {
			return withExit(exitUsage, fmt.Errorf("--pipeline %s: %w", o.pipeline, err))
		}
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return withExit(exitUsage, fmt.Errorf("--dir %s: %w", o.dir, err))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return withExit(exitUsage, fmt.Errorf("--dir: %w (choose a folder you can write to)", err))
	}
	if o.pipeline == "" {
		// The built-in demo pipeline is written next to the backup so the
		// user can read, change and rerun exactly what ran.
		o.pipeline = filepath.Join(dir, "demo.hcl")
		if err := os.WriteFile(o.pipeline, examples.Demo, 0o644); err != nil {
			return withExit(exitUsage, fmt.Errorf("writing the demo pipeline: %w", err))
		}
	}
	if parent == nil {
		parent = context.Background()
	}

	// Quick but realistic: export jobs take a moment as on ArcGIS Online,
	// and the few "large" files are kept small so the demo finishes in
	// seconds on a laptop.
	start := time.Now()
	srv, err := sim.Start(sim.Options{
		Listen:        "127.0.0.1:0",
		Items:         o.items,
		Seed:          o.seed,
		Latency:       2 * time.Millisecond,
		ExportTime:    300 * time.Millisecond,
		LargeFileSize: 1 << 20,
	})
	if err != nil {
		return withExit(exitUsage, fmt.Errorf("starting the simulated organization: %w", err))
	}
	defer srv.Close()
	admin, ok := demoAdmin(srv)
	if !ok {
		return withExit(exitUsage, errors.New("the simulated organization has no administrator"))
	}
	fmt.Fprintf(stdout, "Simulated ArcGIS Online organization %s with %d items at %s (ready in %s)\n",
		srv.OrgID(), o.items, srv.PortalURL(), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "Backing it up as %s with %s into %s\n\n", admin.Username, o.pipeline, dir)

	// The pipeline reads the password with env(); set it for this process
	// only (the host evaluates the pipeline; plugins never see it).
	prev, had := os.LookupEnv(demoPasswordEnv)
	os.Setenv(demoPasswordEnv, admin.Password)
	defer func() {
		if had {
			os.Setenv(demoPasswordEnv, prev)
		} else {
			os.Unsetenv(demoPasswordEnv)
		}
	}()

	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	vars := []string{"portal=" + srv.PortalURL(), "username=" + admin.Username, "backup_dir=" + dir}
	s, err := setup(ctx, o.pipeline, vars, nil, "text", false)
	if err != nil {
		return err
	}
	defer s.close()
	go func() {
		// After the first signal the run winds down and writes its
		// reports; a second one falls back to the default: quit at once.
		<-ctx.Done()
		stop()
	}()
	disp := newProgress(stderr, !o.plain && isatty.IsTerminal(os.Stderr.Fd()))
	s.opts.Progress = disp.event
	disp.start()
	rep, runErr := engine.Run(ctx, s.opts)
	disp.stop()
	fmt.Fprintln(stdout)
	printSummary(stdout, rep)
	printDemoReports(stdout, rep)
	if rep == nil {
		return withExit(exitUsage, runErr)
	}
	if runErr != nil && rep.ExitCode != exitCanceled {
		return withExit(rep.ExitCode, runErr)
	}
	return withExit(rep.ExitCode, nil)
}

// demoAdmin is the org administrator the demo signs in as, so every
// member's content is backed up.
func demoAdmin(srv *sim.Server) (sim.User, bool) {
	for _, u := range srv.Users() {
		if u.Kind == "admin" {
			return u, true
		}
	}
	return sim.User{}, false
}

// printDemoReports names the report files of the first sink that holds
// them, which is where a newcomer should look next.
func printDemoReports(w io.Writer, r *report.Run) {
	if r == nil {
		return
	}
	for _, s := range r.Sinks {
		if !s.Reports {
			continue
		}
		fmt.Fprintf(w, "\nReports of sink %q:\n", s.Name)
		for _, f := range []string{report.ResultsFile, report.ManifestFile, report.InventoryFile, report.LogFile} {
			fmt.Fprintf(w, "  %s\n", filepath.Join(s.RunPath, f))
		}
		fmt.Fprintf(w, "Start with %s: what was exported, what is partial or failed, and why.\n", report.ResultsFile)
		return
	}
	fmt.Fprintln(w, "\nNo sink holds the reports; see the errors above.")
}
