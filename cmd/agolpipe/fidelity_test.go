package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
