// Command verify benchmarks `agolpipe verify` of a 1 GiB run in a local sink
// against sha256sum of the same files (the target: at least 0.8x
// sha256sum's throughput). It writes a synthetic run (a manifest.json with
// every artifact's size and sha256, as the engine writes it) of the given
// size in a mix of artifact sizes like a real organization's (a few large
// exports, many small JSON documents), then alternates, RUNS times:
// sha256sum over every artifact file (one process, the files as
// arguments, as a person would check them), and `agolpipe verify` of the
// run through the local sink's plugin (a real subprocess). The page cache
// is warm for both (each reads the same files just read). It prints each
// run, the medians, their ratio, and the peak RSS of verify's process tree.
//
//	go build -o /tmp/agolpipe ./cmd/agolpipe
//	go run ./bench/verify -agolpipe /tmp/agolpipe -runs 5
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/bench/internal/procfs"
	"github.com/agolpipe/agolpipe/core/report"
)

func main() {
	bin := flag.String("agolpipe", "", "the agolpipe binary (required)")
	dir := flag.String("dir", "", "work folder (default: a new temporary folder, removed after)")
	size := flag.Int64("mib", 1024, "run size in MiB")
	runs := flag.Int("runs", 3, "timed runs of each")
	parallel := flag.Int("parallel", 4, "verify --parallel")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "-agolpipe is required")
		os.Exit(2)
	}
	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "agolpipe-bench-verify-")
		check(err)
		defer os.RemoveAll(d)
		work = d
	}
	const folder = "BENCH_2026-01-01_00-00-00"
	sink := filepath.Join(work, "sink")
	files := writeRun(filepath.Join(sink, folder), folder, *size<<20)
	pipe := filepath.Join(work, "p.hcl")
	check(os.WriteFile(pipe, []byte(fmt.Sprintf(`
source "arcgis" "bench" { url = "https://bench.example.invalid/portal" }
sink "local" "disk" { path = %q }
run { prefix = "BENCH" }
`, sink)), 0o644))
	fmt.Printf("run: %d artifacts, %d MiB, in %s (load %.2f)\n", len(files), *size, sink, procfs.LoadAvg())

	// Warm the page cache and check that both succeed.
	shaTime(files)
	if _, _, _, err := verifyTime(*bin, pipe, folder, *parallel); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var sha, ver, shaCPU, verCPU []float64
	var peak int64
	for i := 0; i < *runs; i++ {
		s, sc := shaTime(files)
		v, vc, rss, err := verifyTime(*bin, pipe, folder, *parallel)
		check(err)
		sha, ver, shaCPU, verCPU = append(sha, s), append(ver, v), append(shaCPU, sc), append(verCPU, vc)
		peak = max(peak, rss)
		fmt.Printf("run %d: sha256sum %.2f s (%.2f CPU-s), verify %.2f s (%.2f CPU-s): %.2fx; verify peak RSS %d MiB; load %.2f\n",
			i+1, s, sc, v, vc, s/v, rss>>10, procfs.LoadAvg())
	}
	ms, mv := median(sha), median(ver)
	fmt.Printf("median: sha256sum %.2f s (%.0f MiB/s, %.2f CPU-s), verify %.2f s (%.0f MiB/s, %.2f CPU-s): verify at %.2fx sha256sum's throughput; peak RSS %d MiB\n",
		ms, float64(*size)/ms, median(shaCPU), mv, float64(*size)/mv, median(verCPU), ms/mv, peak>>10)
}

