package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// liveCopies counts B's items that are not deleted and the backup items
// with more than one copy in B (copies are told by their source, their
// source mark).
func liveCopies(b *sim.Server) (n int, dups []string) {
	o := b.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	seen := map[string]bool{}
	for _, it := range o.Items {
		if it.Deleted {
			continue
		}
		n++
		for _, k := range it.TypeKeywords {
			if strings.HasPrefix(k, sdk.SourceMarkPrefix) {
				if seen[k] {
					dups = append(dups, k)
				}
				seen[k] = true
			}
		}
	}
	return n, dups
}

// TestRestoreAgainBeforeSearchIndexesCopies: ArcGIS indexes new items for
// search seconds to minutes after they are created, and restores made
// before the marks existed left none. A restore run again right after the
// first (org B's search lags 10 minutes: it finds none of the copies) must
// still find every copy, through the first restore's report in the sink,
// say so in the plan, and make no duplicate; a copy deleted since is
// restored again, and a copy whose marks were stripped is still found.
func TestRestoreAgainBeforeSearchIndexesCopies(t *testing.T) {
	dir := t.TempDir()
	sinkDir := filepath.Join(dir, "a", "sink")
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", sinkDir)
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, SearchLag: 10 * time.Minute})
	sel := []string{"--run", "latest", "--type", "Web Map", "--to", bFile}
	code, out := runCLI(t, append([]string{"restore", aFile, "--yes"}, sel...)...)
	if code != exitOK {
		t.Fatalf("first restore: exit %d\n%s", code, out)
	}
	first := readRestoreJSON(t, sinkDir, restoreID(t, out))
	created := map[string]string{}
	var maps, services []string
	for _, e := range first.Items {
		if e.Outcome == restore.Restored {
			created[e.ID] = e.NewItemID
			switch e.Type {
			case "Web Map":
				maps = append(maps, e.ID)
			case "Feature Service":
				services = append(services, e.ID)
			}
		}
	}
	if len(maps) < 3 || len(services) < 2 {
		t.Fatalf("the first restore created %d items, %d web maps, %d feature services: want web maps and their layers:\n%s", len(created), len(maps), len(services), out)
	}
	n1, dups := liveCopies(b)
	if len(dups) > 0 {
		t.Fatalf("duplicates after one restore: %v", dups)
	}

	// Right away (nothing indexed yet): every copy found by the report,
	// and skipped: hosted feature services too, which feature_service
	// cannot compare and always rewrites, as they are as the restore
	// left them from this run.
	code, out = runCLI(t, append([]string{"restore", aFile, "--dry-run"}, sel...)...)
	if code != exitOK || !strings.Contains(out, "Plan: 0 to create, 0 to overwrite, "+fmt.Sprint(len(created))+" identical (skip)") {
		t.Fatalf("the plan right after the first restore does not skip all %d copies: exit %d\n%s", len(created), code, out)
	}
	for id, cp := range created {
		want := fmt.Sprintf("item %s, which restore %s created from it (found in restores/%s/restore.json)", cp, first.RestoreID, first.RestoreID)
		if !planLineHas(out, id, want) {
			t.Errorf("the plan does not say item %s's copy %s was found in the first restore's report (%q):\n%s", id, cp, want, out)
		}
	}

	// A copy deleted since is no copy: restored again. A copy whose marks
	// were stripped (as an older agolpipe left them) is still found.
	gone, stripped := maps[0], maps[1]
	// A row of a restored service edited in B since: no longer as the
	// restore left it, so not skipped (and without --overwrite refused).
	pcB := newPortalClient(t, b, bAdmin(t, b))
	edited := services[0]
	svcB, _ := pcB.call(http.MethodGet, b.PortalURL()+"/sharing/rest/content/items/"+created[edited], nil)["url"].(string)
	ids, _ := pcB.call(http.MethodGet, svcB+"/0/query", url.Values{"where": {"1=1"}, "returnIdsOnly": {"true"}})["objectIds"].([]any)
	if len(ids) == 0 {
		t.Fatalf("restored service %s has no rows", svcB)
	}
	pcB.call(http.MethodPost, svcB+"/0/applyEdits", url.Values{"deletes": {fmt.Sprint(ids[0])}})
	o := b.Org()
	o.Mu.Lock()
	o.Item(created[gone]).Deleted = true
	st := o.Item(created[stripped])
	var kept []string
	for _, k := range st.TypeKeywords {
		if !strings.HasPrefix(k, "agolpipe-") {
			kept = append(kept, k)
		}
	}
	st.TypeKeywords = kept
	o.Version++
	o.Mu.Unlock()
	code, out = runCLI(t, append([]string{"restore", aFile, "--yes"}, sel...)...)
	if code != exitOK {
		t.Fatalf("second restore: exit %d\n%s", code, out)
	}
	id2 := restoreID(t, out)
	second := readRestoreJSON(t, sinkDir, id2)
	var raw struct {
		Items []struct {
			ID          string `json:"id"`
			CopyFoundBy string `json:"copy_found_by"`
		} `json:"items"`
	}
	b2, err := os.ReadFile(filepath.Join(sinkDir, restore.Folder(id2), "restore.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b2, &raw); err != nil {
		t.Fatal(err)
	}
	foundBy := map[string]string{}
	for _, e := range raw.Items {
		foundBy[e.ID] = e.CopyFoundBy
	}
	for _, e := range second.Items {
		switch {
		case e.ID == gone:
			if e.Outcome != restore.Restored || e.NewItemID == created[gone] {
				t.Errorf("item %s, whose copy was deleted, is %s (new id %s), want restored anew\n%s", e.ID, e.Outcome, e.NewItemID, out)
			}
		case created[e.ID] != "":
			want := restore.Skipped
			if e.ID == edited {
				want = restore.NotRestored
			}
			if e.Outcome != want || e.TargetItemID != created[e.ID] {
				t.Errorf("item %s (%s) is %s, target %s (%s), want %s as its copy %s", e.ID, e.Type, e.Outcome, e.TargetItemID, e.Reason, want, created[e.ID])
			}
			if e.Type == "Feature Service" && e.ID != edited && !strings.Contains(e.Reason, "is as that restore left it") {
				t.Errorf("feature service %s: reason %q does not say its copy is as the restore left it", e.ID, e.Reason)
			}
			if want := "(found in restores/" + first.RestoreID + "/restore.json)"; !strings.Contains(e.Reason, want) {
				t.Errorf("item %s: the report's reason %q does not say its copy was found %s", e.ID, e.Reason, want)
			}
			if got := foundBy[e.ID]; got != "restores/"+first.RestoreID+"/restore.json" {
				t.Errorf("item %s: restore.json's copy_found_by is %q, want the first restore's report", e.ID, got)
			}
		}
	}
	if n2, dups := liveCopies(b); n2 != n1 || len(dups) > 0 {
		t.Fatalf("after the second restore B holds %d live items (%d after the first, one deleted and restored again), duplicates %v\n%s", n2, n1, dups, out)
	}
}

