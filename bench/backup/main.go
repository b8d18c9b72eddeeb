// Command backup benchmarks whole-organization backups against the
// simulator (issue 4): a full run's wall time against the lower bound the
// simulator's request log allows, an incremental rerun after 20 changes,
// and deep scans of large organizations with the peak memory of the whole
// agolpipe process tree. See README.md for the numbers and how to
// reproduce them; run.sh drives it.
//
//	backup -agolpipe ./agolpipe -scenario full -items 2000 -latency 50ms -export-time 2s -concurrency 16
//	backup -agolpipe ./agolpipe -scenario scan -items 100000
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/agolpipe/agolpipe/bench/backup/changes"
	"github.com/agolpipe/agolpipe/bench/internal/procfs"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
)

func main() {
	exe := flag.String("agolpipe", "agolpipe", "the agolpipe binary to run")
	scenario := flag.String("scenario", "full", "full (full run, then an incremental rerun after 20 changes) or scan (deep listing only)")
	items := flag.Int("items", 2000, "items in the simulated organization")
	seed := flag.Uint64("seed", 7, "seed of the simulated organization")
	latency := flag.Duration("latency", 50*time.Millisecond, "latency the simulator adds to every request")
	exportTime := flag.Duration("export-time", 2*time.Second, "duration of every export job")
	concurrency := flag.Int("concurrency", 16, "items exported at a time (run block)")
	changes := flag.Int("changes", 20, "items changed before the incremental rerun")
	largeFile := flag.Int64("large-file-size", 1<<20, "size of the simulator's large files (small: the benchmark is about requests, not disk)")
	reqLog := flag.String("requests", "", "write the full run's request log here as CSV (start, endpoint, path, status, service time), for looking at gaps")
	dir := flag.String("dir", "", "work folder (default: a temporary folder, removed at the end)")
	flag.Parse()

	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "agolpipe-bench-backup-"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(work)
	}
	opt := sim.Options{Items: *items, Seed: *seed, Latency: *latency, ExportTime: *exportTime, LargeFileSize: *largeFile}
	start := time.Now()
	srv, err := sim.Start(opt)
	if err != nil {
		fail(err)
	}
	defer srv.Close()
	fmt.Printf("simulated org: %d items, latency %s, export jobs %s (ready in %s)\n", *items, *latency, *exportTime, time.Since(start).Round(time.Millisecond))

	switch *scenario {
	case "full":
		full(*exe, srv, work, opt, *concurrency, *changes, *reqLog)
	case "scan":
		scan(*exe, srv, work, *concurrency)
	default:
		fail(fmt.Errorf("-scenario %q: want full or scan", *scenario))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "backup:", err)
	os.Exit(1)
}

// pipeline writes the benchmark's pipeline: the org admin, one local sink,
// every item type with its default exporter.
func pipeline(srv *sim.Server, work, sourceExtra, runExtra string, concurrency int) string {
	var user string
	for _, u := range srv.Users() {
		if u.Kind == "admin" {
			user = u.Username
			os.Setenv("SIM_PASSWORD", u.Password)
		}
	}
	file := filepath.Join(work, "p.hcl")
	hcl := fmt.Sprintf(`
source "arcgis" "sim" {
  url = %q
  auth {
    username = %q
    password = env("SIM_PASSWORD")
  }
  %s
}
sink "local" "disk" { path = %q }
run {
  prefix      = "BENCH"
  concurrency = %d
  %s
}
`, srv.PortalURL(), user, sourceExtra, filepath.Join(work, "sink"), concurrency, runExtra)
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		fail(err)
	}
	return file
}

// measured is one agolpipe invocation.
type measured struct {
	wall    time.Duration
	peakRSS int64 // bytes, the whole process tree
	// peakBy is the peak RSS of each process, by its role ("host",
	// "exporter feature_service", ...).
	peakBy map[string]int64
	code   int
	// cpu is the user+system time of agolpipe and its plugins.
	cpu time.Duration
}

