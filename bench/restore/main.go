// Command restore benchmarks `agolpipe restore --all --to` of a whole
// simulated organization, backed up to a local sink, into an empty
// simulated organization that answers every request after -latency: the
// wall time against the lower bound the target's request log allows, and
// the peak memory of the agolpipe process tree, at several org sizes. See
// README.md for the method and the numbers; run.sh drives it.
//
//	restore -agolpipe ./agolpipe -items 100,500 -latency 50ms -parallel 4
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/bench/internal/procfs"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sim"
)

func main() {
	exe := flag.String("agolpipe", "agolpipe", "the agolpipe binary to run")
	sizes := flag.String("items", "100,500", "comma-separated sizes of the backed-up organization")
	seed := flag.Uint64("seed", 7, "seed of the simulated organization")
	latency := flag.Duration("latency", 50*time.Millisecond, "latency the target simulator adds to every request")
	parallel := flag.Int("parallel", 4, "restore --parallel")
	largeFile := flag.Int64("large-file-size", 1<<20, "size of the simulator's large files (small: the benchmark is about requests, not disk)")
	flag.StringVar(&perfOut, "perf", "", "record the restore (host and plugin processes) with `perf record -g` into this file prefix (<prefix>-<items>.data)")
	dir := flag.String("dir", "", "work folder (default: a temporary folder, removed at the end)")
	flag.Parse()
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "agolpipe-bench-restore-"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(work)
	}
	fmt.Printf("%d cores, load %.1f\n", runtime.NumCPU(), procfs.LoadAvg())
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			fail(fmt.Errorf("-items %q: %w", s, err))
		}
		one(*exe, filepath.Join(work, s), n, *seed, *latency, *parallel, *largeFile)
	}
}

// perfOut, when set, is where the restore's `perf record` goes.
var perfOut string

func fail(err error) {
	fmt.Fprintln(os.Stderr, "restore bench:", err)
	os.Exit(1)
}

// one backs up an org of n items (no latency: not what is measured) and
// restores all of it into an empty org with latency.
func one(exe, work string, n int, seed uint64, latency time.Duration, parallel int, largeFile int64) {
	a, err := sim.Start(sim.Options{Items: n, Seed: seed, LargeFileSize: largeFile})
	if err != nil {
		fail(err)
	}
	defer a.Close()
	b, err := sim.Start(sim.Options{Items: n, Seed: seed + 1, Empty: true, Latency: latency, LargeFileSize: largeFile})
	if err != nil {
		fail(err)
	}
	defer b.Close()
	aFile := pipeline(a, work, "a", "SIM_PASSWORD_A")
	bFile := pipeline(b, work, "b", "SIM_PASSWORD_B")
	if m := runAgolpipe(exe, "run", aFile, "--plain"); m.code > 1 {
		fail(fmt.Errorf("backup of %d items: exit %d", n, m.code))
	}
	b.ResetRequests()
	args := []string{"restore", aFile, "--run", "latest", "--all", "--to", bFile, "--yes", "--parallel", strconv.Itoa(parallel)}
	if perfOut != "" {
		// perf follows the host's plugin processes (inherit); the roles
		// printed below name their pids.
		args = append([]string{"record", "-g", "-F", "499", "-o", fmt.Sprintf("%s-%d.data", perfOut, n), "--", exe}, args...)
		exe = "perf"
	}
	m := runAgolpipe(exe, args...)
	rep := restoreReport(filepath.Join(work, "a", "sink"))
	counts := map[string]int{}
	for _, it := range rep.Items {
		counts[it.Outcome]++
	}
	man := manifest(filepath.Join(work, "a", "sink"))
	lb := lowerBound(b.Requests(), rep, man, parallel, latency)
	fmt.Printf("%d items (restore exit %d, %v), latency %s, --parallel %d\n", n, m.code, counts, latency, parallel)
	fmt.Printf("  requests %d: service time %s (planning %s before the first write), critical path %s (%d items)\n",
		lb.requests, lb.service.Round(time.Millisecond), lb.plan.Round(time.Millisecond), lb.path.Round(time.Millisecond), lb.pathItems)
	fmt.Printf("  before the first request %s; applying: %s for %s of service time (%.2f requests in flight on average, of %d)\n",
		lb.first.Sub(m.start).Round(time.Millisecond), lb.applySpan.Round(time.Millisecond), lb.applyService.Round(time.Millisecond),
		float64(lb.applyService)/float64(lb.applySpan), parallel)
	fmt.Printf("  lower bound %s, wall %s: %.3fx the bound; peak RSS of the process tree %.1f MiB (host %.1f), CPU %s, load %.1f\n",
		lb.bound.Round(time.Millisecond), m.wall.Round(time.Millisecond), float64(m.wall)/float64(lb.bound),
		float64(m.peakRSS)/(1<<20), float64(m.peakBy["host"])/(1<<20), m.cpu.Round(time.Millisecond), procfs.LoadAvg())
	var roles []string
	for r, v := range m.peakBy {
		roles = append(roles, fmt.Sprintf("%s %.0f", r, float64(v)/(1<<20)))
	}
	sort.Strings(roles)
	fmt.Printf("  peak RSS per process (MiB): %s\n", strings.Join(roles, ", "))
	restored := max(1, counts["restored"])
	roles = roles[:0]
	var total float64
	for r, v := range m.cpuBy {
		total += v
		roles = append(roles, fmt.Sprintf("%s %.2f", r, v))
	}
	sort.Strings(roles)
	fmt.Printf("  CPU seconds of the process tree (last sample) %.2f, %.1f ms per restored item: %s\n", total, 1000*total/float64(restored), strings.Join(roles, ", "))
	if perfOut != "" {
		fmt.Printf("  pids: %v\n", m.pids)
	}
}

