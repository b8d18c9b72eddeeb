// Command stream is the streaming benchmark's host: it streams one file
// from an exporter plugin (a subprocess) through this host into the
// built-in local sink (a re-executed agolpipe subprocess), the road every
// artifact of a run takes, and prints the elapsed time and the peak RSS of
// the host and of each plugin process. bench/stream/run.sh builds
// everything, compares with cp and prints the ratio.
//
// -road engine (the default) runs the real engine (core/engine.Run) on a
// one-item pipeline, so the bytes take the fan-out, the manifest's sha256
// and the reports like in `agolpipe run`; only the source, which lists the
// one item and carries no bytes, is in-process. -road direct hands the
// exporter's artifact straight to the sink's Put, the protocol alone.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/bench/internal/procfs"
	"github.com/agolpipe/agolpipe/core/engine"
	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/plugins"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/zclconf/go-cty/cty"
)

func main() {
	file := flag.String("file", "", "file the exporter streams")
	out := flag.String("out", "", "folder of the local sink")
	agolpipe := flag.String("agolpipe", "", "agolpipe binary serving the local sink")
	exporter := flag.String("exporter", "", "benchmark exporter plugin binary")
	sum := flag.String("sha256", "", "recorded sha256 of the exporter plugin")
	cpuProfile := flag.String("cpuprofile", "", "write the host's CPU profile to this file")
	heapProfile := flag.String("heapprofile", "", "write the host's heap profile, taken when half the artifact went through, to this file")
	road := flag.String("road", "engine", "engine: through core/engine.Run; direct: exporter straight into the sink's Put")
	flag.Parse()
	// This host stands in for `agolpipe run`, so it takes agolpipe's GC
	// setting (cmd/agolpipe setGCPercent).
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if *road != "engine" && *road != "direct" {
		fmt.Fprintln(os.Stderr, "Error: -road is engine or direct")
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "Error:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *heapProfile != "" {
		go heapAtHalf(*file, *out, *heapProfile)
	}
	if err := run(*file, *out, *agolpipe, *exporter, *sum, *road); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

type sinkWriter struct{ sink sdk.Sink }

func (w sinkWriter) Write(ctx context.Context, a sdk.Artifact, body io.Reader) error {
	_, err := w.sink.Put(ctx, sdk.PutRequest{Path: "bench/" + a.Name, MediaType: a.MediaType, Size: a.Size, Body: body})
	return err
}

// benchSource lists the one item the benchmark exports; it is in-process
// because a source carries no artifact bytes.
type benchSource struct{ size int64 }

func (s benchSource) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSource, Name: "bench", Version: "1.0.0"}
}
func (s benchSource) Schema() sdk.Schema                                              { return sdk.Schema{} }
func (s benchSource) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics { return nil }
func (s benchSource) Connect(context.Context) (sdk.OrgInfo, error) {
	return sdk.OrgInfo{PortalURL: "https://bench.invalid/portal", OrgID: "bench", OrgName: "Bench", Mode: "online", Username: "bench", ItemCount: 1}, nil
}
func (s benchSource) ListItems(_ context.Context, _ sdk.ListItemsRequest, fn func(sdk.ListedItem) error) error {
	return fn(sdk.ListedItem{Item: sdk.Item{ID: "bench", Title: "1 GiB", Type: "File", Owner: "bench", Size: s.size}})
}
func (s benchSource) Do(context.Context, sdk.PortalRequest) (*sdk.PortalResponse, error) {
	return nil, sdk.NotFound("the benchmark source has no portal")
}
func (s benchSource) Close() error { return nil }

// runEngine exports the one item with core/engine.Run and returns the
// size of the stored artifact as the run's manifest records it.
func runEngine(ctx context.Context, file string, exp sdk.Exporter, sink sdk.Sink, features sdk.SinkFeatures, out string) (int64, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return 0, err
	}
	block := &pipeline.SinkBlock{Component: pipeline.Component{Type: "local", Name: "disk", Config: cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(out)})}, Required: true, Layout: "type"}
	p := &pipeline.Pipeline{
		Filename: "bench.hcl",
		Source:   &pipeline.Component{Type: "bench", Name: "bench"},
		Exports:  []*pipeline.Export{{ItemType: "File", Exporter: &pipeline.Component{Type: "bench-file", Name: "bench-file"}}},
		Sinks:    []*pipeline.SinkBlock{block},
		Run:      pipeline.Run{Prefix: "BENCH", Concurrency: 1, Retries: 0},
	}
	rec, err := engine.Run(ctx, engine.Options{
		Pipeline:  p,
		Source:    benchSource{size: fi.Size()},
		Exporters: map[string]engine.Exporter{"File": {Name: "bench-file", Exporter: exp}},
		Sinks:     []engine.Sink{{Block: block, Sink: sink, Features: features}},
	})
	if err != nil {
		return 0, err
	}
	if rec.ExitCode != 0 || len(rec.Artifacts) != 1 {
		return 0, fmt.Errorf("the run ended with exit code %d and %d artifacts", rec.ExitCode, len(rec.Artifacts))
	}
	return rec.Artifacts[0].Size, nil
}

func run(file, out, agolpipe, exporter, sum, road string) error {
	ctx := context.Background()
	h, err := pluginhost.New(ctx, pluginhost.Options{Executable: agolpipe, BuiltIns: plugins.BuiltIns().Describe(), Plugins: []*pipeline.PluginDecl{{Name: "bench", Path: exporter, SHA256: sum}}})
	if err != nil {
		return err
	}
	defer h.Close()
	sink, err := h.Sink(ctx, "local")
	if err != nil {
		return err
	}
	sresp, d := sink.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(out)})})
	if d.HasErrors() {
		return d.Err()
	}
	if err := sink.Preflight(ctx); err != nil {
		return err
	}
	exp, err := h.Exporter(ctx, "bench-file")
	if err != nil {
		return err
	}
	if d := exp.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"file": cty.StringVal(file)})}); d.HasErrors() {
		return d.Err()
	}
	start := time.Now()
	var size int64
	if road == "engine" {
		if size, err = runEngine(ctx, file, exp, sink, sresp.Features, out); err != nil {
			return err
		}
	} else {
		if _, err := exp.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: "bench", Title: "1 GiB"}}, nil, sinkWriter{sink}); err != nil {
			return err
		}
		st, err := sink.Stat(ctx, "bench/data.bin")
		if err != nil {
			return err
		}
		size = st.Size
	}
	elapsed := time.Since(start)
	fmt.Printf("seconds %.3f\n", elapsed.Seconds())
	fmt.Printf("bytes %d\n", size)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("rss_kib host %d\n", ru.Maxrss)
	fmt.Printf("cpu_s host %.2f\n", time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds())
	for _, pid := range procfs.Children(os.Getpid()) {
		fmt.Printf("rss_kib plugin-%d %d\n", pid, procfs.StatusKiB(pid, "VmHWM"))
		fmt.Printf("cpu_s plugin-%d %.2f\n", pid, procfs.CPUSeconds(pid))
	}
	return nil
}

// heapAtHalf writes the heap profile once the sink's temporary file holds
// half the artifact: the steady state of the stream, not its start or end.
func heapAtHalf(file, out, path string) {
	fi, err := os.Stat(file)
	if err != nil {
		return
	}
	for {
		var written int64
		_ = filepath.WalkDir(out, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil {
					written += info.Size()
				}
			}
			return nil
		})
		if written >= fi.Size()/2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	runtime.GC() // the profile shows the heap as of the last collection
	_ = pprof.Lookup("heap").WriteTo(f, 0)
}
