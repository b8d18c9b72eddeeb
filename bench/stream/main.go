// Command stream is the streaming benchmark's host: it streams one file
// from an exporter plugin (a subprocess) through this host into the
// built-in local sink (a re-executed agolpipe subprocess), the road every
// artifact of a run takes, and prints the elapsed time and the peak RSS of
// the host and of each plugin process. bench/stream/run.sh builds
// everything, compares with cp and prints the ratio.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/zclconf/go-cty/cty"
)

func main() {
	file := flag.String("file", "", "file the exporter streams")
	out := flag.String("out", "", "folder of the local sink")
	agolpipe := flag.String("agolpipe", "", "agolpipe binary serving the local sink")
	exporter := flag.String("exporter", "", "benchmark exporter plugin binary")
	sum := flag.String("sha256", "", "recorded sha256 of the exporter plugin")
	flag.Parse()
	if err := run(*file, *out, *agolpipe, *exporter, *sum); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

type sinkWriter struct{ sink sdk.Sink }

func (w sinkWriter) Write(ctx context.Context, a sdk.Artifact, body io.Reader) error {
	_, err := w.sink.Put(ctx, sdk.PutRequest{Path: "bench/" + a.Name, MediaType: a.MediaType, Size: a.Size, Body: body})
	return err
}

func run(file, out, agolpipe, exporter, sum string) error {
	ctx := context.Background()
	h, err := pluginhost.New(ctx, pluginhost.Options{Executable: agolpipe, Plugins: []*pipeline.PluginDecl{{Name: "bench", Path: exporter, SHA256: sum}}})
	if err != nil {
		return err
	}
	defer h.Close()
	sink, err := h.Sink(ctx, "local")
	if err != nil {
		return err
	}
	if _, d := sink.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(out)})}); d.HasErrors() {
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
	if _, err := exp.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: "bench", Title: "1 GiB"}}, nil, sinkWriter{sink}); err != nil {
		return err
	}
	elapsed := time.Since(start)
	st, err := sink.Stat(ctx, "bench/data.bin")
	if err != nil {
		return err
	}
	fmt.Printf("seconds %.3f\n", elapsed.Seconds())
	fmt.Printf("bytes %d\n", st.Size)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("rss_kib host %d\n", ru.Maxrss)
	fmt.Printf("cpu_s host %.2f\n", time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds())
	for _, pid := range children(os.Getpid()) {
		fmt.Printf("rss_kib plugin-%d %d\n", pid, peakRSS(pid))
		fmt.Printf("cpu_s plugin-%d %.2f\n", pid, cpuSeconds(pid))
	}
	return nil
}

// children lists the processes whose parent is pid (Linux /proc).
func children(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces; fields after its ')' are fixed.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// cpuSeconds is the user+system CPU time of a process so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// utime and stime are fields 14 and 15 of stat, in clock ticks (100/s).
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

// peakRSS is VmHWM, the process's peak resident set, in KiB.
func peakRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}
