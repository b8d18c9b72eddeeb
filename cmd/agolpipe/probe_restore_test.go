package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
)

// Adversarial probes of restore on the user's road: the binary, its
// plugin processes, a simulated target that misbehaves at exact requests
// (sim.Fault), and the real sinks.

// copiesInTarget counts, per backup item id, the items of b that a restore
// created from it (its source mark), temporary uploads aside.
func copiesInTarget(b *sim.Server) map[string]int {
	n := map[string]int{}
	o := b.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	for _, it := range o.Items {
		if src, ok := sdk.SourceOf(it.TypeKeywords); ok {
			n[src]++
		}
	}
	return n
}

// scriptedFaults lists the scripted faults b answered, as "endpoint=kind".
func scriptedFaults(b *sim.Server) []string {
	var out []string
	for _, r := range b.Requests() {
		if strings.HasPrefix(r.Fault, "script:") {
			out = append(out, r.Endpoint+"="+strings.TrimPrefix(r.Fault, "script:"))
		}
	}
	sort.Strings(out)
	return out
}

// checkRestoredOnce fails t unless every item of rep was restored and b
// holds exactly one copy of each.
func checkRestoredOnce(t *testing.T, b *sim.Server, rep *restore.Report, out string) {
	t.Helper()
	copies := copiesInTarget(b)
	for _, e := range rep.Items {
		if e.Outcome != restore.Restored {
			t.Errorf("item %s (%s %q): %s %s %s", e.ID, e.Type, e.Title, e.Outcome, e.Reason, e.Error)
		}
		if copies[e.ID] != 1 {
			t.Errorf("item %s (%s %q): %d copies in the target, want 1", e.ID, e.Type, e.Title, copies[e.ID])
		}
	}
	if t.Failed() {
		t.Logf("the restore said:\n%s", out)
	}
}

// TestProbeRestoreThrottledWrites: ArcGIS Online answers writes over its
// rate with HTTP 429, with HTTP 200 and a JSON error code 429, or (write
// bursts) with an HTML 403. None of them did anything, so the write is
// sent again after a pause, and the restore completes with one copy of
// each item.
func TestProbeRestoreThrottledWrites(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	faults := []sim.Fault{
		{Endpoint: "addItem", Nth: 2, Kind: sim.Fault429},
		{Endpoint: "update", Nth: 3, Kind: sim.Fault429Body},
		{Endpoint: "createFolder", Nth: 1, Kind: sim.Fault403HTML},
		{Endpoint: "share", Nth: 1, Kind: sim.Fault429Body},
	}
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Faults: faults})
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--type", "Web Map", "--type", "PDF", "--no-dependencies", "--to", bFile, "--yes")
	if code != exitOK {
		t.Errorf("restore with throttled writes: exit %d, want %d", code, exitOK)
	}
	if got := scriptedFaults(b); len(got) != len(faults) {
		t.Errorf("the target answered %d scripted faults, want %d: %v", len(got), len(faults), got)
	}
	checkRestoredOnce(t, b, readRestoreReport(t, filepath.Join(dir, "a", "sink")), out)
}

// TestProbeRestoreTokenExpiresMidUpload: the token dies (498) in the
// middle of a file sent in parts, on an item upload, and 499 on another
// write; the source signs in again and the write is sent again (the
// upload's part read from the sink again), so nothing fails.
func TestProbeRestoreTokenExpiresMidUpload(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	faults := []sim.Fault{
		{Endpoint: "addPart", Nth: 2, Kind: sim.Fault498},
		{Endpoint: "addItem", Nth: 2, Kind: sim.Fault498},
		{Endpoint: "update", Nth: 2, Kind: sim.Fault499},
	}
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Faults: faults})
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--type", "Web Map", "--type", "PDF", "--type", "Microsoft Excel",
		"--type", "Shapefile", "--type", "CSV", "--no-dependencies", "--to", bFile, "--yes")
	if code != exitOK {
		t.Errorf("restore with expiring tokens: exit %d, want %d", code, exitOK)
	}
	if got := scriptedFaults(b); len(got) != len(faults) {
		t.Errorf("the target answered %d scripted faults, want %d: %v", len(got), len(faults), got)
	}
	checkRestoredOnce(t, b, readRestoreReport(t, filepath.Join(dir, "a", "sink")), out)
}
