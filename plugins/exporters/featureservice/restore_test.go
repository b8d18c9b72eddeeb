package featureservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/plugins/exporters/simhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sim"
)

// restoreHost serves a recorded export's artifacts to Restore, as the
// engine serves a run's.
type restoreHost struct {
	*simhost.Host
	rec *simhost.Recorder
}

func (h restoreHost) ReadArtifact(_ context.Context, name string) (io.ReadCloser, error) {
	a, ok := h.rec.Get(name)
	if !ok {
		return nil, sdk.NotFound("no artifact %s", name)
	}
	return io.NopCloser(bytes.NewReader(a.Data)), nil
}

func restoreRequest(env *simhost.Env, it sdk.Item, rec *simhost.Recorder) sdk.RestoreRequest {
	req := sdk.RestoreRequest{Item: it, RunID: env.RunID, RestoreID: "r1", Mark: "agolpipe-restore-r1", Target: env.Org,
		Owner: env.Org.Username, Mode: sdk.RestoreNew, Remap: map[string]string{}}
	for _, a := range rec.Artifacts() {
		req.Artifacts = append(req.Artifacts, sdk.RestoreArtifact{Name: a.Name, Size: a.Bytes, SHA256: a.SHA256, Format: a.Format})
	}
	return req
}

// rows returns the layer's rows (attributes without OBJECTID) in order.
func rows(t *testing.T, env *simhost.Env, svcURL string, lid int) []string {
	t.Helper()
	var q struct {
		Features []struct {
			Attributes map[string]any `json:"attributes"`
			Geometry   any            `json:"geometry"`
		} `json:"features"`
	}
	v := url.Values{"where": {"1=1"}, "outFields": {"*"}, "resultRecordCount": {"2000"}}
	if err := arcgisrest.GetJSON(context.Background(), env.Host.Portal, arcgisrest.JSON(svcURL+"/"+itoa(lid)+"/query", v), &q); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range q.Features {
		delete(f.Attributes, "OBJECTID")
		b, _ := json.Marshal(f)
		out = append(out, string(b))
	}
	return out
}

// alias is a field's alias in the layer 0 JSON.
func alias(t *testing.T, env *simhost.Env, svcURL, field string) string {
	t.Helper()
	var l struct {
		Fields []struct{ Name, Alias string } `json:"fields"`
	}
	if err := arcgisrest.GetJSON(context.Background(), env.Host.Portal, arcgisrest.JSON(svcURL+"/0", nil), &l); err != nil {
		t.Fatal(err)
	}
	for _, f := range l.Fields {
		if f.Name == field {
			return f.Alias
		}
	}
	return ""
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestRestoreNewAndInPlace(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 80, Seed: 11, ExportTime: 20 * time.Millisecond})
	var it sdk.Item
	for _, c := range hosted(t, env) {
		env.Srv.Org().Mu.RLock()
		svc := env.Srv.Org().Item(c.ID).Service
		l := svc.Layers[0]
		ok := !svc.SyncEnabled && l.HasAttachments && l.Rows > 5 && l.Rows < 1500 && !l.IsTable
		env.Srv.Org().Mu.RUnlock()
		if ok {
			it = c
			break
		}
	}
	if it.ID == "" {
		t.Fatal("no hosted service with attachments in the org")
	}
	e := exporter(t)
	rec := simhost.NewRecorder()
	if _, err := e.Export(context.Background(), env.Request(it), env.Host, rec); err != nil {
		t.Fatal(err)
	}
	backupRows := rows(t, env, it.URL, 0)
	host := restoreHost{env.Host, rec}

	// New: published next to the original, rows and attachments equal.
	res, err := e.Restore(context.Background(), restoreRequest(env, it, rec), host)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != sdk.ActionCreate || res.NewItemID == "" || res.NewItemID == it.ID || res.Remap[it.ID] != res.NewItemID {
		t.Fatalf("restore new: %+v", res)
	}
	newURL := res.Remap[strings.TrimRight(it.URL, "/")]
	if newURL == "" {
		t.Fatalf("no service URL in the remap: %v", res.Remap)
	}
	if got := rows(t, env, newURL, 0); strings.Join(got, "\n") != strings.Join(backupRows, "\n") {
		t.Errorf("restored rows differ from the backup's (%d vs %d)", len(got), len(backupRows))
	}
	var newItem struct {
		Title        string   `json:"title"`
		TypeKeywords []string `json:"typeKeywords"`
	}
	_ = arcgisrest.GetJSON(context.Background(), env.Host.Portal, arcgisrest.JSON("content/items/"+res.NewItemID, nil), &newItem)
	if newItem.Title != it.Title || !strings.Contains(strings.Join(newItem.TypeKeywords, ","), "agolpipe-restore-r1") {
		t.Errorf("restored item: %+v", newItem)
	}
	if left := env.Srv.Org(); left != nil {
		left.Mu.RLock()
		for _, x := range left.Items {
			if !x.Deleted && strings.HasPrefix(x.Title, "agolpipe-restore ") {
				t.Errorf("temporary upload %s left in the org", x.ID)
			}
		}
		left.Mu.RUnlock()
	}

	// In place: delete and edit rows, then overwrite: the backup's rows,
	// same item id and URL.
	edit := url.Values{"deletes": {"1,2"}, "updates": {`[{"attributes":{"OBJECTID":3,"NAME":"vandalised"}}]`}}
	var ed map[string]any
	if err := arcgisrest.GetJSON(context.Background(), env.Host.Portal, arcgisrest.JSONPost(it.URL+"/0/applyEdits", edit), &ed); err != nil {
		t.Fatal(err)
	}
	// ...and someone renames a field's alias: the restore puts the
	// backup's back (only that field is sent).
	adm := strings.Replace(it.URL, "/rest/services/", "/rest/admin/services/", 1)
	if err := arcgisrest.GetJSON(context.Background(), env.Host.Portal, arcgisrest.JSONPost(adm+"/0/updateDefinition",
		url.Values{"updateDefinition": {`{"fields":[{"name":"NAME","alias":"Defaced"}]}`}}), &ed); err != nil {
		t.Fatal(err)
	}
	if alias(t, env, it.URL, "NAME") != "Defaced" {
		t.Fatal("the alias change did not land")
	}
	req := restoreRequest(env, it, rec)
	req.Mode, req.TargetItemID = sdk.RestoreOverwrite, it.ID
	res, err = e.Restore(context.Background(), req, host)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != sdk.ActionOverwrite || res.NewItemID != it.ID {
		t.Fatalf("restore in place: %+v", res)
	}
	if got := rows(t, env, it.URL, 0); strings.Join(got, "\n") != strings.Join(backupRows, "\n") {
		t.Errorf("rows after the in-place restore differ from the backup's (%d vs %d)", len(got), len(backupRows))
	}
	if got := alias(t, env, it.URL, "NAME"); got != "Name" {
		t.Errorf("alias of NAME after the in-place restore: %q, the backup's is \"Name\"", got)
	}
	env.Srv.Org().Mu.RLock()
	cur := env.Srv.Org().Item(it.ID)
	sameURL := strings.HasSuffix(it.URL, cur.URL)
	hasMark := strings.Contains(strings.Join(cur.TypeKeywords, ","), "agolpipe-restore")
	env.Srv.Org().Mu.RUnlock()
	if !sameURL || hasMark {
		t.Errorf("in place: URL kept %v, marked %v (an overwritten item must not carry the restore's mark)", sameURL, hasMark)
	}
}