func (m measured) printPeaks() {
	var roles []string
	for r := range m.peakBy {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	var parts []string
	for _, r := range roles {
		parts = append(parts, fmt.Sprintf("%s %.0f", r, float64(m.peakBy[r])/(1<<20)))
	}
	fmt.Printf("  peak RSS per process (MiB): %s\n", strings.Join(parts, ", "))
}

// runAgolpipe runs agolpipe with args, sampling the resident memory of its
// process tree (host and plugin subprocesses) every 50 ms.
func runAgolpipe(exe string, out io.Writer, args ...string) measured {
	cmd := exec.Command(exe, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	var peak int64
	peakBy := map[string]int64{}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				r, by := procfs.TreeRSS(cmd.Process.Pid)
				mu.Lock()
				peak = max(peak, r)
				for k, v := range by {
					peakBy[k] = max(peakBy[k], v)
				}
				mu.Unlock()
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(done)
	code := 0
	if err != nil {
		code = cmd.ProcessState.ExitCode()
		if code != 1 { // 1 is a partial run, reported below
			os.Stderr.Write(stderr.Bytes())
			fail(fmt.Errorf("%s %s: %v", exe, strings.Join(args, " "), err))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return measured{wall: wall, peakRSS: peak, peakBy: peakBy, code: code, cpu: cpu}
}

// selfCPU is the CPU time of this process (the simulator) so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// lowerBound is the shortest wall time any client could achieve for the
// requests a run made, given the allowed concurrency:
//
//	work  = Σ service time of every logged request (the simulator's added
//	        latency included, as it is part of the service time)
//	      + Σ over export jobs that were started successfully of the job's
//	        duration (an item waits for its job while holding its slot)
//	bound = work / concurrency
//
// It credits the run with perfect packing and no client-side time at all
// (no CPU, no disk, no gaps between polls), so it can only be beaten by
// making fewer requests.
type lowerBound struct {
	requests   int
	service    time.Duration
	jobs       int
	jobTime    time.Duration
	bound      time.Duration
	byEndpoint map[string]int
	faults     int
}

func computeLowerBound(reqs []sim.Request, exportTime time.Duration, concurrency int) lowerBound {
	lb := lowerBound{requests: len(reqs), byEndpoint: map[string]int{}}
	for _, r := range reqs {
		lb.service += r.ServiceTime
		ep := r.Endpoint
		if ep == "" || ep == "unknown" {
			ep = lastSegment(r.Path)
		}
		lb.byEndpoint[ep]++
		if r.Fault != "" {
			lb.faults++
		}
		if isJobStart(r) {
			lb.jobs++
		}
	}
	lb.jobTime = time.Duration(lb.jobs) * exportTime
	lb.bound = (lb.service + lb.jobTime) / time.Duration(concurrency)
	return lb
}

// isJobStart reports a request that started an export, exportTiles or
// createReplica job (each takes the simulator's ExportTime).
func isJobStart(r sim.Request) bool {
	if r.Status != 200 || r.ErrorCode != 0 || r.Fault != "" {
		return false
	}
	switch lastSegment(r.Path) {
	case "export", "exportTiles", "createReplica":
		return true
	}
	return false
}

func lastSegment(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

func (lb lowerBound) print(wall time.Duration) {
	fmt.Printf("  requests %d (%d with injected faults), service time %s, export jobs %d x = %s\n",
		lb.requests, lb.faults, lb.service.Round(time.Millisecond), lb.jobs, lb.jobTime.Round(time.Millisecond))
	fmt.Printf("  lower bound %s, wall %s: %.3fx the bound\n", lb.bound.Round(time.Millisecond), wall.Round(time.Millisecond), float64(wall)/float64(lb.bound))
	type kv struct {
		k string
		v int
	}
	var eps []kv
	for k, v := range lb.byEndpoint {
		eps = append(eps, kv{k, v})
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].v > eps[j].v })
	var parts []string
	for _, e := range eps {
		parts = append(parts, fmt.Sprintf("%s %d", e.k, e.v))
	}
	fmt.Printf("  requests by endpoint: %s\n", strings.Join(parts, ", "))
}

func manifest(work string) *report.Run {
	runs, _ := filepath.Glob(filepath.Join(work, "sink", "BENCH_*"))
	sort.Strings(runs)
	if len(runs) == 0 {
		fail(fmt.Errorf("no run folder in %s", work))
	}
	f, err := os.Open(filepath.Join(runs[len(runs)-1], report.ManifestFile))
	if err != nil {
		fail(err)
	}
	defer f.Close()
	m, err := report.ReadManifest(f)
	if err != nil {
		fail(err)
	}
	return m
}

func full(exe string, srv *sim.Server, work string, opt sim.Options, concurrency, nChanges int, reqLog string) {
	file := pipeline(srv, work, "", "", concurrency)
	srv.ResetRequests()
	m := runAgolpipe(exe, os.Stdout, "run", file, "--plain", "--log-format", "json")
	rep := manifest(work)
	fmt.Printf("full run: exit %d, %s, %+v\n", m.code, rep.Status, rep.Counts)
	fmt.Printf("  peak RSS of the process tree %.1f MiB\n", float64(m.peakRSS)/(1<<20))
	m.printPeaks()
	fmt.Printf("  CPU: agolpipe and plugins %s, simulator %s (%d cores)\n", m.cpu.Round(time.Millisecond), selfCPU().Round(time.Millisecond), runtime.NumCPU())
	reqs := srv.Requests()
	lb := computeLowerBound(reqs, opt.ExportTime, concurrency)
	lb.print(m.wall)
	utilization(reqs, opt.ExportTime, concurrency)
	if reqLog != "" {
		writeRequests(reqLog, reqs)
	}
	perItem(rep)

	// Incremental: change items, rerun with modified_within.
	changed := changes.Make(srv, rep, nChanges)
	time.Sleep(1100 * time.Millisecond) // a new run folder name
	file = pipeline(srv, work, "", `modified_within = "1d"`, concurrency)
	srv.ResetRequests()
	m = runAgolpipe(exe, os.Stdout, "run", file, "--plain", "--log-format", "json")
	inc := manifest(work)
	exported, wrong := 0, 0
	for _, it := range inc.Items {
		if it.Status == "exported" || it.Status == "partial" {
			exported++
			if !changed[it.ID] {
				wrong++
			}
		}
	}
	fmt.Printf("incremental run (modified_within = \"1d\") after changing %d items: exit %d, %d exported (%d not changed), %d excluded as unchanged, wall %s, %d requests\n",
		len(changed), m.code, exported, wrong, inc.Counts.Excluded, m.wall.Round(time.Millisecond), len(srv.Requests()))
}

// utilization prints, for each tenth of the run, how many of the allowed
// slots were busy with a request or an export job on average: where the
// run falls short of the bound.
func utilization(reqs []sim.Request, exportTime time.Duration, concurrency int) {
	if len(reqs) == 0 {
		return
	}
	first, last := reqs[0].Start, reqs[0].Start
	for _, r := range reqs {
		if r.Start.Before(first) {
			first = r.Start
		}
		end := r.Start.Add(r.ServiceTime)
		if isJobStart(r) {
			end = end.Add(exportTime)
		}
		if end.After(last) {
			last = end
		}
	}
	const buckets = 20
	span := last.Sub(first)
	busy := make([]time.Duration, buckets)
	add := func(a, b time.Time) {
		for i := 0; i < buckets; i++ {
			lo := first.Add(span * time.Duration(i) / buckets)
			hi := first.Add(span * time.Duration(i+1) / buckets)
			s, e := maxTime(a, lo), minTime(b, hi)
			if e.After(s) {
				busy[i] += e.Sub(s)
			}
		}
	}
	for _, r := range reqs {
		end := r.Start.Add(r.ServiceTime)
		add(r.Start, end)
		if isJobStart(r) {
			add(end, end.Add(exportTime))
		}
	}
	fmt.Printf("  busy slots (of %d) per twentieth of the %s between first request and last job end:\n   ", concurrency, span.Round(time.Millisecond))
	for _, b := range busy {
		fmt.Printf(" %.1f", float64(b)/float64(span/buckets))
	}
	fmt.Println()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func writeRequests(file string, reqs []sim.Request) {
	var b bytes.Buffer
	b.WriteString("start_unix_ms,endpoint,method,path,status,error_code,fault,bytes,service_ms\n")
	for _, r := range reqs {
		fmt.Fprintf(&b, "%.3f,%s,%s,%s,%d,%d,%s,%d,%.3f\n", float64(r.Start.UnixMicro())/1000, r.Endpoint, r.Method, r.Path,
			r.Status, r.ErrorCode, r.Fault, r.Bytes, float64(r.ServiceTime.Microseconds())/1000)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		fail(err)
	}
}

// perItem prints how the items' own durations spread, to see the serial
// steps of the slowest ones.
func perItem(rep *report.Run) {
	byType := map[string][]time.Duration{}
	for _, it := range rep.Items {
		if it.Duration > 0 {
			byType[it.Type] = append(byType[it.Type], it.Duration)
		}
	}
	var types []string
	for t := range byType {
		types = append(types, t)
	}
	sort.Strings(types)
	fmt.Println("  item durations by type (count, median, max):")
	for _, t := range types {
		d := byType[t]
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		fmt.Printf("    %-28s %5d %8s %8s\n", t, len(d), d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
}

// scan lists a large organization deeply without exporting: every item
// type is skipped, so the run is the scan plus the reports.
func scan(exe string, srv *sim.Server, work string, concurrency int) {
	file := pipeline(srv, work, `scan = "deep"`, "", concurrency)
	srv.ResetRequests()
	m := runAgolpipe(exe, io.Discard, "plan", file)
	reqs := srv.Requests()
	var service time.Duration
	for _, r := range reqs {
		service += r.ServiceTime
	}
	fmt.Printf("deep scan (agolpipe plan): wall %s, peak RSS of the process tree %.1f MiB, %d requests (service time %s)\n",
		m.wall.Round(time.Millisecond), float64(m.peakRSS)/(1<<20), len(reqs), service.Round(time.Millisecond))
	m.printPeaks()
}
