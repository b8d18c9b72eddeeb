package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/agolpipe/agolpipe/core/runlock"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/examples"

	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
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
	// fullSize keeps the generated organization's realistic file and
	// layer sizes (hundreds of MB in all) instead of the demo's small ones.
	fullSize bool
}

// The demo's default organization is small enough that a first run is
// quick and takes well under 100 MB for both sinks together: few items,
// every file and tile package at most demoMaxFile, every layer at most
// demoMaxRows features. --items and --full-size give the realistic one.
const (
	demoItems   = 120
	demoMaxFile = 256 << 10
	demoMaxRows = 500
	// demoMaxExportLevels caps the cache levels of tile services that can
	// be exported (tile packages grow fourfold per level).
	demoMaxExportLevels = 10
)

func init() {
	o := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Back up a simulated organization with examples/demo.hcl, to see agolpipe work",
		Long: `Demo starts a simulated ArcGIS Online organization on loopback (the same one
'agolpipe sim' serves: users, groups, feature services, web maps, apps, files
and more), runs the pipeline examples/demo.hcl against it into --dir, and
prints where the reports are. Nothing leaves this machine.

By default the organization is small (120 items, files of at most 256 KiB,
layers of at most 500 features), so the backup takes a few MB in --dir
(./agolpipe-demo) per run; --items and --full-size make a bigger, realistic
one (hundreds of MB per run). Remove the folder when you are done; the demo
never writes anywhere else.

The run is a real one: the plugins run as subprocesses, every artifact
streams to the two local sinks of the pipeline, and the run folder holds
Results.txt, manifest.json, Inventory.csv and run.log as a production run
would. Open Results.txt first.

Exit status as for 'agolpipe run'.`,
		Example: `  agolpipe demo
  agolpipe demo --dir /tmp/agolpipe-demo --items 1000 --full-size --seed 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "./agolpipe-demo", "folder that receives the backup (created if missing)")
	f.StringVar(&o.pipeline, "pipeline", "", "pipeline file to run against the simulated organization (default: the built-in examples/demo.hcl, copied into --dir)")
	f.IntVar(&o.items, "items", demoItems, "number of items in the simulated organization")
	f.BoolVar(&o.fullSize, "full-size", false, "realistic file and layer sizes (hundreds of MB per run) instead of small ones")
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
	if os.Getenv(runlock.StateDirEnv) == "" {
		// The run lock and the retry state of the demo's pipeline live in
		// the demo folder, so deleting that folder removes everything the
		// demo wrote (it says so at the end).
		if err := os.Setenv(runlock.StateDirEnv, filepath.Join(dir, ".state")); err != nil {
			return withExit(exitUsage, fmt.Errorf("setting %s: %w", runlock.StateDirEnv, err))
		}
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
	simOrg := org.Generate(org.GenOptions{Items: o.items, Seed: o.seed, Mode: "online", LargeFileSize: 1 << 20})
	if !o.fullSize {
		shrinkOrg(simOrg, demoMaxFile, demoMaxRows)
	}
	srv, err := sim.Start(sim.Options{
		Listen:     "127.0.0.1:0",
		Org:        simOrg,
		Latency:    2 * time.Millisecond,
		ExportTime: 300 * time.Millisecond,
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
	if size, err := dirSize(dir); err == nil {
		fmt.Fprintf(stdout, "\nThe demo has written %s into %s (every demo run adds a run folder there). When you are done, delete that folder; nothing else was written.\n", report.Bytes(size), dir)
	}
	if rep == nil {
		return withExit(exitUsage, runErr)
	}
	if runErr != nil && rep.ExitCode != exitCanceled {
		return withExit(rep.ExitCode, runErr)
	}
	return withExit(rep.ExitCode, nil)
}

// shrinkOrg caps every generated file, package and layer of o, so the
// demo's backup stays small. The cap applies before the simulator serves
// o, so everything it answers (sizes, counts, bytes) agrees.
//
// Sizes follow the simulator's own rules: a CSV or GeoJSON file is whole
// rows (a cut row would be a corrupt file), and a tile package's size comes
// from its cache levels. Tile services cached too deep to export stay so,
// so the demo still shows that outcome.
func shrinkOrg(o *org.Org, maxFile int64, maxRows int) {
	rowsThatFit := func(size func(int64) int64) int64 {
		return size((maxFile - size(0)) / (size(1) - size(0)))
	}
	for _, it := range o.Items {
		if it.Size > maxFile {
			switch it.Type {
			case "CSV":
				it.Size = rowsThatFit(org.CSVSize)
			case "GeoJson":
				it.Size = rowsThatFit(org.GeoJSONSize)
			default:
				it.Size = maxFile
			}
		}
		if it.Service == nil {
			continue
		}
		for _, l := range it.Service.Layers {
			l.Rows = min(l.Rows, maxRows)
		}
		if it.Service.Levels <= demoMaxExportLevels+3 {
			// Exportable (regional) caches: 11 to 13 levels are 100 to
			// 1,800 tiles, up to 22 MB; 10 levels are about 30 tiles.
			it.Service.Levels = min(it.Service.Levels, demoMaxExportLevels)
		}
	}
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n, err
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
