package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// undoState is the data of items as the portal serves it now.
func undoState(pc *portalClient, portal string, ids ...string) map[string][]byte {
	out := map[string][]byte{}
	for _, id := range ids {
		out[id] = pc.raw(http.MethodGet, portal+"/content/items/"+id+"/data", nil)
	}
	return out
}

// editInPortal changes an item's data the way a user in the portal does,
// through the sim's REST API.
func editInPortal(pc *portalClient, portal, id, text string) {
	owner := pc.call(http.MethodGet, portal+"/content/items/"+id, nil)["owner"]
	pc.call(http.MethodPost, fmt.Sprintf("%s/content/users/%s/items/%s/update", portal, owner, id), url.Values{"text": {text}})
}

// TestUndoKeepsEditsMadeSinceReplace: a replace changes three web maps;
// a user edits one of them in the portal afterwards; undo keeps that one
// as the user left it and says so (exit 1), and puts the other two back
// byte for byte; undo --force then puts the edited one back too.
func TestUndoKeepsEditsMadeSinceReplace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3})
	dir := t.TempDir()
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "sink")))
	portal := srv.PortalURL() + "/sharing/rest"
	pc := newPortalClient(t, srv, admin)

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
	const oldURL, newURL = "https://old.example.gov/arcgis/rest/services/Parcels/FeatureServer", "https://new.example.gov/arcgis/rest/services/Parcels/FeatureServer"
	for i, id := range maps {
		// Hand-formatted, so "byte for byte" means something.
		editInPortal(pc, portal, id, fmt.Sprintf("{\"operationalLayers\": [ {\"id\": \"m%d\", \"url\": \"%s/0\"} ],\n \"version\": \"2.31\" }\n", i, oldURL))
	}
	before := undoState(pc, portal, maps...)

	args := []string{"replace", file, "--find", oldURL, "--replace", newURL, "--yes"}
	for _, id := range maps {
		args = append(args, "--item", id)
	}
	code, out := runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("replace: exit %d\n%s", code, out)
	}
	id := replaceID(t, out)
	for _, m := range maps {
		if got := undoState(pc, portal, m)[m]; !bytes.Contains(got, []byte(newURL)) {
			t.Fatalf("replace did not change %s:\n%s", m, got)
		}
	}

	// Today's edit, made after the replace.
	edited := maps[1]
	today := "{\"operationalLayers\": [], \"title\": \"today's edit\", \"version\": \"2.31\"}"
	editInPortal(pc, portal, edited, today)

	code, out = runCLI(t, "restore", "undo", file, id, "--dry-run")
	if code != exitOK || !strings.Contains(out, "! keep     "+edited) || !strings.Contains(out, "changed since the restore (modified ") ||
		!strings.Contains(out, "Kept: 1 item(s) changed since the restore") || !strings.Contains(out, "2 safety copy(ies) to put back") {
		t.Fatalf("undo plan: exit %d, want the edited item %s kept with when it changed\n%s", code, edited, out)
	}
	t.Logf("undo plan:\n%s", out)
	if got := undoState(pc, portal, edited)[edited]; string(got) != today {
		t.Fatalf("the dry run changed %s", edited)
	}

	code, out = runCLI(t, "restore", "undo", file, id, "--yes")
	if code != exitPartial || !strings.Contains(out, "kept") || !strings.Contains(out, edited) {
		t.Fatalf("undo: exit %d, want 1 with the edited item reported as kept\n%s", code, out)
	}
	after := undoState(pc, portal, maps...)
	for _, m := range maps {
		want := before[m]
		if m == edited {
			want = []byte(today)
		}
		if !bytes.Equal(after[m], want) {
			t.Errorf("item %s after undo:\n%s\nwant\n%s", m, after[m], want)
		}
	}

	code, out = runCLI(t, "restore", "undo", file, id, "--yes", "--force")
	if code != exitOK {
		t.Fatalf("undo --force: exit %d\n%s", code, out)
	}
	for m, b := range undoState(pc, portal, maps...) {
		if !bytes.Equal(b, before[m]) {
			t.Errorf("item %s after undo --force:\n%s\nwant\n%s", m, b, before[m])
		}
	}
}

