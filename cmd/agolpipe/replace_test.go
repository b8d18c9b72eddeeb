package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// replaceID reads the id from `agolpipe replace`'s first line.
func replaceID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Replace (\S+): `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no replace id in the output:\n%s", out)
	}
	return m[1]
}

// TestReplace: a service URL is found and replaced in the live org's JSON
// through the binary and the source plugin. The dry run changes nothing;
// applying changes exactly the matching strings (every other byte of the
// data kept, a hand-formatted web map included), leaves a hosted
// service's own url and object keys alone and says so; undo (restore
// undo) puts every item back byte for byte. A registered service's url
// property is replaced and undone the same way; a text found nowhere says
// so and exits 0.
func TestReplace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3})
	dir := t.TempDir()
	sinkDir := filepath.Join(dir, "sink")
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", sinkDir))
	portal := srv.PortalURL() + "/sharing/rest"
	pc := newPortalClient(t, srv, admin)

	// A hosted feature service some web map draws, and those web maps.
	o := srv.Org()
	o.Mu.RLock()
	var svcID string
	var maps, others, jsonItems []string
	for _, it := range o.Items {
		if it.Deleted || it.Type != "Web Map" {
			continue
		}
		for _, r := range it.Refs {
			if s := o.Item(r); svcID == "" && s != nil && s.Service != nil && s.Service.Kind == org.FeatureServer {
				svcID = r
			}
		}
	}
	for _, it := range o.Items {
		if it.Deleted || it.Data != org.DataJSON {
			continue
		}
		jsonItems = append(jsonItems, it.ID)
		if it.Type == "Web Map" && strings.Contains(strings.Join(it.Refs, ","), svcID) {
			maps = append(maps, it.ID)
		} else if it.Type == "Web Map" {
			others = append(others, it.ID)
		}
	}
	o.Mu.RUnlock()
	if svcID == "" || len(maps) == 0 || len(others) == 0 {
		t.Fatalf("the org needs a feature service a web map draws and another web map (service %q, maps %v, others %v)", svcID, maps, others)
	}
	svc := pc.call(http.MethodGet, portal+"/content/items/"+svcID, nil)
	oldURL, _ := svc["url"].(string)
	if !strings.HasPrefix(oldURL, "http") {
		t.Fatalf("service url %q", oldURL)
	}
	const newURL = "https://gis.example.com/arcgis/rest/services/Moved/FeatureServer"

	// Another web map gets hand-written data: spacing, an escaped slash, a
	// \u escape and a number as 0.50 must survive the rewrite untouched;
	// the text also sits in an object key, which is not rewritten.
	hand := others[0]
	tmpl := "{\n  \"operationalLayers\": [\n    {\"id\": \"a\", \"url\": \"%[1]s/0\", \"title\": \"Parcels \\u00e9\"},\n" +
		"    {\"id\": \"b\",  \"url\": \"%[1]s/1\",   \"opacity\": 0.50, \"path\": \"a\\/b\"}\n  ],\n" +
		"  \"note\": \"see %[1]s and %[1]s\",\n  \"%[2]s\": 1,\n  \"version\": \"2.31\"\n}\n"
	handBefore := fmt.Sprintf(tmpl, oldURL, oldURL)
	handAfter := fmt.Sprintf(tmpl, newURL, oldURL)
	owner := pc.call(http.MethodGet, portal+"/content/items/"+hand, nil)["owner"]
	pc.call(http.MethodPost, fmt.Sprintf("%s/content/users/%s/items/%s/update", portal, owner, hand), url.Values{"text": {handBefore}})

	snapshot := func() map[string][]byte {
		out := map[string][]byte{}
		for _, id := range jsonItems {
			out[id] = pc.raw(http.MethodGet, portal+"/content/items/"+id+"/data", nil)
		}
		return out
	}
	before := snapshot()
	if string(before[hand]) != handBefore {
		t.Fatalf("the hand-written web map did not land:\n%s", before[hand])
	}
	want := map[string][]byte{}
	changed := 0
	for id, b := range before {
		want[id] = b
		if id == hand {
			want[id] = []byte(handAfter)
		} else if bytes.Contains(b, []byte(oldURL)) {
			want[id] = bytes.ReplaceAll(b, []byte(oldURL), []byte(newURL))
		}
		if !bytes.Equal(want[id], b) {
			changed++
		}
	}
	if changed < 2 {
		t.Fatalf("only %d item(s) hold %s", changed, oldURL)
	}

	args := []string{"replace", file, "--find", oldURL, "--replace", newURL, "--all"}
	code, out := runCLI(t, append(args, "--dry-run")...)
	if code != exitOK {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	t.Logf("dry run:\n%s", out)
	for _, s := range []string{"~ " + hand, "data operationalLayers[1].url (1x)", "data note (2x)", "keys are not rewritten",
		"= " + svcID, "hosted service's own address", fmt.Sprintf("Plan: %d item(s) to change", changed)} {
		if !strings.Contains(out, s) {
			t.Errorf("the plan lacks %q:\n%s", s, out)
		}
	}
	for id, b := range snapshot() {
		if !bytes.Equal(b, before[id]) {
			t.Fatalf("the dry run changed item %s", id)
		}
	}
	// Not on a terminal, applying needs --yes.
	if code, out := runCLI(t, args...); code != exitUsage || !strings.Contains(out, "Plan:") {
		t.Fatalf("without --yes: exit %d\n%s", code, out)
	}

	code, out = runCLI(t, append(args, "--yes")...)
	if code != exitOK {
		t.Fatalf("replace: exit %d\n%s", code, out)
	}
	t.Logf("replace:\n%s", out)
	id := replaceID(t, out)
	after := snapshot()
	for item, b := range after {
		if !bytes.Equal(b, want[item]) {
			t.Errorf("item %s after replace:\n%s\nwant\n%s", item, b, want[item])
		}
	}
	if got := pc.call(http.MethodGet, portal+"/content/items/"+svcID, nil)["url"]; got != oldURL {
		t.Errorf("the hosted service's url became %v", got)
	}
	rec := readRestoreJSON(t, sinkDir, id)
	if rec.Replace == nil || len(rec.Replace.Items) != changed || len(rec.Safety) != changed {
		t.Fatalf("restore.json: %d items, %d safety copies, want %d", len(rec.Replace.Items), len(rec.Safety), changed)
	}
	safety, err := os.ReadFile(filepath.Join(sinkDir, restore.SafetyFolder(id, hand), "data.json"))
	if err != nil || string(safety) != handBefore {
		t.Fatalf("the safety copy of %s is not its data before the change (%v):\n%s", hand, err, safety)
	}
	if _, err := os.Stat(filepath.Join(sinkDir, restore.Folder(id), "Replace.txt")); err != nil {
		t.Error(err)
	}

	code, out = runCLI(t, "restore", "undo", file, id, "--yes")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("%d safety copy(ies) to put back", changed)) {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	for item, b := range snapshot() {
		if !bytes.Equal(b, before[item]) {
			t.Errorf("item %s after undo:\n%s\nwant\n%s", item, b, before[item])
		}
	}

	// A registered service's url property.
	added := pc.call(http.MethodPost, fmt.Sprintf("%s/content/users/%s/addItem", portal, admin.Username), url.Values{
		"title": {"Old basemap"}, "type": {"Map Service"}, "url": {"https://gis.example.gov/arcgis/rest/services/Basemap/MapServer"}})
	reg, _ := added["id"].(string)
	code, out = runCLI(t, "replace", file, "--find", "https://gis.example.gov/", "--replace", "https://gis.example.com/", "--item", reg, "--yes")
	if code != exitOK || !strings.Contains(out, "item url (1x)") {
		t.Fatalf("replace of a url property: exit %d\n%s", code, out)
	}
	if got := pc.call(http.MethodGet, portal+"/content/items/"+reg, nil)["url"]; got != "https://gis.example.com/arcgis/rest/services/Basemap/MapServer" {
		t.Fatalf("url after replace: %v", got)
	}
	if code, out = runCLI(t, "restore", "undo", file, replaceID(t, out), "--yes"); code != exitOK {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	if got := pc.call(http.MethodGet, portal+"/content/items/"+reg, nil)["url"]; got != "https://gis.example.gov/arcgis/rest/services/Basemap/MapServer" {
		t.Fatalf("url after undo: %v", got)
	}

	// A text found nowhere.
	code, out = runCLI(t, "replace", file, "--find", "https://nowhere.example.org/", "--replace", "x", "--all", "--yes")
	if code != exitOK || !strings.Contains(out, "No match") {
		t.Fatalf("no match: exit %d\n%s", code, out)
	}
	entries, _ := os.ReadDir(filepath.Join(sinkDir, "restores"))
	if len(entries) != 2 {
		t.Errorf("restores/ holds %d records, want the two replaces that changed something", len(entries))
	}
}

// TestReplaceUnreadableItem: an item whose data the portal does not serve
// (after the reads' retries) is listed as not searched and the exit status
// is 1, not a plan that silently skipped it.
func TestReplaceUnreadableItem(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 20, Seed: 3, FaultRate: 1, FaultEndpoints: []string{"data"}})
	dir := t.TempDir()
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "sink")))
	var mapID string
	o := srv.Org()
	o.Mu.RLock()
	for _, it := range o.Items {
		if it.Type == "Web Map" && !it.Deleted {
			mapID = it.ID
			break
		}
	}
	o.Mu.RUnlock()
	code, out := runCLI(t, "replace", file, "--find", "http", "--replace", "https", "--item", mapID, "--dry-run")
	if code != exitPartial || !strings.Contains(out, "! "+mapID) || !strings.Contains(out, "could not be read") {
		t.Fatalf("exit %d, want %d with the web map listed as not searched\n%s", code, exitPartial, out)
	}
}

// TestReplaceInterrupted: SIGINT to agolpipe part-way through a replace
// ends it with 130 and still stores its record, the items it did not get
// to marked canceled; undo then puts back exactly what it changed, and
// every item's data is as before.
func TestReplaceInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 150, Seed: 7, Latency: 50 * time.Millisecond})
	dir := t.TempDir()
	sinkDir := filepath.Join(dir, "sink")
	file := writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", sinkDir))
	before := map[string][]byte{}
	o := srv.Org()
	o.Mu.RLock()
	for _, it := range o.Items {
		if !it.Deleted && it.Data == org.DataJSON {
			before[it.ID] = o.DataJSON(it, srv.Origin())
		}
	}
	o.Mu.RUnlock()
	output := interruptAt(t, "replace", "] changed ", "replace", file, "--find", srv.Origin()+"/", "--replace", "https://moved.example.com/", "--type", "Web Map", "--yes")
	id := replaceID(t, output)
	rec := readRestoreJSON(t, sinkDir, id)
	counts := map[string]int{}
	for _, it := range rec.Replace.Items {
		counts[it.Outcome]++
	}
	if counts[restore.Overwritten] == 0 || counts[restore.Canceled] == 0 {
		t.Fatalf("the record of an interrupted replace: %v\n%s", counts, output)
	}
	if code, uout := runCLI(t, "restore", "undo", file, id, "--yes"); code != exitOK {
		t.Fatalf("undo: exit %d\n%s", code, uout)
	}
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	for id, b := range before {
		if got := o.DataJSON(o.Item(id), srv.Origin()); !bytes.Equal(got, b) {
			t.Errorf("item %s after the undo of an interrupted replace:\n%s\nwant\n%s", id, got, b)
		}
	}
}
