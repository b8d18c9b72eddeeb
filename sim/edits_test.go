package sim

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// TestRestoreWriteSide walks what a restore of a hosted feature layer does
// against the simulator: export to a File Geodatabase (rows, fields and
// attachments in the stand-in), publish it as a new service, edit and
// delete rows of the original, truncate it and append the file back, and
// re-apply definitions.
func TestRestoreWriteSide(t *testing.T) {
	s := startSim(t, Options{ExportTime: 50 * time.Millisecond})
	admin := signIn(t, s, "admin")
	name := admin.user("admin").Username
	src := firstItem(t, s, func(it *org.Item) bool {
		if it.Service == nil || it.Service.Kind != org.FeatureServer || it.Service.IsView || it.Service.SyncEnabled {
			return false
		}
		l := it.Service.Layers[0]
		return !l.IsTable && l.HasAttachments && l.Rows >= 20 && l.Rows < 2000
	})
	l0 := src.Service.Layers[0]
	svcURL := strings.TrimPrefix(src.URL, s.Origin())
	admURL := strings.Replace(svcURL, "/rest/services/", "/rest/admin/services/", 1)
	count := func(u string) int {
		return num(admin.get(u+"/0/query", "where", "1=1", "returnCountOnly", "true")["count"])
	}
	attCount := func(u string) int {
		q := admin.get(u+"/0/queryAttachments", "definitionExpression", "1=1")
		n := 0
		for _, g := range q["attachmentGroups"].([]any) {
			n += len(g.(map[string]any)["attachmentInfos"].([]any))
		}
		return n
	}
	wantAtt := attCount(svcURL)
	if wantAtt == 0 {
		t.Fatal("the chosen layer has no attachments")
	}

	// Export: the stand-in carries fields and attachments.
	r := admin.post("/sharing/rest/content/users/"+name+"/export", url.Values{"itemId": {src.ID}, "exportFormat": {"File Geodatabase"}})
	exp, _ := r["exportItemId"].(string)
	if exp == "" {
		t.Fatalf("export: %v", r)
	}
	waitJob(t, admin, "/sharing/rest/content/users/"+name+"/items/"+exp+"/status", url.Values{"jobId": {r["jobId"].(string)}, "jobType": {"export"}}, "completed")
	_, gdb := admin.do(http.MethodGet, "/sharing/rest/content/items/"+exp+"/data", url.Values{})
	files := readZip(t, gdb)
	if n := strings.Count(files["0.attachments.jsonl"], "\n"); n != wantAtt {
		t.Errorf("attachments in the stand-in: %d, want %d", n, wantAtt)
	}
	if !strings.Contains(files["manifest.json"], `"alias":"Status"`) || !strings.Contains(files["manifest.json"], `"codedValues"`) {
		t.Errorf("the stand-in's manifest lacks the field aliases or domains: %.400s", files["manifest.json"])
	}

	// Upload it and publish a new service: rows and attachments come back.
	add := admin.multipartPost("/sharing/rest/content/users/"+name+"/addItem", map[string]string{"title": "backup gdb", "type": "File Geodatabase"}, "backup.gdb.zip", gdb)
	gdbID, _ := add["id"].(string)
	pub := admin.post("/sharing/rest/content/users/"+name+"/publish", url.Values{"itemid": {gdbID}, "filetype": {"fileGeodatabase"},
		"publishParameters": {`{"name":"Restored_copy","maxRecordCount":2000}`}})
	svcs, _ := pub["services"].([]any)
	if len(svcs) != 1 {
		t.Fatalf("publish: %v", pub)
	}
	newURL := strings.TrimPrefix(svcs[0].(map[string]any)["serviceurl"].(string), s.Origin())
	if got := count(newURL); got != l0.Rows {
		t.Errorf("published rows %d, want %d", got, l0.Rows)
	}
	if got := attCount(newURL); got != wantAtt {
		t.Errorf("published attachments %d, want %d", got, wantAtt)
	}
	// The bytes of every attachment are the original's (a JPEG's binary
	// magic included).
	groups := admin.get(svcURL+"/0/queryAttachments", "definitionExpression", "1=1")["attachmentGroups"].([]any)
	for _, g := range groups {
		gm := g.(map[string]any)
		for _, a := range gm["attachmentInfos"].([]any) {
			p := fmt.Sprintf("/0/%d/attachments/%d", num(gm["parentObjectId"]), num(a.(map[string]any)["id"]))
			_, want := admin.do(http.MethodGet, svcURL+p, url.Values{})
			_, got := admin.do(http.MethodGet, newURL+p, url.Values{})
			if !bytes.Equal(got, want) || len(want) == 0 {
				t.Fatalf("published attachment %s: %d bytes, the original %d (or they differ)", p, len(got), len(want))
			}
		}
	}
	if f := fmt.Sprint(admin.get(newURL + "/0")["fields"]); !strings.Contains(f, "alias:Status") {
		t.Errorf("published layer fields lack aliases: %.300s", f)
	}

	// Edit the original: delete two rows, change one.
	ed := admin.post(svcURL+"/0/applyEdits", url.Values{"deletes": {"1,2"}, "updates": {`[{"attributes":{"OBJECTID":3,"NAME":"changed"}}]`}})
	if len(ed["deleteResults"].([]any)) != 2 || len(ed["updateResults"].([]any)) != 1 {
		t.Fatalf("applyEdits: %v", ed)
	}
	if got := count(svcURL); got != l0.Rows-2 {
		t.Errorf("rows after deleting two: %d, want %d", got, l0.Rows-2)
	}
	if q := admin.get(svcURL+"/0/query", "objectIds", "3", "outFields", "*"); !strings.Contains(fmt.Sprint(q["features"]), "NAME:changed") {
		t.Errorf("row 3 after the update: %v", q["features"])
	}
	// A delete of a row that is not there fails the whole request.
	if e := admin.post(svcURL+"/0/applyEdits", url.Values{"deletes": {"1"}}); errCode(e) != 400 {
		t.Errorf("delete of a missing row: %v", e)
	}

	// Truncate, then append the backup: the rows, GlobalIDs and
	// attachments are the backup's again.
	if tr := admin.post(admURL+"/0/truncate", url.Values{}); tr["success"] != true {
		t.Fatalf("truncate: %v", tr)
	}
	if got := count(svcURL); got != 0 {
		t.Errorf("rows after truncate: %d", got)
	}
	ap := admin.post(svcURL+"/0/append", url.Values{"appendItemId": {gdbID}, "appendUploadFormat": {"filegdb"}, "sourceTableName": {l0.Name},
		"upsert": {"false"}, "useGlobalIds": {"true"}, "rollbackOnFailure": {"true"}})
	st, _ := ap["statusUrl"].(string)
	if st == "" {
		t.Fatalf("append: %v", ap)
	}
	waitJob(t, admin, st, url.Values{}, "Completed")
	if got := count(svcURL); got != l0.Rows {
		t.Errorf("rows after append: %d, want %d", got, l0.Rows)
	}
	if got := attCount(svcURL); got != wantAtt {
		t.Errorf("attachments after append: %d, want %d", got, wantAtt)
	}
	q := admin.get(svcURL+"/0/query", "where", "1=1", "outFields", "NAME,GlobalID", "resultRecordCount", "5")
	if strings.Contains(fmt.Sprint(q["features"]), "changed") || !strings.Contains(files["0.jsonl"], q["features"].([]any)[0].(map[string]any)["attributes"].(map[string]any)["GlobalID"].(string)) {
		t.Errorf("appended rows are not the backup's: %v", q["features"])
	}
	// Appending the same GlobalIDs again is refused.
	if e := admin.post(svcURL+"/0/append", url.Values{"appendItemId": {gdbID}, "appendUploadFormat": {"filegdb"}, "sourceTableName": {l0.Name}, "useGlobalIds": {"true"}}); errCode(e) != 400 {
		t.Errorf("append of existing GlobalIDs: %v", e)
	}

	// addAttachment, then its bytes.
	body := []byte("%PDF-1.7 a permit scanned again")
	oid := num(q["features"].([]any)[0].(map[string]any)["attributes"].(map[string]any)["OBJECTID"])
	if oid == 0 {
		q2 := admin.get(svcURL+"/0/query", "where", "1=1", "returnIdsOnly", "true")
		oid = num(q2["objectIds"].([]any)[0])
	}
	aa := postAttachment(t, admin, fmt.Sprintf("%s/0/%d/addAttachment", svcURL, oid), "permit.pdf", body)
	res, _ := aa["addAttachmentResult"].(map[string]any)
	if res["success"] != true {
		t.Fatalf("addAttachment: %v", aa)
	}
	_, got := admin.do(http.MethodGet, fmt.Sprintf("%s/0/%d/attachments/%d", svcURL, oid, num(res["objectId"])), url.Values{})
	if !bytes.Equal(got, body) {
		t.Errorf("added attachment bytes: %q", got)
	}

	// Definitions: service-level keys and a layer's drawing info.
	up := admin.post(admURL+"/updateDefinition", url.Values{"updateDefinition": {`{"editorTrackingInfo":{"enableEditorTracking":false},"capabilities":"Query,Editing,Create,Update,Delete"}`}})
	if up["success"] != true {
		t.Fatalf("updateDefinition: %v", up)
	}
	root := admin.get(svcURL)
	if root["capabilities"] != "Query,Editing,Create,Update,Delete" || fmt.Sprint(root["editorTrackingInfo"]) != "map[enableEditorTracking:false]" {
		t.Errorf("service after updateDefinition: capabilities %v, editorTrackingInfo %v", root["capabilities"], root["editorTrackingInfo"])
	}
	draw := `{"renderer":{"type":"uniqueValue","field1":"STATUS"}}`
	if up := admin.post(admURL+"/0/updateDefinition", url.Values{"updateDefinition": {`{"drawingInfo":` + draw + `}`}}); up["success"] != true {
		t.Fatalf("layer updateDefinition: %v", up)
	}
	if d := fmt.Sprint(admin.get(newURL + "/0")["drawingInfo"]); strings.Contains(d, "uniqueValue") {
		t.Errorf("another service's layer changed: %v", d)
	}
	if d := fmt.Sprint(admin.get(svcURL + "/0")["drawingInfo"]); !strings.Contains(d, "uniqueValue") {
		t.Errorf("drawingInfo after updateDefinition: %v", d)
	}

	// Truncate is refused where supportsTruncate is false (sync enabled).
	synced := firstItem(t, s, func(it *org.Item) bool {
		return it.Service != nil && it.Service.Kind == org.FeatureServer && it.Service.SyncEnabled && !it.Service.IsView
	})
	sURL := strings.Replace(strings.TrimPrefix(synced.URL, s.Origin()), "/rest/services/", "/rest/admin/services/", 1)
	if e := admin.post(sURL+"/0/truncate", url.Values{}); errCode(e) != 400 {
		t.Errorf("truncate of a sync-enabled layer: %v", e)
	}
}

func waitJob(t *testing.T, c *client, p string, q url.Values, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		kv := []string{}
		for k, v := range q {
			kv = append(kv, k, v[0])
		}
		st := c.get(p, kv...)
		if st["status"] == want {
			return
		}
		if s, _ := st["status"].(string); strings.EqualFold(s, "failed") || errCode(st) != 0 || time.Now().After(deadline) {
			t.Fatalf("job at %s: %v", p, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func postAttachment(t *testing.T, c *client, p, file string, content []byte) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("f", "json")
	mw.WriteField("token", c.token)
	fw, _ := mw.CreateFormFile("attachment", file)
	fw.Write(content)
	mw.Close()
	resp, err := http.Post(c.url(p), mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return decode(t, b)
}
