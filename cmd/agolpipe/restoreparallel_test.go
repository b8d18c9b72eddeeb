package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/sim"
)

// TestRestoreParallelKeepsDependencyOrder restores a whole org into an
// empty one that answers every request after 40 ms, through the binary,
// with --parallel 4. The simulator's request log shows items restored at
// once (the requests of the restore overlap: their summed service time is
// well above the time they span), yet no item created before every item it
// refers to had finished (its last write), and the progress lines and
// the report in plan order. Before, items went one by one: the requests
// never overlapped.
func TestRestoreParallelKeepsDependencyOrder(t *testing.T) {
	const latency = 40 * time.Millisecond
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Latency: latency})
	mA := readManifest(t, latestRun(t, filepath.Join(dir, "a", "sink"), "A_"))

	b.ResetRequests()
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--all", "--to", bFile, "--yes", "--parallel", "4")
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	reqs := b.Requests()
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))

	// Overlap: the restore's requests, from its first write to the end
	// of its last request.
	var first, last time.Time
	var busy time.Duration
	for _, r := range reqs {
		if r.Write && (first.IsZero() || r.Start.Before(first)) {
			first = r.Start
		}
	}
	for _, r := range reqs {
		if r.Start.Before(first) {
			continue
		}
		busy += r.ServiceTime
		if end := r.Start.Add(r.ServiceTime); end.After(last) {
			last = end
		}
	}
	span := last.Sub(first)
	if first.IsZero() || busy < 2*span {
		t.Errorf("the restore's requests took %s of service time in %s: items were not restored at once (want at least 2x overlap)", busy, span)
	}

	// Order: every restored item was created after the last write to each
	// restored item it needs.
	newID := map[string]string{}
	for _, e := range rep.Items {
		if e.Outcome == restore.Restored {
			newID[e.ID] = e.NewItemID
		}
	}
	lastWrite := map[string]time.Time{} // new id -> end of the last write to it
	for _, r := range reqs {
		if !r.Write {
			continue
		}
		for _, id := range newID {
			if strings.Contains(r.Path, "/"+id) {
				if end := r.Start.Add(r.ServiceTime); end.After(lastWrite[id]) {
					lastWrite[id] = end
				}
			}
		}
	}
	b.Org().Mu.RLock()
	created := map[string]int64{}
	for _, it := range b.Org().Items {
		created[it.ID] = it.Created
	}
	b.Org().Mu.RUnlock()
	services := map[string]bool{"Feature Service": true, "Vector Tile Service": true, "Scene Service": true, "Image Service": true}
	types := map[string]string{}
	for _, it := range mA.Items {
		types[it.ID] = it.Type
	}
	pairs := 0
	for _, it := range mA.Items {
		x, ok := newID[it.ID]
		if !ok {
			continue
		}
		for _, d := range it.Dependencies {
			nd, ok := newID[d]
			if !ok || d == it.ID || (services[it.Type] && services[types[d]]) {
				continue // between services the view needs its source: not this edge
			}
			pairs++
			if w := lastWrite[nd]; created[x] < w.UnixMilli() {
				t.Errorf("%s %s (%s) was created at %d ms, before its dependency %s (%s) was done (last write ended %d ms)",
					it.Type, it.ID, x, created[x], d, nd, w.UnixMilli())
			}
		}
	}
	if pairs == 0 {
		t.Fatal("no restored item with a restored dependency: the test proves no order")
	}

	// Progress and report in plan order.
	var seen []int
	for _, m := range regexp.MustCompile(`(?m)^\[(\d+)/\d+\] `).FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		seen = append(seen, n)
	}
	if len(seen) == 0 || !sort.IntsAreSorted(seen) {
		t.Errorf("progress lines out of plan order: %v\n%s", seen, out)
	}
	plan := regexp.MustCompile(`(?m)^  [+~=!] \S+\s+(\w+) `).FindAllStringSubmatch(out, -1)
	if len(plan) != len(rep.Items) {
		t.Fatalf("plan has %d lines, report %d items", len(plan), len(rep.Items))
	}
	for i, m := range plan {
		if rep.Items[i].ID != m[1] {
			t.Fatalf("report item %d is %s, the plan's is %s: the report is not in plan order", i, rep.Items[i].ID, m[1])
		}
	}
	t.Logf("%d items, %d dependency pairs, %d requests: %s of service time in %s", len(rep.Items), pairs, len(reqs), busy, span)
}