// TestUndoKeepsEditsMadeSinceRestore: a restore --overwrite puts two
// changed web maps back in place and creates a deleted one again; a user
// then edits one overwritten map and the created one in the portal. Undo
// keeps both as the user left them (exit 1) and puts the other back byte
// for byte; undo --force puts the edited one back and deletes the created
// one too.
func TestUndoKeepsEditsMadeSinceRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
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
	kept, edited, gone := maps[0], maps[1], maps[2]
	editInPortal(pc, portal, kept, "{\"operationalLayers\": [], \"version\": \"2.31\", \"note\": \"broken by mistake\"}\n")
	editInPortal(pc, portal, edited, "{\"operationalLayers\": [ ], \"version\": \"2.31\", \"note\": \"also broken\"}\n")
	before := undoState(pc, portal, kept, edited)
	o.Mu.Lock()
	o.Item(gone).Deleted = true
	o.Version++
	o.Mu.Unlock()

	code, out := runCLI(t, "restore", file, "--run", "latest", "--item", kept, "--item", edited, "--item", gone, "--overwrite", "--yes")
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	rep := readRestoreReport(t, sink)
	var created string
	for _, e := range rep.Items {
		if e.ID == gone {
			created = e.NewItemID
		}
	}
	if created == "" {
		t.Fatalf("restore.json: the deleted map was not created again\n%s", out)
	}

	// Today's edits, made after the restore.
	today := "{\"operationalLayers\": [], \"title\": \"today's edit\", \"version\": \"2.31\"}"
	editInPortal(pc, portal, edited, today)
	editInPortal(pc, portal, created, today)

	code, out = runCLI(t, "restore", "undo", file, rep.RestoreID, "--yes")
	t.Logf("undo:\n%s", out)
	if code != exitPartial {
		t.Fatalf("undo: exit %d, want 1 with two items kept\n%s", code, out)
	}
	for _, id := range []string{edited, created} {
		if !strings.Contains(out, "kept   keep     "+id) {
			t.Errorf("undo does not report %s as kept:\n%s", id, out)
		}
		if got := undoState(pc, portal, id)[id]; string(got) != today {
			t.Errorf("undo overwrote today's edit of %s:\n%s", id, got)
		}
	}
	if got := undoState(pc, portal, kept)[kept]; !bytes.Equal(got, before[kept]) {
		t.Errorf("item %s after undo:\n%s\nwant\n%s", kept, got, before[kept])
	}

	code, out = runCLI(t, "restore", "undo", file, rep.RestoreID, "--yes", "--force")
	if code != exitOK {
		t.Fatalf("undo --force: exit %d\n%s", code, out)
	}
	// The first undo put kept's copy back: the second does not again.
	if !strings.Contains(out, "= already undone "+kept) || !strings.Contains(out, "already undone put back "+kept) {
		t.Errorf("undo --force does not report %s, which the first undo put back, as already undone:\n%s", kept, out)
	}
	if got := undoState(pc, portal, edited)[edited]; !bytes.Equal(got, before[edited]) {
		t.Errorf("item %s after undo --force:\n%s\nwant\n%s", edited, got, before[edited])
	}
	o.Mu.RLock()
	c := o.Item(created)
	o.Mu.RUnlock()
	if c != nil && !c.Deleted {
		t.Errorf("undo --force did not delete the item the restore created (%s)", created)
	}
}

// TestUndoKeepsRowEditsMadeSinceRestore: a hosted feature layer restored
// in place, then a row edited in the portal (applyEdits, which leaves the
// item's modified stamp alone): undo keeps the service as it is (exit 1);
// undo --force puts the safety copy's rows back.
func TestUndoKeepsRowEditsMadeSinceRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3})
	dir := t.TempDir()
	file := fsPipeline(t, srv, admin, dir)
	id, svcURL, _ := fsWithAttachments(t, srv)
	pc := newPortalClient(t, srv, admin)
	if code, out := runCLI(t, "run", file, "--plain"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	pc.call(http.MethodPost, svcURL+"/0/applyEdits", url.Values{"deletes": {"1,2,3"}})
	beforeRestore := pc.rows(svcURL, 0)

	code, out := runCLI(t, "restore", file, "--run", "latest", "--item", id, "--overwrite", "--no-dependencies", "--yes")
	if code != exitOK {
		t.Fatalf("restore --overwrite: exit %d\n%s", code, out)
	}
	rid := restoreID(t, out)
	// Today's edit of one row, after the restore.
	pc.call(http.MethodPost, svcURL+"/0/applyEdits", url.Values{"updates": {`[{"attributes":{"OBJECTID":5,"NAME":"today's edit"}}]`}})
	today := pc.rows(svcURL, 0)
	if strings.Join(today, "\n") == strings.Join(beforeRestore, "\n") || !strings.Contains(strings.Join(today, "\n"), "today's edit") {
		t.Fatal("the restore or today's edit did not land")
	}

	code, out = runCLI(t, "restore", "undo", file, rid, "--yes")
	if code != exitPartial || !strings.Contains(out, "rows or layers edited") {
		t.Fatalf("undo: exit %d, want 1 with the service kept as edited since\n%s", code, out)
	}
	if got := pc.rows(svcURL, 0); strings.Join(got, "\n") != strings.Join(today, "\n") {
		t.Errorf("undo replaced the rows edited since the restore (%d rows, %d before undo)", len(got), len(today))
	}
	code, out = runCLI(t, "restore", "undo", file, rid, "--yes", "--force")
	if code != exitOK {
		t.Fatalf("undo --force: exit %d\n%s", code, out)
	}
	if got := pc.rows(svcURL, 0); strings.Join(got, "\n") != strings.Join(beforeRestore, "\n") {
		t.Errorf("rows after undo --force: %d, before the restore %d (or they differ)", len(got), len(beforeRestore))
	}
}