// pipeline writes the pipeline of one org: its admin, a local sink.
func pipeline(srv *sim.Server, work, name, env string) string {
	var user string
	for _, u := range srv.Users() {
		if u.Kind == "admin" {
			user = u.Username
			os.Setenv(env, u.Password)
		}
	}
	d := filepath.Join(work, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		fail(err)
	}
	file := filepath.Join(d, name+".hcl")
	hcl := fmt.Sprintf(`
source "arcgis" "sim" {
  url = %q
  auth {
    username = %q
    password = env(%q)
  }
}
sink "local" "disk" { path = %q }
run {
  prefix      = "BENCH"
  concurrency = 8
}
`, srv.PortalURL(), user, env, filepath.Join(d, "sink"))
	if err := os.WriteFile(file, []byte(hcl), 0o644); err != nil {
		fail(err)
	}
	return file
}

// bound is the lower bound of a restore's wall time from the target's
// request log. Planning asks the target before the first write; applying
// runs at most `parallel` items at once, and an item only after the items
// it needs. So no restore making these requests can take less than
//
//	max(service / parallel, plan + critical path)
//
// where service is the summed service time of every request (the added
// latency included), plan the span of the requests before the first write
// (the plan is shown before anything is applied), and the critical
// path the longest chain of items, each needing the one before (the
// manifest's dependencies), each item counted at the service time of its
// writes that name its new id plus one request (its creation, whose path
// holds no id yet). It credits the restore with perfect packing and no
// time of its own (no CPU, no disk, no gaps), so only fewer requests beat it.
type bound struct {
	requests      int
	service, plan time.Duration
	// applySpan is from the first write to the end of the last request,
	// applyService the service time of the requests in it.
	applySpan, applyService time.Duration
	first                   time.Time
	path                    time.Duration
	pathItems               int
	bound                   time.Duration
}