// writeRun writes a run of total bytes into runDir with its manifest.json:
// half of it in 4 large exports, the rest in 1 MiB files and 2-62 KiB
// documents (three of those for one in 1 MiB files). It returns the
// artifact files.
func writeRun(runDir, folder string, total int64) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	var sizes []int64
	big := total / 8
	for range 4 {
		sizes = append(sizes, big) // half the run in 4 large exports
	}
	rest := total - 4*big
	for rest > 0 {
		s := int64(1 << 20)
		if rng.IntN(4) > 0 {
			s = int64(2<<10 + rng.IntN(60<<10)) // item.json, data.json...
		}
		s = min(s, rest)
		sizes = append(sizes, s)
		rest -= s
	}
	m := &report.Run{SchemaVersion: report.SchemaVersion, AgolpipeVersion: "bench", RunID: folder + "-bench", RunFolder: folder,
		PipelineID: "BENCH arcgis https://bench.example.invalid/portal", Sink: "disk", Started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Finished: time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC), Status: report.StatusSuccess, Items: []report.Item{},
		Sinks: []report.Sink{{Name: "disk", Type: "local", Outcome: "ok", Reports: true}}}
	buf := make([]byte, 1<<20)
	var files []string
	for i, s := range sizes {
		id := fmt.Sprintf("%032x", i/3)
		name := fmt.Sprintf("item_%s_%d.bin", id, i)
		p := "Feature Service/" + name
		f := filepath.Join(runDir, filepath.FromSlash(p))
		check(os.MkdirAll(filepath.Dir(f), 0o755))
		out, err := os.Create(f)
		check(err)
		h := sha256.New()
		for left := s; left > 0; {
			n := min(left, int64(len(buf)))
			for k := 0; k < int(n); k += 8 {
				v := rng.Uint64()
				for b := 0; b < 8 && k+b < int(n); b++ {
					buf[k+b] = byte(v >> (8 * b))
				}
			}
			_, err := out.Write(buf[:n])
			check(err)
			h.Write(buf[:n])
			left -= n
		}
		check(out.Close())
		files = append(files, f)
		if i%3 == 0 {
			m.Items = append(m.Items, report.Item{ID: id, Title: "Item " + id[:6], Type: "Feature Service", Status: "exported"})
		}
		m.Artifacts = append(m.Artifacts, report.Artifact{Path: p, Name: name, ItemID: id, ItemType: "Feature Service", Exporter: "bench",
			Size: s, SHA256: hex.EncodeToString(h.Sum(nil)), Sinks: []report.SinkOutcome{{Sink: "disk", Path: p, Status: report.Stored}}})
		m.Counts.Artifacts++
		m.Counts.Bytes += s
	}
	m.Counts.Discovered, m.Counts.Exported = len(m.Items), len(m.Items)
	var mb bytes.Buffer
	check(report.WriteManifest(&mb, m))
	check(os.WriteFile(filepath.Join(runDir, report.ManifestFile), mb.Bytes(), 0o644))
	return files
}

// shaTime runs sha256sum over files and returns its wall time and CPU
// seconds.
func shaTime(files []string) (float64, float64) {
	start := time.Now()
	cmd := exec.Command("sha256sum", files...)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	check(cmd.Run())
	return time.Since(start).Seconds(), cpu(cmd.ProcessState)
}

// cpu is the user and system time of a process and of the children it
// waited for (wait4 counts them: the plugin subprocesses of agolpipe).
func cpu(ps *os.ProcessState) float64 {
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

// verifyTime runs agolpipe verify and returns its wall time, CPU seconds
// (plugins included) and the peak RSS (KiB) of its process tree, sampled
// every 20 ms.
func verifyTime(bin, pipe, folder string, parallel int) (float64, float64, int64, error) {
	var out bytes.Buffer
	cmd := exec.Command(bin, "verify", pipe, "--run", folder, "--parallel", fmt.Sprint(parallel))
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			el := time.Since(start).Seconds()
			if err != nil {
				return 0, 0, 0, fmt.Errorf("agolpipe verify: %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "OK: ") {
				return 0, 0, 0, fmt.Errorf("agolpipe verify did not say OK:\n%s", out.String())
			}
			return el, cpu(cmd.ProcessState), peak, nil
		case <-tick.C:
			var rss int64
			for _, pid := range append([]int{cmd.Process.Pid}, procfs.Children(cmd.Process.Pid)...) {
				rss += procfs.StatusKiB(pid, "VmRSS")
			}
			peak = max(peak, rss)
		}
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