// planLineHas reports whether the plan line of item id holds want.
func planLineHas(plan, id, want string) bool {
	for _, l := range strings.Split(plan, "\n") {
		if strings.Contains(l, " "+id+" ") && strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// TestUndoTwice: a restore overwrites two web maps (safety copies) and
// re-creates a deleted one; undo puts the two back and deletes the copy.
// A user then edits one of the maps. A second undo of the same restore
// has nothing left to do: it lists the three as already undone (not as
// kept, changed since the restore), exits 0, touches nothing, and leaves
// the first undo's record as it was.
func TestUndoTwice(t *testing.T) {
	srv, admin := startSim(t, sim.Options{Items: 60, Seed: 11})
	dir := t.TempDir()
	sink := filepath.Join(dir, "sink")
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\nrun {\n  concurrency = 4\n}\n", sink))
	portal := srv.PortalURL() + "/sharing/rest"
	pc := newPortalClient(t, srv, admin)
	if code, out := runCLI(t, "run", file); code > exitPartial {
		t.Fatalf("backup: exit %d\n%s", code, out)
	}
	o := srv.Org()
	o.Mu.RLock()
	var maps []string
	for _, it := range o.Items {
		if !it.Deleted && it.Type == "Web Map" && it.Data == org.DataJSON && len(maps) < 3 {
			maps = append(maps, it.ID)
		}
	}
	o.Mu.RUnlock()
	if len(maps) < 3 {
		t.Fatalf("the org has %d web maps, want 3", len(maps))
	}
	a, b, gone := maps[0], maps[1], maps[2]
	editInPortal(pc, portal, a, "{\"operationalLayers\": [], \"version\": \"2.31\", \"note\": \"broken by mistake\"}\n")
	editInPortal(pc, portal, b, "{\"operationalLayers\": [ ], \"version\": \"2.31\", \"note\": \"also broken\"}\n")
	o.Mu.Lock()
	o.Item(gone).Deleted = true
	o.Version++
	o.Mu.Unlock()
	code, out := runCLI(t, "restore", file, "--run", "latest", "--item", a, "--item", b, "--item", gone, "--overwrite", "--yes")
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	id := restoreID(t, out)
	var created string
	for _, e := range readRestoreJSON(t, sink, id).Items {
		if e.ID == gone {
			created = e.NewItemID
		}
	}
	if created == "" {
		t.Fatalf("the deleted map was not created again\n%s", out)
	}
	if code, out = runCLI(t, "restore", "undo", file, id, "--yes"); code != exitOK {
		t.Fatalf("first undo: exit %d\n%s", code, out)
	}
	undoJSON := filepath.Join(sink, restore.Folder(id), "undo.json")
	firstRecord, err := os.ReadFile(undoJSON)
	if err != nil {
		t.Fatal(err)
	}
	// Work done after the undo, which a second undo must not touch.
	later := "{\"operationalLayers\": [], \"title\": \"after the undo\", \"version\": \"2.31\"}"
	editInPortal(pc, portal, a, later)
	before := undoState(pc, portal, a, b)

	for _, args := range [][]string{{"--dry-run"}, {"--yes"}, {"--yes", "--force"}} {
		code, out = runCLI(t, append([]string{"restore", "undo", file, id}, args...)...)
		if code != exitOK {
			t.Fatalf("second undo %v: exit %d, want 0 (everything was undone by the first)\n%s", args, code, out)
		}
		for _, it := range []string{a, b, created} {
			if !strings.Contains(out, "already undone "+it) {
				t.Errorf("second undo %v does not list %s as already undone:\n%s", args, it, out)
			}
		}
		if strings.Contains(out, "keep") || strings.Contains(out, "no longer in the target") {
			t.Errorf("second undo %v reports the first undo's work as kept or missing:\n%s", args, out)
		}
		if args[0] != "--dry-run" && !strings.Contains(out, "Nothing left to undo: restore "+id+" was undone already") {
			t.Errorf("second undo %v does not say the restore was undone already:\n%s", args, out)
		}
		if now := undoState(pc, portal, a, b); !bytes.Equal(now[a], before[a]) || !bytes.Equal(now[b], before[b]) {
			t.Errorf("second undo %v changed the maps:\n%s\n%s\nwant\n%s\n%s", args, now[a], now[b], before[a], before[b])
		}
	}
	if rec, err := os.ReadFile(undoJSON); err != nil || !bytes.Equal(rec, firstRecord) {
		t.Errorf("the first undo's record changed (%v):\n%s\nwas\n%s", err, rec, firstRecord)
	}
}

// TestRestoreFeatureServiceFromCSV: a hosted feature service backed up as
// CSV (the last of the export fallbacks) is restored as new. ArcGIS
// publishes a CSV only with the publishParameters its analyze call makes
// of the file (the simulator refuses it otherwise, as ArcGIS does): the
// restore analyzes the uploaded file, then publishes it, and the rows come
// back.
func TestRestoreFeatureServiceFromCSV(t *testing.T) {
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3})
	dir := t.TempDir()
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
export "Feature Service" {
  format = "CSV"
}
sink "local" "nas" { path = %q }
run {
  concurrency = 3
}
`, filepath.Join(dir, "nas")))
	var id, svcURL string
	o := srv.Org()
	o.Mu.RLock()
	for _, it := range o.Items {
		if it.Deleted || it.Service == nil || it.Service.Kind != org.FeatureServer || it.Service.IsView || it.Service.SyncEnabled || len(it.Service.Layers) != 1 {
			continue
		}
		if l := it.Service.Layers[0]; !l.IsTable && l.Geometry == "esriGeometryPoint" && !l.HasAttachments && l.Rows >= 5 && l.Rows <= 800 {
			id, svcURL = it.ID, org.AbsURL(srv.Origin(), it.URL)
			break
		}
	}
	o.Mu.RUnlock()
	if id == "" {
		t.Fatal("no single-layer point feature service without attachments in the simulated org")
	}
	pc := newPortalClient(t, srv, admin)
	wantRows := pc.rows(svcURL, 0)
	if code, out := runCLI(t, "run", file, "--plain"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	srv.ResetRequests()
	code, out := runCLI(t, "restore", file, "--run", "latest", "--item", id, "--as-new", "--yes")
	if code != exitOK {
		t.Fatalf("restore from CSV: exit %d\n%s", code, out)
	}
	rep := readRestoreJSON(t, filepath.Join(dir, "nas"), restoreID(t, out))
	newURL := rep.Remap[svcURL]
	if newURL == "" {
		t.Fatalf("the remap has no entry for %s: %v\n%s", svcURL, rep.Remap, out)
	}
	if got := pc.rows(newURL, 0); strings.Join(got, "\n") != strings.Join(wantRows, "\n") {
		t.Errorf("rows restored from the CSV differ from the backup's: %d rows, want %d", len(got), len(wantRows))
	}
	analyzed, published := -1, -1
	for i, r := range srv.Requests() {
		switch {
		case r.Endpoint == "analyze" && r.Status == 200 && r.ErrorCode == 0 && analyzed < 0:
			analyzed = i
		case r.Endpoint == "publish" && r.ErrorCode == 0 && published < 0:
			published = i
		}
	}
	if analyzed < 0 || published < analyzed {
		t.Errorf("the CSV was not analyzed before it was published (analyze at request %d, publish at %d)", analyzed, published)
	}
}

// bAdmin is the administrator of simulated org b.
func bAdmin(t *testing.T, b *sim.Server) sim.User {
	t.Helper()
	u, ok := demoAdmin(b)
	if !ok {
		t.Fatal("no admin in the simulated org")
	}
	return u
}

// TestRestoreFeatureServiceInPlaceUnchanged: a hosted feature service
// restored into its own org, unchanged since the backup (item stamp and
// the service's lastEditDate as the backup recorded them), is skipped as
// identical, not rewritten (no safety copy, no truncate and append);
// once a row is edited it is planned as an overwrite again.
func TestRestoreFeatureServiceInPlaceUnchanged(t *testing.T) {
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3})
	dir := t.TempDir()
	file := fsPipeline(t, srv, admin, dir)
	id, svcURL, _ := fsWithAttachments(t, srv)
	if code, out := runCLI(t, "run", file, "--plain"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	srv.ResetRequests()
	code, out := runCLI(t, "restore", file, "--run", "latest", "--item", id, "--overwrite", "--yes")
	if code != exitOK || !strings.Contains(out, "= skip      "+id) || !strings.Contains(out, "unchanged since the backup") {
		t.Fatalf("restore of an unchanged service in place: exit %d, want it skipped as unchanged\n%s", code, out)
	}
	for _, r := range srv.Requests() {
		if r.Write {
			t.Errorf("restoring an unchanged service wrote to the portal: %s %s (%s)", r.Method, r.Path, r.Endpoint)
		}
	}
	pc := newPortalClient(t, srv, admin)
	ids, _ := pc.call(http.MethodGet, svcURL+"/0/query", url.Values{"where": {"1=1"}, "returnIdsOnly": {"true"}})["objectIds"].([]any)
	if len(ids) == 0 {
		t.Fatalf("service %s has no rows", svcURL)
	}
	pc.call(http.MethodPost, svcURL+"/0/applyEdits", url.Values{"deletes": {fmt.Sprint(ids[0])}})
	code, out = runCLI(t, "restore", file, "--run", "latest", "--item", id, "--overwrite", "--dry-run")
	if code != exitOK || !strings.Contains(out, "~ overwrite "+id) {
		t.Fatalf("after a row was deleted the in-place restore is not an overwrite: exit %d\n%s", code, out)
	}
}

// TestRestoreKilledBeforeSearchIndexes: a restore killed outright
// (SIGKILL: no final report) into an org whose search lags 10 minutes,
// then run again at once. The killed restore kept restore.json current
// as it went (marked incomplete), so the second run finds what the first
// made by that report, not by a search that does not see it yet: no
// duplicates but, at most, the item in hand when the process died and
// the one finished just before (the report is rewritten every 200 ms).
func TestRestoreKilledBeforeSearchIndexes(t *testing.T) {
	dir := t.TempDir()
	sinkDir := filepath.Join(dir, "a", "sink")
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", sinkDir)
	_, b, aFile, bFile := restoreOrgsB(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true, Latency: 40 * time.Millisecond, SearchLag: 10 * time.Minute})
	args := []string{"restore", aFile, "--run", "latest", "--to", bFile, "--type", "Web Map", "--type", "PDF", "--type", "CSV",
		"--type", "Shapefile", "--type", "Microsoft Excel", "--no-dependencies", "--parallel", "1", "--yes"}

	out := killAfter(t, 4, "] restored ", args...)
	killed := restoreID(t, out)
	b1, err := os.ReadFile(filepath.Join(sinkDir, restore.Folder(killed), "restore.json"))
	if err != nil {
		t.Fatalf("the killed restore left no restore.json: %v\n%s", err, out)
	}
	var first restore.Report
	if err := json.Unmarshal(b1, &first); err != nil {
		t.Fatal(err)
	}
	made := map[string]string{}
	for _, e := range first.Items {
		if e.Outcome == restore.Restored {
			made[e.ID] = e.NewItemID
		}
	}
	if !first.Incomplete || len(made) < 2 {
		t.Fatalf("the killed restore's restore.json: incomplete %v, %d items restored, want incomplete and at least 2 (4 were)\n%s", first.Incomplete, len(made), b1)
	}

	code, out := runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("the restore again: exit %d\n%s", code, out)
	}
	again := readRestoreJSON(t, sinkDir, restoreID(t, out))
	for _, e := range again.Items {
		if cp, ok := made[e.ID]; ok && (e.Outcome != restore.Skipped || e.NewItemID != cp || !strings.Contains(e.Reason, "found in restores/"+killed+"/restore.json")) {
			t.Errorf("item %s, which the killed restore made as %s: %s %s (%s), want skipped as found in its report", e.ID, cp, e.Outcome, e.NewItemID, e.Reason)
		}
	}
	var dups []string
	for src, n := range copiesInTarget(b) {
		if n > 1 {
			dups = append(dups, src)
		}
	}
	if len(dups) > 2 {
		t.Errorf("%d items have two copies in the target (%v); at most the one in hand when the restore was killed and the one finished just before may\n%s", len(dups), dups, out)
	}
}

// killAfter runs agolpipe with args and kills it with SIGKILL once its
// output holds marker n times; it returns the output.
func killAfter(t *testing.T, n int, marker string, args ...string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(out.String(), marker) < n {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("printed %q fewer than %d times in 60 s:\n%s", marker, n, out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("ended before it was killed (%v):\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return out.String()
}

// TestRestoreServiceCopyBesideItsViewThenUndo: a hosted feature service
// that has a view, restored as a new copy into its own org (a drill does
// this), is not made the source of the original's view: its undo (and a
// drill's clean-up) deletes it, which the portal refuses for a service
// with a related view.
func TestRestoreServiceCopyBesideItsViewThenUndo(t *testing.T) {
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3})
	dir := t.TempDir()
	file := fsPipeline(t, srv, admin, dir)
	var src string
	o := srv.Org()
	o.Mu.RLock()
	for _, it := range o.Items {
		if it.Deleted || it.Service == nil || it.Service.IsView {
			continue
		}
		for _, r := range it.Related {
			if v := o.Item(r.To); r.Type == "Service2Service" && v != nil && !v.Deleted {
				src = it.ID
			}
		}
	}
	o.Mu.RUnlock()
	if src == "" {
		t.Fatal("no hosted feature service with a view in the simulated org")
	}
	if code, out := runCLI(t, "run", file, "--plain"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	code, out := runCLI(t, "restore", file, "--run", "latest", "--item", src, "--as-new", "--no-dependencies", "--yes")
	if code != exitOK {
		t.Fatalf("restore as new: exit %d\n%s", code, out)
	}
	id := restoreID(t, out)
	if code, out = runCLI(t, "restore", "undo", file, id, "--yes"); code != exitOK {
		t.Fatalf("undo of the copy: exit %d\n%s", code, out)
	}
}
