package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// portalClient talks to the simulator as a user, the way a GIS
// administrator's other tools would, to change and inspect the org around
// a restore.
type portalClient struct {
	t     *testing.T
	srv   *sim.Server
	token string
}

func newPortalClient(t *testing.T, srv *sim.Server, u sim.User) *portalClient {
	c := &portalClient{t: t, srv: srv}
	v := c.call(http.MethodPost, srv.PortalURL()+"/sharing/rest/generateToken", url.Values{"username": {u.Username}, "password": {u.Password}, "client": {"referer"}, "referer": {"test"}})
	c.token, _ = v["token"].(string)
	if c.token == "" {
		t.Fatalf("generateToken: %v", v)
	}
	return c
}

func (c *portalClient) raw(method, u string, form url.Values) []byte {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if c.token != "" {
		form.Set("token", c.token)
	}
	var resp *http.Response
	var err error
	if method == http.MethodGet {
		resp, err = http.Get(u + "?" + form.Encode())
	} else {
		resp, err = http.PostForm(u, form)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *portalClient) call(method, u string, form url.Values) map[string]any {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("f", "json")
	var v map[string]any
	b := c.raw(method, u, form)
	if err := json.Unmarshal(b, &v); err != nil {
		c.t.Fatalf("%s: not JSON: %.300s", u, b)
	}
	if e, ok := v["error"]; ok {
		c.t.Fatalf("%s: %v", u, e)
	}
	return v
}

// rows returns a layer's rows as sorted JSON lines (attributes without
// OBJECTID, which a truncate and append renumber, and geometry).
func (c *portalClient) rows(svcURL string, lid int) []string {
	c.t.Helper()
	var out []string
	for off := 0; ; off += 1000 {
		v := c.call(http.MethodGet, fmt.Sprintf("%s/%d/query", svcURL, lid), url.Values{"where": {"1=1"}, "outFields": {"*"},
			"resultOffset": {fmt.Sprint(off)}, "resultRecordCount": {"1000"}})
		fs, _ := v["features"].([]any)
		for _, f := range fs {
			m := f.(map[string]any)
			delete(m["attributes"].(map[string]any), "OBJECTID")
			b, _ := json.Marshal(m)
			out = append(out, string(b))
		}
		if v["exceededTransferLimit"] != true {
			break
		}
	}
	sort.Strings(out)
	return out
}

// attachments returns a layer's attachments as "parentGlobalId name size"
// lines, sorted.
func (c *portalClient) attachments(svcURL string, lid int) []string {
	c.t.Helper()
	v := c.call(http.MethodGet, fmt.Sprintf("%s/%d/queryAttachments", svcURL, lid), url.Values{"definitionExpression": {"1=1"}})
	var out []string
	for _, g := range v["attachmentGroups"].([]any) {
		for _, a := range g.(map[string]any)["attachmentInfos"].([]any) {
			m := a.(map[string]any)
			out = append(out, fmt.Sprintf("%v %v %v", m["parentGlobalId"], m["name"], m["size"]))
		}
	}
	sort.Strings(out)
	return out
}

// restoreID reads the restore id from `agolpipe restore`'s first line.
func restoreID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Restore (\S+): run`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no restore id in the output:\n%s", out)
	}
	return m[1]
}

// readRestoreJSON reads restore.json of a restore from the local sink.
func readRestoreJSON(t *testing.T, sinkDir, id string) restore.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sinkDir, restore.Folder(id), "restore.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r restore.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// fsWithAttachments finds a hosted, non-view, not sync-enabled feature
// service whose first layer has attachments and a modest number of rows.
func fsWithAttachments(t *testing.T, srv *sim.Server) (id, svcURL string, rows int) {
	t.Helper()
	o := srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	for _, it := range o.Items {
		if it.Deleted || it.Service == nil || it.Service.Kind != org.FeatureServer || it.Service.IsView || it.Service.SyncEnabled {
			continue
		}
		l := it.Service.Layers[0]
		if !l.IsTable && l.HasAttachments && l.Rows >= 10 && l.Rows <= 800 {
			return it.ID, org.AbsURL(srv.Origin(), it.URL), l.Rows
		}
	}
	t.Fatal("no hosted feature service with attachments in the simulated org")
	return "", "", 0
}

func fsPipeline(t *testing.T, srv *sim.Server, admin sim.User, dir string) string {
	return writePipeline(t, dir, simSource(srv, admin, "")+fmt.Sprintf(`
sink "local" "nas" { path = %q }
run {
  prefix      = "SIM"
  concurrency = 3
  retries     = 1
}
`, filepath.Join(dir, "nas")))
}

// TestRestoreFeatureServiceAsNew backs up an org, then restores a hosted
// feature service with attachments as a new item through the binary: a new
// service whose rows and attachments equal the backup's, with the
// backup's drawing info and field aliases, marked as the restore's.
func TestRestoreFeatureServiceAsNew(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3})
	dir := t.TempDir()
	file := fsPipeline(t, srv, admin, dir)
	id, svcURL, _ := fsWithAttachments(t, srv)
	pc := newPortalClient(t, srv, admin)
	wantRows, wantAtt := pc.rows(svcURL, 0), pc.attachments(svcURL, 0)
	wantLayer := pc.call(http.MethodGet, svcURL+"/0", nil)
	if code, out := runCLI(t, "run", file, "--plain"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	code, out := runCLI(t, "restore", file, "--run", "latest", "--item", id, "--as-new", "--yes")
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	rid := restoreID(t, out)
	rep := readRestoreJSON(t, filepath.Join(dir, "nas"), rid)
	var newID string
	for _, e := range rep.Items {
		if e.ID == id {
			newID = e.NewItemID
		}
	}
	if newID == "" || newID == id {
		t.Fatalf("restore.json has no new item for %s: %+v\n%s", id, rep.Items, out)
	}
	newURL := rep.Remap[svcURL]
	if newURL == "" {
		t.Fatalf("the remap has no entry for %s: %v", svcURL, rep.Remap)
	}
	if got := pc.rows(newURL, 0); strings.Join(got, "\n") != strings.Join(wantRows, "\n") {
		t.Errorf("restored rows differ from the backup's: %d rows, want %d", len(got), len(wantRows))
	}
	if got := pc.attachments(newURL, 0); strings.Join(got, "\n") != strings.Join(wantAtt, "\n") || len(got) == 0 {
		t.Errorf("restored attachments differ from the backup's: %d, want %d", len(got), len(wantAtt))
	}
	layer := pc.call(http.MethodGet, newURL+"/0", nil)
	for _, k := range []string{"drawingInfo", "fields"} {
		a, _ := json.Marshal(layer[k])
		b, _ := json.Marshal(wantLayer[k])
		if string(a) != string(b) {
			t.Errorf("restored layer's %s:\n got %s\nwant %s", k, a, b)
		}
	}
	item := pc.call(http.MethodGet, srv.PortalURL()+"/sharing/rest/content/items/"+newID, nil)
	orig := pc.call(http.MethodGet, srv.PortalURL()+"/sharing/rest/content/items/"+id, nil)
	if item["title"] != orig["title"] || !strings.Contains(fmt.Sprint(item["typeKeywords"]), restore.MarkPrefix+rid) {
		t.Errorf("restored item: title %v (want %v), keywords %v", item["title"], orig["title"], item["typeKeywords"])
	}
	// The undo of a restore that created it deletes it, and nothing else.
	before := len(srv.Org().Items)
	if code, out := runCLI(t, "restore", "undo", file, rid, "--yes"); code != exitOK {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	o := srv.Org()
	o.Mu.RLock()
	gone := o.Item(newID) == nil || o.Item(newID).Deleted
	still := o.Item(id) != nil && !o.Item(id).Deleted
	o.Mu.RUnlock()
	if !gone || !still || len(srv.Org().Items) > before {
		t.Errorf("after undo: restored item deleted %v, original kept %v", gone, still)
	}
}

// TestRestoreFeatureServiceInPlaceAndUndo is the in-place rollback: rows of
// a layer deleted and edited, and a web map's data changed, after the
// backup; restore both in place (--overwrite): the layer's rows are the
// backup's, with its item id and URL unchanged, and the web map's data is
// the backup's; then undo: the edited state is back, byte for byte on
// the item data.
func TestRestoreFeatureServiceInPlaceAndUndo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3})
	dir := t.TempDir()
	file := fsPipeline(t, srv, admin, dir)
	id, svcURL, _ := fsWithAttachments(t, srv)
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
	if mapID == "" {
		t.Fatal("no web map in the org")
	}
	pc := newPortalClient(t, srv, admin)
	backupRows, backupAtt := pc.rows(svcURL, 0), pc.attachments(svcURL, 0)
	if code, out := runCLI(t, "run", file, "--plain"); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, out)
	}
	portal := srv.PortalURL() + "/sharing/rest"
	backupMap := pc.raw(http.MethodGet, portal+"/content/items/"+mapID+"/data", nil)

	// Someone deletes and edits rows, and edits the web map.
	pc.call(http.MethodPost, svcURL+"/0/applyEdits", url.Values{"deletes": {"1,2,3"},
		"updates": {`[{"attributes":{"OBJECTID":4,"NAME":"wrong","STATUS":"CXL"}}]`}})
	mapItem := pc.call(http.MethodGet, portal+"/content/items/"+mapID, nil)
	edited := strings.Replace(string(backupMap), `"`, `"`, 1)
	edited = strings.TrimSuffix(strings.TrimSpace(edited), "}") + `,"editedBy":"someone"}`
	pc.call(http.MethodPost, fmt.Sprintf("%s/content/users/%s/items/%s/update", portal, mapItem["owner"], mapID), url.Values{"text": {edited}})
	editedRows, editedAtt := pc.rows(svcURL, 0), pc.attachments(svcURL, 0)
	editedMap := pc.raw(http.MethodGet, portal+"/content/items/"+mapID+"/data", nil)
	if len(editedRows) != len(backupRows)-3 || string(editedMap) == string(backupMap) {
		t.Fatalf("the edits did not land: %d rows (backup %d)", len(editedRows), len(backupRows))
	}

	code, out := runCLI(t, "restore", file, "--run", "latest", "--item", id, "--item", mapID, "--overwrite", "--no-dependencies", "--yes")
	if code != exitOK {
		t.Fatalf("restore --overwrite: exit %d\n%s", code, out)
	}
	rid := restoreID(t, out)
	t.Logf("restore:\n%s", out)
	if got := pc.rows(svcURL, 0); strings.Join(got, "\n") != strings.Join(backupRows, "\n") {
		t.Errorf("rows after the in-place restore: %d, the backup's %d (or they differ)", len(got), len(backupRows))
	}
	if got := pc.attachments(svcURL, 0); strings.Join(got, "\n") != strings.Join(backupAtt, "\n") {
		t.Errorf("attachments after the in-place restore differ from the backup's: %d vs %d", len(got), len(backupAtt))
	}
	if got := pc.raw(http.MethodGet, portal+"/content/items/"+mapID+"/data", nil); string(got) != string(backupMap) {
		t.Errorf("web map data after the in-place restore is not the backup's")
	}
	item := pc.call(http.MethodGet, portal+"/content/items/"+id, nil)
	if u, _ := item["url"].(string); u != svcURL {
		t.Errorf("the service's URL changed: %v, was %s", u, svcURL)
	}
	rep := readRestoreJSON(t, filepath.Join(dir, "nas"), rid)
	if len(rep.Safety) != 2 {
		t.Fatalf("restore.json lists %d safety copies, want 2: %+v", len(rep.Safety), rep.Safety)
	}
	for _, sc := range rep.Safety {
		if _, err := os.Stat(filepath.Join(dir, "nas", sc.Folder, restore.SafetyFile)); err != nil {
			t.Errorf("safety copy of %s: %v", sc.ItemID, err)
		}
	}

	// Undo: the edited state again.
	code, out = runCLI(t, "restore", "undo", file, rid, "--yes")
	if code != exitOK {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	t.Logf("undo:\n%s", out)
	if got := pc.rows(svcURL, 0); strings.Join(got, "\n") != strings.Join(editedRows, "\n") {
		t.Errorf("rows after undo: %d, the edited state had %d (or they differ)", len(got), len(editedRows))
	}
	if got := pc.attachments(svcURL, 0); strings.Join(got, "\n") != strings.Join(editedAtt, "\n") {
		t.Errorf("attachments after undo differ from the edited state's")
	}
	if got := pc.raw(http.MethodGet, portal+"/content/items/"+mapID+"/data", nil); string(got) != string(editedMap) {
		t.Errorf("web map data after undo is not byte for byte the edited state:\n got %.200s\nwant %.200s", got, editedMap)
	}
	if item := pc.call(http.MethodGet, portal+"/content/items/"+id, nil); item["id"] != id || item["url"] != svcURL {
		t.Errorf("after undo the service is %v at %v", item["id"], item["url"])
	}
	if _, err := os.Stat(filepath.Join(dir, "nas", restore.Folder(rid), "undo.json")); err != nil {
		t.Errorf("undo.json: %v", err)
	}
}

// TestReplaceThenUndo rewrites a service URL in the web maps that use it
// through `agolpipe replace` (plan first, a dry run changes nothing), then
// undoes it: every web map's data is byte for byte what it was.
func TestReplaceThenUndo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts plugin processes")
	}
	srv, admin := startSim(t, sim.Options{Items: 40, Seed: 3})
	dir := t.TempDir()
	file := fsPipeline(t, srv, admin, dir)
	pc := newPortalClient(t, srv, admin)
	portal := srv.PortalURL() + "/sharing/rest"
	var maps []string
	o := srv.Org()
	o.Mu.RLock()
	for _, it := range o.Items {
		if it.Type == "Web Map" && !it.Deleted {
			maps = append(maps, it.ID)
		}
	}
	o.Mu.RUnlock()
	before := map[string]string{}
	find := ""
	for _, id := range maps {
		before[id] = string(pc.raw(http.MethodGet, portal+"/content/items/"+id+"/data", nil))
		if find == "" {
			if m := regexp.MustCompile(`"url":"(http[^"]+/FeatureServer)`).FindStringSubmatch(before[id]); m != nil {
				find = m[1]
			}
		}
	}
	if find == "" {
		t.Fatal("no web map refers to a feature service")
	}
	const repl = "https://gis.example.com/arcgis/rest/services/Moved/FeatureServer"
	using := 0
	for _, d := range before {
		if strings.Contains(d, find) {
			using++
		}
	}

	code, out := runCLI(t, "replace", file, "--find", find, "--replace", repl, "--type", "Web Map", "--dry-run")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("Plan: %d item(s) to change", using)) {
		t.Fatalf("dry run: exit %d, want a plan for %d web maps\n%s", code, using, out)
	}
	for _, id := range maps {
		if got := string(pc.raw(http.MethodGet, portal+"/content/items/"+id+"/data", nil)); got != before[id] {
			t.Fatalf("the dry run changed web map %s", id)
		}
	}

	code, out = runCLI(t, "replace", file, "--find", find, "--replace", repl, "--type", "Web Map", "--yes")
	if code != exitOK {
		t.Fatalf("replace: exit %d\n%s", code, out)
	}
	rid := replaceID(t, out)
	t.Logf("replace:\n%s", out)
	for _, id := range maps {
		got := string(pc.raw(http.MethodGet, portal+"/content/items/"+id+"/data", nil))
		if want := strings.ReplaceAll(before[id], find, repl); got != want {
			t.Errorf("web map %s after replace: not the old data with the URL replaced (and nothing else)", id)
		}
	}
	if rep := readRestoreJSON(t, filepath.Join(dir, "nas"), rid); len(rep.Safety) != using {
		t.Errorf("%d safety copies, want one per changed web map (%d)", len(rep.Safety), using)
	}

	if code, out := runCLI(t, "restore", "undo", file, rid, "--yes"); code != exitOK {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	for _, id := range maps {
		if got := string(pc.raw(http.MethodGet, portal+"/content/items/"+id+"/data", nil)); got != before[id] {
			t.Errorf("web map %s after undo is not byte for byte what it was", id)
		}
	}
}
