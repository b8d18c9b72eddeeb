package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// simPost signs in to srv as user and posts form to a sharing API path,
// as any client of the portal would; it returns the JSON answer.
func simPost(t *testing.T, srv *sim.Server, user sim.User, path string, form url.Values) map[string]any {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	post := func(p string, f url.Values) map[string]any {
		f.Set("f", "json")
		resp, err := hc.PostForm(srv.PortalURL()+"/sharing/rest/"+p, f)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if v["error"] != nil {
			t.Fatalf("%s: %v", p, v["error"])
		}
		return v
	}
	tok := post("generateToken", url.Values{"username": {user.Username}, "password": {user.Password}, "client": {"referer"}, "referer": {"test"}})
	form.Set("token", tok["token"].(string))
	return post(path, form)
}

// TestIncrementalSeesMetadataChanges backs up an org, then changes only
// the title and description of a hosted feature layer whose data has not
// been edited for days (and only the sharing of another item): the
// modified_within run must export the layer again with its new item JSON,
// and record the new sharing. Before, the layer's old data edit date
// replaced its item date and the change was skipped as "unchanged".
func TestIncrementalSeesMetadataChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, err := sim.Start(e2eOrg(sim.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	code, full := e2eRun(t, srv, dir, "")
	if code != exitOK {
		t.Fatalf("full run: exit %d: %+v", code, full.Counts)
	}

	// A hosted feature layer, not a view nor a view's source, exported
	// by the full run, untouched (item and data) for more than the window.
	old := time.Now().Add(-3 * 24 * time.Hour).UnixMilli()
	o := srv.Org()
	o.Mu.RLock()
	viewed := map[string]bool{}
	for _, it := range o.Items {
		if it.Service != nil && it.Service.IsView {
			viewed[it.Service.SourceItemID] = true
		}
	}
	var layer, shared *org.Item
	for _, rec := range full.Items {
		it := o.Item(rec.ID)
		if rec.Status != sdk.StatusExported || it == nil || it.Modified > old {
			continue
		}
		if layer == nil && it.Type == "Feature Service" && it.Service != nil && !it.Service.IsView && !viewed[it.ID] && it.Service.LastEdit() < old {
			layer = it
		} else if shared == nil && it.Service == nil && it.Type == "Web Map" {
			shared = it
		}
	}
	var group string
	if shared != nil {
		for _, g := range o.Groups {
			if !strings.Contains(strings.Join(shared.Groups, ","), g.ID) && len(g.Capabilities) == 0 {
				group = g.ID
				break
			}
		}
	}
	var owner, sharedOwner, title string
	if layer != nil && shared != nil {
		owner, sharedOwner, title = layer.Owner, shared.Owner, layer.Title
	}
	o.Mu.RUnlock()
	if layer == nil || shared == nil || group == "" {
		t.Fatalf("the org has no hosted feature layer / web map / group fit for the test (layer %v, map %v, group %q)", layer != nil, shared != nil, group)
	}
	admin, _ := demoAdmin(srv)
	newTitle := title + " (renamed)"
	simPost(t, srv, admin, "content/users/"+owner+"/items/"+layer.ID+"/update",
		url.Values{"title": {newTitle}, "description": {"Described again after the full backup."}})
	simPost(t, srv, admin, "content/users/"+sharedOwner+"/items/"+shared.ID+"/share", url.Values{"groups": {group}})

	time.Sleep(1100 * time.Millisecond) // a new run folder name (seconds)
	code, incr := e2eRun(t, srv, dir, `modified_within = "1d"`)
	if code != exitOK {
		t.Errorf("incremental run: exit %d: %+v", code, incr.Counts)
	}
	got := statuses(incr)[layer.ID]
	if got.Status != sdk.StatusExported || got.Title != newTitle {
		t.Fatalf("hosted feature layer %s with a new title: %s %q (%s), want exported with the new title", layer.ID, got.Status, got.Title, got.Reason)
	}
	var itemJSON string
	for _, a := range incr.Artifacts {
		if a.ItemID == layer.ID && a.Name == "item.json" {
			itemJSON = filepath.Join(incr.Sinks[0].RunPath, filepath.FromSlash(a.Path))
		}
	}
	b, err := os.ReadFile(itemJSON)
	if err != nil || !strings.Contains(string(b), newTitle) || !strings.Contains(string(b), "Described again") {
		t.Errorf("item.json of %s in the incremental run (%v) lacks the new title and description: %.300s", layer.ID, err, b)
	}
	// Sharing does not move an item's date; every run records every
	// listed item's sharing in org/metadata.json.
	var sharing struct {
		Sharing map[string]struct {
			Groups []string `json:"groups"`
		} `json:"sharing"`
	}
	for _, a := range incr.Artifacts {
		if a.ItemID == "" && strings.HasSuffix(a.Path, "metadata.json") {
			b, err := os.ReadFile(filepath.Join(incr.Sinks[0].RunPath, filepath.FromSlash(a.Path)))
			if err == nil {
				err = json.Unmarshal(b, &sharing)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if !strings.Contains(strings.Join(sharing.Sharing[shared.ID].Groups, ","), group) {
		t.Errorf("org metadata of the incremental run: sharing of %s is %v, want group %s added", shared.ID, sharing.Sharing[shared.ID], group)
	}
}

// TestGeoJSONIsWGS84 backs up the org's feature services with the
// feature_query exporter through the plugins and reads the GeoJSON it
// wrote: coordinates must be WGS84 degrees over the simulated city (the
// exporter asks outSR=4326; the simulator used to ignore it and the files
// held Web Mercator metres).
func TestGeoJSONIsWGS84(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 5})
	extra, keep := smallServices(t, srv)
	file := writePipeline(t, dir, simSource(srv, admin, extra)+fmt.Sprintf(`
export "Feature Service" {
  exporter = "feature_query"
}
sink "local" "disk" { path = %q }
run {
  prefix = "GJ"
}
`, filepath.Join(dir, "sink")))
	code, out := runCLI(t, "run", file, "--plain")
	runs, _ := filepath.Glob(filepath.Join(dir, "sink", "GJ_*"))
	if code != exitOK || len(runs) != 1 {
		t.Fatalf("run: exit %d, %d run folders\n%s", code, len(runs), out)
	}
	m := readManifest(t, runs[0])
	checked := 0
	for _, a := range m.Artifacts {
		if a.Format != "GeoJSON" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(runs[0], filepath.FromSlash(a.Path)))
		if err != nil {
			t.Fatal(err)
		}
		var fc struct {
			Features []struct {
				Geometry *struct {
					Coordinates json.RawMessage `json:"coordinates"`
				} `json:"geometry"`
			} `json:"features"`
		}
		if err := json.Unmarshal(b, &fc); err != nil {
			t.Fatalf("%s: %v", a.Path, err)
		}
		for _, f := range fc.Features {
			if f.Geometry == nil {
				continue
			}
			for _, p := range positions(f.Geometry.Coordinates) {
				if p[0] < -123 || p[0] > -122 || p[1] < 37.4 || p[1] > 38 {
					t.Fatalf("%s: position %v is not WGS84 over the simulated city (lon -122.6..-122.1, lat 37.5..37.9)", a.Path, p)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no GeoJSON position written: %+v", m.Counts)
	}
	t.Logf("%d positions checked in the GeoJSON of %v", checked, keep)
	for _, id := range keep {
		if it := statuses(m)[id]; it.Format != "GeoJSON" {
			t.Errorf("manifest: %s %q exported by feature_query has format %q, want GeoJSON", id, it.Title, it.Format)
		}
	}
}

// positions flattens GeoJSON coordinates of any depth into [x, y] pairs.
func positions(raw json.RawMessage) [][2]float64 {
	var pt []float64
	if json.Unmarshal(raw, &pt) == nil && len(pt) >= 2 {
		return [][2]float64{{pt[0], pt[1]}}
	}
	var parts []json.RawMessage
	if json.Unmarshal(raw, &parts) != nil {
		return nil
	}
	var out [][2]float64
	for _, p := range parts {
		out = append(out, positions(p)...)
	}
	return out
}

// smallServices returns source lines that keep only two small feature
// services without attachments (every other one excluded by id), so a
// test exporting them stays short, and the ids kept.
func smallServices(t *testing.T, srv *sim.Server) (string, []string) {
	t.Helper()
	var keep, skip []string
	o := srv.Org()
	o.Mu.RLock()
	for _, it := range o.Items {
		if it.Type != "Feature Service" || it.Service == nil {
			continue
		}
		rows, att, features := 0, false, false
		for _, l := range it.Service.Layers {
			rows += l.RowCount()
			att = att || l.HasAttachments
			features = features || !l.IsTable
		}
		if !it.Service.IsView && !att && features && rows < 2000 && len(keep) < 2 {
			keep = append(keep, it.ID)
		} else {
			skip = append(skip, fmt.Sprintf("%q", it.ID))
		}
	}
	o.Mu.RUnlock()
	if len(keep) == 0 {
		t.Fatal("no small feature service in the simulated org")
	}
	extra := fmt.Sprintf("  types = [\"Feature Service\"]\n  exclude_ids = [%s]", strings.Join(skip, ", "))
	return extra, keep
}

// TestManifestFormatOfFileGeodatabase exports feature services with the
// default chain (File Geodatabase first) through the plugins: the manifest
// must name the data's format, not "JSON" (the format of service.json, the
// first file the exporter writes).
func TestManifestFormatOfFileGeodatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 5, ExportTime: 300 * time.Millisecond})
	extra, keep := smallServices(t, srv)
	file := writePipeline(t, dir, simSource(srv, admin, extra)+fmt.Sprintf(`
export "Feature Service" {}
sink "local" "disk" { path = %q }
run {
  prefix = "FG"
}
`, filepath.Join(dir, "sink")))
	code, out := runCLI(t, "run", file, "--plain")
	runs, _ := filepath.Glob(filepath.Join(dir, "sink", "FG_*"))
	if code != exitOK || len(runs) != 1 {
		t.Fatalf("run: exit %d, %d run folders\n%s", code, len(runs), out)
	}
	m := readManifest(t, runs[0])
	for _, id := range keep {
		it := statuses(m)[id]
		if it.Status != sdk.StatusExported || it.Format != "File Geodatabase" {
			t.Errorf("manifest: %s %q: %s, format %q, want exported as File Geodatabase", id, it.Title, it.Status, it.Format)
		}
	}
}

// TestFailedItemRetriedByNextIncremental: a feature service whose export
// fails in a full run is exported by the next modified_within run although
// it did not change (the pipeline's retry state remembers it), and only
// that once: the run after leaves it out as unchanged again.
func TestFailedItemRetriedByNextIncremental(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	t.Setenv("AGOLPIPE_STATE_DIR", state)
	opts := sim.Options{Items: 40, Seed: 5, ExportTime: 200 * time.Millisecond}
	probe, err := sim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	extra, keep := smallServices(t, probe)
	addr := strings.TrimPrefix(probe.Origin(), "http://")
	probe.Close()
	if len(keep) < 2 {
		t.Fatalf("want two small services, have %v", keep)
	}
	bad := keep[0]

	// The pipeline is the same for every run (same prefix and portal: the
	// same retry state); only the run block's window changes.
	run := func(srv *sim.Server, window string) *report.Run {
		t.Helper()
		admin, _ := demoAdmin(srv)
		t.Setenv("SIM_PASSWORD", admin.Password)
		file := writePipeline(t, dir, simSource(srv, admin, extra)+fmt.Sprintf(`
export "Feature Service" {}
sink "local" "disk" { path = %q }
run {
  prefix = "RT"
  %s
}
`, filepath.Join(dir, "sink"), window))
		before, _ := filepath.Glob(filepath.Join(dir, "sink", "RT_*"))
		code, out := runCLI(t, "run", file, "--plain")
		after, _ := filepath.Glob(filepath.Join(dir, "sink", "RT_*"))
		if len(after) != len(before)+1 {
			t.Fatalf("run (%s): exit %d, no new run folder\n%s", window, code, out)
		}
		sort.Strings(after)
		time.Sleep(1100 * time.Millisecond) // the next run folder's name (seconds)
		return readManifest(t, after[len(after)-1])
	}

	// Full run: the export of one service fails on the portal.
	opts.Listen = addr
	opts.ExportFaults = map[string]sim.ExportFault{bad: sim.ExportFail}
	srv, err := sim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	full := run(srv, "")
	srv.Close()
	if st := statuses(full)[bad]; st.Status != sdk.StatusFailed {
		t.Fatalf("full run: %s is %s (%s), want failed", bad, st.Status, st.Reason)
	}
	if st := statuses(full)[keep[1]]; st.Status != sdk.StatusExported {
		t.Fatalf("full run: %s is %s (%s), want exported", keep[1], st.Status, st.Reason)
	}

	// The portal works again; nothing changed. The incremental run exports
	// the failed service, and only it.
	opts.ExportFaults = nil
	srv, err = sim.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	incr := run(srv, `modified_within = "1d"`)
	if st := statuses(incr)[bad]; st.Status != sdk.StatusExported || st.Format != "File Geodatabase" {
		t.Errorf("incremental run after the failure: %s is %s (%s), want exported", bad, st.Status, st.Reason)
	}
	if st := statuses(incr)[keep[1]]; st.Status != sdk.StatusExcluded {
		t.Errorf("incremental run: unchanged %s is %s, want excluded as unchanged", keep[1], st.Status)
	}
	again := run(srv, `modified_within = "1d"`)
	if st := statuses(again)[bad]; st.Status != sdk.StatusExcluded {
		t.Errorf("second incremental run: %s is %s (%s), want excluded as unchanged once backed up", bad, st.Status, st.Reason)
	}
}

// TestTilePackagesThroughPlugins exports hosted tile layers through the
// plugins: the exportTiles result names an output folder, as ArcGIS
// documents it, and the tiles exporter must download the package that
// folder lists (it used to download whatever the result's value named).
func TestTilePackagesThroughPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	dir := t.TempDir()
	srv, admin := startSim(t, sim.Options{Items: 60, Seed: 5, ExportTime: 300 * time.Millisecond})
	file := writePipeline(t, dir, simSource(srv, admin, `  types = ["Map Service", "Vector Tile Service"]`)+fmt.Sprintf(`
sink "local" "disk" { path = %q }
run {
  prefix = "TL"
}
`, filepath.Join(dir, "sink")))
	code, out := runCLI(t, "run", file, "--plain")
	runs, _ := filepath.Glob(filepath.Join(dir, "sink", "TL_*"))
	if len(runs) != 1 {
		t.Fatalf("run: exit %d, %d run folders\n%s", code, len(runs), out)
	}
	m := readManifest(t, runs[0])
	packages := 0
	for _, a := range m.Artifacts {
		if !strings.Contains(a.Format, "Tile Package") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(runs[0], filepath.FromSlash(a.Path)))
		if err != nil || !strings.HasPrefix(string(b), "PK") {
			t.Errorf("%s (%s): %d bytes starting %.8q (%v), want a package", a.Path, a.Format, len(b), b, err)
		}
		if it := statuses(m)[a.ItemID]; it.Format != a.Format {
			t.Errorf("item %s: manifest format %q, its package is %q", a.ItemID, it.Format, a.Format)
		}
		packages++
	}
	if packages == 0 {
		t.Fatalf("no tile package exported (exit %d): %+v", code, m.Counts)
	}
}