func lowerBound(reqs []sim.Request, rep *restoreJSON, man *report.Run, parallel int, latency time.Duration) bound {
	lb := bound{requests: len(reqs)}
	var first time.Time
	for _, r := range reqs {
		lb.service += r.ServiceTime
		if r.Write && (first.IsZero() || r.Start.Before(first)) {
			first = r.Start
		}
	}
	var start time.Time
	for _, r := range reqs {
		if start.IsZero() || r.Start.Before(start) {
			start = r.Start
		}
	}
	lb.plan, lb.first = first.Sub(start), start
	var last time.Time
	for _, r := range reqs {
		if r.Start.Before(first) {
			continue
		}
		lb.applyService += r.ServiceTime
		if e := r.Start.Add(r.ServiceTime); e.After(last) {
			last = e
		}
	}
	lb.applySpan = last.Sub(first)
	// Each restored item's own time.
	newID := map[string]string{}
	for _, it := range rep.Items {
		if it.NewItemID != "" {
			newID[it.ID] = it.NewItemID
		}
	}
	own := map[string]time.Duration{}
	for old := range newID {
		own[old] = latency // its creation
	}
	for _, r := range reqs {
		if !r.Write {
			continue
		}
		for old, id := range newID {
			if strings.Contains(r.Path, "/"+id) {
				own[old] += r.ServiceTime
			}
		}
	}
	// Longest chain over the needs edges (as core/restore's needsGraph:
	// between services the view needs its source).
	services := map[string]bool{"Feature Service": true, "Vector Tile Service": true, "Scene Service": true, "Image Service": true}
	byID := map[string]report.Item{}
	for _, it := range man.Items {
		byID[it.ID] = it
	}
	needs := map[string][]string{}
	for id, it := range byID {
		for _, d := range it.Dependencies {
			dep, ok := byID[d]
			if !ok || d == id {
				continue
			}
			if services[it.Type] && services[dep.Type] {
				needs[d] = append(needs[d], id)
			} else {
				needs[id] = append(needs[id], d)
			}
		}
	}
	type chain struct {
		t time.Duration
		n int
	}
	memo := map[string]chain{}
	visiting := map[string]bool{}
	var longest func(id string) chain
	longest = func(id string) chain {
		if c, ok := memo[id]; ok {
			return c
		}
		if visiting[id] {
			return chain{}
		}
		visiting[id] = true
		var best chain
		for _, d := range needs[id] {
			if _, ok := newID[d]; ok {
				if c := longest(d); c.t > best.t {
					best = c
				}
			}
		}
		visiting[id] = false
		c := chain{best.t + own[id], best.n + 1}
		memo[id] = c
		return c
	}
	for id := range newID {
		if c := longest(id); c.t > lb.path {
			lb.path, lb.pathItems = c.t, c.n
		}
	}
	lb.bound = max(lb.service/time.Duration(parallel), lb.plan+lb.path)
	return lb
}

type restoreJSON struct {
	Items []struct {
		ID        string `json:"id"`
		Outcome   string `json:"outcome"`
		NewItemID string `json:"new_item_id"`
	} `json:"items"`
}

func restoreReport(sink string) *restoreJSON {
	files, _ := filepath.Glob(filepath.Join(sink, "restores", "*", "restore.json"))
	sort.Strings(files)
	if len(files) == 0 {
		fail(fmt.Errorf("no restore.json under %s/restores", sink))
	}
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		fail(err)
	}
	var r restoreJSON
	if err := json.Unmarshal(b, &r); err != nil {
		fail(err)
	}
	return &r
}

func manifest(sink string) *report.Run {
	runs, _ := filepath.Glob(filepath.Join(sink, "BENCH_*"))
	sort.Strings(runs)
	if len(runs) == 0 {
		fail(fmt.Errorf("no run folder in %s", sink))
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

// measured is one agolpipe invocation.
type measured struct {
	start   time.Time
	wall    time.Duration
	peakRSS int64            // bytes, the whole process tree
	peakBy  map[string]int64 // by process role ("host", "exporter item_json", ...)
	code    int
	cpu     time.Duration // user+system of agolpipe and its plugins
	// cpuBy is each role's CPU seconds at its last sample (a process's
	// last 50 ms before it exits are missed), pids each pid's role.
	cpuBy map[string]float64
	pids  map[int]string
}

// runAgolpipe runs agolpipe with args, sampling the resident memory of its
// process tree (host and plugin subprocesses) every 50 ms.
func runAgolpipe(exe string, args ...string) measured {
	cmd := exec.Command(exe, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	var mu sync.Mutex
	var peak int64
	peakBy := map[string]int64{}
	cpuLast := map[int]float64{}
	pids := map[int]string{}
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
				cpu, roles := procfs.TreeCPU(cmd.Process.Pid)
				mu.Lock()
				for pid, c := range cpu {
					cpuLast[pid] = max(cpuLast[pid], c)
					pids[pid] = roles[pid]
				}
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
		if code != 1 { // 1: some item failed, reported by the caller
			os.Stderr.Write(out.Bytes())
			fail(fmt.Errorf("%s %s: %v", exe, strings.Join(args, " "), err))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	cpuBy := map[string]float64{}
	for pid, c := range cpuLast {
		cpuBy[pids[pid]] += c
	}
	return measured{start: start, wall: wall, peakRSS: peak, peakBy: peakBy, code: code, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), cpuBy: cpuBy, pids: pids}
}
