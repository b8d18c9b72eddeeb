package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
)

// TestRestoreTileLayers: org A's hosted tile and vector tile layers whose
// tiles were exported are uploaded as tile packages into an empty org B and
// published there as hosted layers, their description put back and the
// temporary package items deleted; a web map on a tile layer points at B's
// layer; a layer above maxExportTilesCount cannot be restored and the plan
// says what to do; a map image layer (not hosted) is re-created as the
// reference it is.
func TestRestoreTileLayers(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	// 80 items: two tile and two vector tile layers, one of each above
	// maxExportTilesCount.
	_, b, aFile, bFile := restoreOrgsAB(t, dir, sinkA, sim.Options{Items: 80, Seed: 11}, sim.Options{Items: 60, Seed: 12, Empty: true}, nil)
	runA := latestRun(t, filepath.Join(dir, "a", "sink"), "A_")
	mA := readManifest(t, runA)
	byID := map[string]report.Item{}
	for _, it := range mA.Items {
		byID[it.ID] = it
	}
	hasPackage := func(id string) bool {
		for _, a := range mA.Artifacts {
			if a.ItemID == id && (strings.HasSuffix(a.Name, ".tpkx") || strings.HasSuffix(a.Name, ".vtpk") || strings.HasSuffix(a.Name, ".tpk")) {
				return true
			}
		}
		return false
	}
	var tiled, vector, tooMany, mapImage string
	var webMap report.Item
	for _, it := range mA.Items {
		switch {
		case it.Exporter != "tiles":
		case it.Type == "Vector Tile Service" && hasPackage(it.ID) && vector == "":
			vector = it.ID
		case it.Type == "Map Service" && it.Status == sdk.StatusSkipped && !strings.Contains(it.Reason, "maxExportTilesCount") && mapImage == "":
			mapImage = it.ID
		case it.Status == sdk.StatusSkipped && strings.Contains(it.Reason, "maxExportTilesCount") && tooMany == "":
			tooMany = it.ID
		}
	}
	for _, it := range mA.Items {
		if it.Type != "Web Map" || webMap.ID != "" {
			continue
		}
		for _, d := range it.Dependencies {
			if byID[d].Type == "Map Service" && hasPackage(d) {
				webMap, tiled = it, d
			}
		}
	}
	if tiled == "" || vector == "" || tooMany == "" || mapImage == "" {
		t.Fatalf("org A lacks a web map on an exported tile layer (%q), an exported vector tile layer (%q), a layer above maxExportTilesCount (%q) or a map image layer (%q)",
			tiled, vector, tooMany, mapImage)
	}
	args := []string{"restore", aFile, "--run", "latest", "--to", bFile, "--item", webMap.ID, "--item", vector, "--item", tooMany, "--item", mapImage}
	code, out := runCLI(t, append(args, "--dry-run")...)
	if code != exitOK || !strings.Contains(out, "! cannot    "+tooMany) || !strings.Contains(out, "maxExportTilesCount") ||
		!strings.Contains(out, "+ create    "+tiled) || !strings.Contains(out, "+ create    "+vector) {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, append(args, "--yes")...)
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	got := map[string]restore.Entry{}
	for _, e := range rep.Items {
		got[e.ID] = e
	}
	for _, id := range []string{tiled, vector, mapImage, webMap.ID} {
		if got[id].Outcome != restore.Restored {
			t.Errorf("item %s (%s): %s %s%s", id, byID[id].Type, got[id].Outcome, got[id].Reason, got[id].Error)
		}
	}
	if e := got[tooMany]; e.Outcome != restore.NotRestored || !strings.Contains(e.Reason, "tile package") {
		t.Errorf("layer %s above maxExportTilesCount: %s %q", tooMany, e.Outcome, e.Reason)
	}
	if t.Failed() {
		t.Fatalf("the restore said:\n%s", out)
	}

	o := b.Org()
	adminB, _ := demoAdmin(b)
	pc := newPortalClient(t, b, adminB)
	for _, id := range []string{tiled, vector} {
		var ij struct {
			Title, Type, Description, URL string
			TypeKeywords                  []string
		}
		_ = json.Unmarshal(artifactBytes(t, runA, mA, id, "item.json"), &ij)
		var svc struct{ MaxLOD int }
		_ = json.Unmarshal(artifactBytes(t, runA, mA, id, "service.json"), &svc)
		nid := got[id].NewItemID
		o.Mu.RLock()
		nb := o.Item(nid)
		var title, typ, desc, u string
		var kw []string
		var thumb []byte
		if nb != nil {
			title, typ, desc, u, kw, thumb = nb.Title, nb.Type, nb.Description, nb.URL, nb.TypeKeywords, nb.ThumbnailBody
		}
		o.Mu.RUnlock()
		if nb == nil {
			t.Fatalf("layer %s: no item %s in B", id, nid)
		}
		if title != ij.Title || typ != ij.Type || desc != ij.Description || !slices.Contains(kw, "Hosted Service") {
			t.Errorf("layer %s in B: %q %s keywords %v; A: %q %s", id, title, typ, kw, ij.Title, ij.Type)
		}
		for _, a := range mA.Artifacts {
			if a.ItemID == id && strings.HasPrefix(a.Name, "thumbnail.") && !bytes.Equal(thumb, artifactBytes(t, runA, mA, id, a.Name)) {
				t.Errorf("layer %s: thumbnail in B is not the backup's", id)
			}
		}
		newURL := rep.Remap[strings.TrimRight(ij.URL, "/")]
		if newURL == "" || !strings.HasPrefix(newURL, b.Origin()) || !strings.HasSuffix(newURL, u) {
			t.Fatalf("layer %s: remap of its URL %s is %q, B's layer is at %s", id, ij.URL, newURL, u)
		}
		// B's layer serves the backup's cache levels.
		root := pc.call(http.MethodGet, newURL, nil)
		maxLOD, _ := root["maxLOD"].(float64)
		if int(maxLOD) != svc.MaxLOD || svc.MaxLOD == 0 {
			t.Errorf("layer %s in B serves levels 0-%d, the backup's service had 0-%d", id, int(maxLOD), svc.MaxLOD)
		}
	}
	// No temporary package is left behind.
	o.Mu.RLock()
	for _, it := range o.Items {
		if !it.Deleted && strings.HasSuffix(it.Type, "Tile Package") {
			t.Errorf("B holds package item %s %q after the restore", it.ID, it.Title)
		}
	}
	wm := o.Item(got[webMap.ID].NewItemID)
	data := append([]byte(nil), wm.Body...)
	o.Mu.RUnlock()
	var ij struct{ URL string }
	_ = json.Unmarshal(artifactBytes(t, runA, mA, tiled, "item.json"), &ij)
	if bytes.Contains(data, []byte(ij.URL)) || !bytes.Contains(data, []byte(rep.Remap[ij.URL])) || !bytes.Contains(data, []byte(got[tiled].NewItemID)) {
		t.Errorf("web map %s in B does not point at B's tile layer %s (%s):\n%s", webMap.ID, got[tiled].NewItemID, rep.Remap[ij.URL], data)
	}

	// Undo deletes the published layers (they carry the restore's mark).
	if code, out := runCLI(t, "restore", "undo", aFile, restoreID(t, out), "--to", bFile, "--yes"); code != exitOK {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	for _, id := range []string{tiled, vector} {
		if it := o.Item(got[id].NewItemID); it != nil && !it.Deleted {
			t.Errorf("layer %s restored as %s is still in B after undo", id, it.ID)
		}
	}
}
