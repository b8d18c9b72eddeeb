package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// A CSV is published only with the publishParameters analyze makes of
// it, as ArcGIS does; with them its rows come back.
func TestCSVPublishNeedsAnalyze(t *testing.T) {
	s := startSim(t, Options{ExportTime: 50 * time.Millisecond})
	admin := signIn(t, s, "admin")
	name := admin.user("admin").Username
	src := firstItem(t, s, func(it *org.Item) bool {
		if it.Service == nil || it.Service.Kind != org.FeatureServer || it.Service.IsView || len(it.Service.Layers) != 1 {
			return false
		}
		l := it.Service.Layers[0]
		return !l.IsTable && l.Geometry == "esriGeometryPoint" && l.Rows >= 5 && l.Rows < 2000
	})
	r := admin.post("/sharing/rest/content/users/"+name+"/export", url.Values{"itemId": {src.ID}, "exportFormat": {"CSV"}})
	exp, _ := r["exportItemId"].(string)
	if exp == "" {
		t.Fatalf("export: %v", r)
	}
	waitJob(t, admin, "/sharing/rest/content/users/"+name+"/items/"+exp+"/status", url.Values{"jobId": {r["jobId"].(string)}, "jobType": {"export"}}, "completed")
	_, csv := admin.do(http.MethodGet, "/sharing/rest/content/items/"+exp+"/data", url.Values{})
	add := admin.multipartPost("/sharing/rest/content/users/"+name+"/addItem", map[string]string{"title": "backup csv", "type": "CSV Collection"}, "backup.csv.zip", csv)
	csvID, _ := add["id"].(string)

	bare := admin.post("/sharing/rest/content/users/"+name+"/publish", url.Values{"itemid": {csvID}, "filetype": {"csv"},
		"publishParameters": {`{"name":"From_csv","maxRecordCount":2000}`}})
	if errCode(bare) != 400 {
		t.Fatalf("a CSV published without analyze's publishParameters: %v", bare)
	}
	an := admin.post("/sharing/rest/content/features/analyze", url.Values{"itemid": {csvID}, "filetype": {"csv"}, "f": {"json"}})
	pp, _ := an["publishParameters"].(map[string]any)
	if pp == nil || pp["locationType"] != "coordinates" || pp["latitudeFieldName"] == nil || pp["layerInfo"] == nil {
		t.Fatalf("analyze: %v", an)
	}
	if recs, _ := an["records"].([]any); len(recs) == 0 {
		t.Errorf("analyze answered no sample records: %v", an)
	}
	if e := admin.post("/sharing/rest/content/features/analyze", url.Values{"itemid": {csvID}, "filetype": {"excel"}, "f": {"json"}}); errCode(e) != 400 {
		t.Errorf("analyze of a CSV as excel: %v", e)
	}
	pp["name"] = "From_csv"
	pub := admin.post("/sharing/rest/content/users/"+name+"/publish", url.Values{"itemid": {csvID}, "filetype": {"csv"}, "publishParameters": {mustJSON(t, pp)}})
	svcs, _ := pub["services"].([]any)
	if len(svcs) != 1 {
		t.Fatalf("publish with analyze's publishParameters: %v", pub)
	}
	newURL := strings.TrimPrefix(svcs[0].(map[string]any)["serviceurl"].(string), s.Origin())
	if got := num(admin.get(newURL+"/0/query", "where", "1=1", "returnCountOnly", "true")["count"]); got != src.Service.Layers[0].Rows {
		t.Errorf("published rows %d, want %d", got, src.Service.Layers[0].Rows)
	}
}

// With SearchLag a new item is not found by search until it has aged,
// while its item JSON answers at once.
func TestSearchLag(t *testing.T) {
	s := startSim(t, Options{Items: 20, SearchLag: 300 * time.Millisecond})
	admin := signIn(t, s, "admin")
	name := admin.user("admin").Username
	add := admin.post("/sharing/rest/content/users/"+name+"/addItem", url.Values{"title": {"fresh"}, "type": {"Web Map"}, "typeKeywords": {"lagtest"}, "text": {"{}"}})
	id, _ := add["id"].(string)
	if id == "" {
		t.Fatalf("addItem: %v", add)
	}
	found := func() int {
		return num(admin.get("/sharing/rest/search", "q", `typekeywords:"lagtest"`, "f", "json")["total"])
	}
	if n := found(); n != 0 {
		t.Errorf("a new item is in search at once (%d results)", n)
	}
	if it := admin.get("/sharing/rest/content/items/"+id, "f", "json"); it["id"] != id {
		t.Errorf("the new item's JSON: %v", it)
	}
	time.Sleep(400 * time.Millisecond)
	if n := found(); n != 1 {
		t.Errorf("after the lag search finds %d, want 1", n)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