// TestRestoreLargeInParts restores a service whose File Geodatabase is
// above the single-request upload limit: it goes up in parts (addItem
// multipart, addPart, commit), and the published rows match counts.json.
func TestRestoreLargeInParts(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 300, Seed: 2, ExportTime: 20 * time.Millisecond})
	var it sdk.Item
	for _, c := range hosted(t, env) {
		env.Srv.Org().Mu.RLock()
		svc := env.Srv.Org().Item(c.ID).Service
		rows := 0
		for _, l := range svc.Layers {
			rows += l.Rows
		}
		env.Srv.Org().Mu.RUnlock()
		if rows > 32000 && rows < 90000 && !svc.SyncEnabled {
			it = c
			break
		}
	}
	if it.ID == "" {
		t.Fatal("no hosted service with 32,000 to 90,000 rows in the org")
	}
	e := exporter(t)
	rec := simhost.NewRecorder()
	if _, err := e.Export(context.Background(), env.Request(it), env.Host, rec); err != nil {
		t.Fatal(err)
	}
	if z, _ := rec.Get("data.gdb.zip"); z.Bytes <= exportkit.SinglePartMax {
		t.Fatalf("the export is %d bytes, not above the single-request limit", z.Bytes)
	}
	res, err := e.Restore(context.Background(), restoreRequest(env, it, rec), restoreHost{env.Host, rec})
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != sdk.ActionCreate || res.NewItemID == "" {
		t.Fatalf("restore: %+v", res)
	}
	parts := 0
	for _, r := range env.Srv.Requests() {
		if r.Endpoint == "addPart" && r.Status == 200 {
			parts++
		}
	}
	if parts < 2 {
		t.Errorf("%d parts uploaded, want the file in parts", parts)
	}
}

// TestRestoreInPlaceWithoutTruncate: a sync-enabled service refuses
// truncate (supportsTruncate false), so the in-place restore empties its
// layers with deletes before appending the backup's rows.
func TestRestoreInPlaceWithoutTruncate(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 80, Seed: 11, ExportTime: 20 * time.Millisecond})
	var it sdk.Item
	for _, c := range hosted(t, env) {
		env.Srv.Org().Mu.RLock()
		svc := env.Srv.Org().Item(c.ID).Service
		l := svc.Layers[0]
		ok := svc.SyncEnabled && l.Rows > 5 && l.Rows < 3000 && !l.IsTable
		env.Srv.Org().Mu.RUnlock()
		if ok {
			it = c
			break
		}
	}
	if it.ID == "" {
		t.Fatal("no sync-enabled hosted service in the org")
	}
	e := exporter(t)
	rec := simhost.NewRecorder()
	if _, err := e.Export(context.Background(), env.Request(it), env.Host, rec); err != nil {
		t.Fatal(err)
	}
	backupRows := rows(t, env, it.URL, 0)
	var ed map[string]any
	if err := arcgisrest.GetJSON(context.Background(), env.Host.Portal, arcgisrest.JSONPost(it.URL+"/0/applyEdits", url.Values{"deletes": {"1,2"}}), &ed); err != nil {
		t.Fatal(err)
	}
	req := restoreRequest(env, it, rec)
	req.Mode, req.TargetItemID = sdk.RestoreOverwrite, it.ID
	res, err := e.Restore(context.Background(), req, restoreHost{env.Host, rec})
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != sdk.ActionOverwrite {
		t.Fatalf("restore in place: %+v", res)
	}
	if got := rows(t, env, it.URL, 0); strings.Join(got, "\n") != strings.Join(backupRows, "\n") {
		t.Errorf("rows after the in-place restore differ from the backup's (%d vs %d)", len(got), len(backupRows))
	}
	truncates := 0
	for _, r := range env.Srv.Requests() {
		if r.Endpoint == "truncate" {
			truncates++
		}
	}
	if truncates != 0 {
		t.Errorf("%d truncate requests sent to a service that does not support truncate", truncates)
	}
}
