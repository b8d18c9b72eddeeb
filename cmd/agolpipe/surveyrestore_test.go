package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/restore"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

// formPackage builds a Survey123 form package as Survey123 Connect
// publishes it: the survey's .info (serviceInfo: the results service's
// item id and URL), the XForm (its submission URL), the XLSForm (the
// submission_url in its settings sheet, a zip of XML itself) and a media
// file that must pass through untouched.
func formPackage(t *testing.T, name, svcID, svcURL string) []byte {
	t.Helper()
	var xlsx bytes.Buffer
	xw := zip.NewWriter(&xlsx)
	for n, body := range map[string]string{
		"[Content_Types].xml":  `<?xml version="1.0"?><Types/>`,
		"xl/sharedStrings.xml": `<?xml version="1.0"?><sst><si><t>form_title</t></si><si><t>submission_url</t></si><si><t>` + svcURL + `/0</t></si></sst>`,
	} {
		w, _ := xw.Create(n)
		_, _ = io.WriteString(w, body)
	}
	if err := xw.Close(); err != nil {
		t.Fatal(err)
	}
	media := make([]byte, 4096)
	for i := range media {
		media[i] = byte(i*7 + i>>5)
	}
	copy(media[100:], svcID) // binary content is never rewritten
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range []struct {
		name string
		body []byte
	}{
		{"esriinfo/" + name + ".info", []byte(`{"displayInfo":{"style":{}},"serviceInfo":{"itemId":"` + svcID + `","url":"` + svcURL + `"},"name":"` + name + `"}`)},
		{"esriinfo/" + name + ".xml", []byte(`<h:html><h:head><model><submission action="` + svcURL + `/0" method="post"/></model></h:head></h:html>`)},
		{"esriinfo/" + name + ".xlsx", xlsx.Bytes()},
		{"esriinfo/media/header.bin", media},
	} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// zipText is every entry of a zip (nested zips opened) as name: content.
func zipText(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("entry %s: %v", f.Name, err)
		}
		if strings.HasSuffix(f.Name, ".xlsx") {
			for k, v := range zipText(t, body) {
				out[f.Name+"!"+k] = v
			}
			continue
		}
		out[f.Name] = string(body)
	}
	return out
}

// TestRestoreSurveyForms restores a Survey123 form from org A into an empty
// org B through the binary: its results service comes first (pulled in as
// its dependency), the form is uploaded as a Form item with its
// properties, resources, thumbnail and metadata, its package and
// properties name B's service instead of A's, and it is linked
// (Survey2Service) to B's service. Restored again it is identical (skip);
// changed in B, --overwrite puts the backup back in place after a safety
// copy, and undo brings the changed form back, links included; undo of the
// first restore removes the form and its service.
func TestRestoreSurveyForms(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	var formID, svcID, svcURL, dataID string
	var pkgA []byte
	_, b, aFile, bFile := restoreOrgsPrep(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true}, func(a *sim.Server) {
		o := a.Org()
		o.Mu.Lock()
		defer o.Mu.Unlock()
		for _, it := range o.Items {
			if it.Type != "Form" {
				continue
			}
			for _, r := range it.Related {
				if r.Type == "Survey2Service" {
					formID, svcID = it.ID, r.To
				}
			}
			if formID == "" {
				continue
			}
			svc := o.Item(svcID)
			svcURL = org.AbsURL(a.Origin(), svc.URL)
			pkgA = formPackage(t, "inspection", svcID, svcURL)
			it.Data, it.Body, it.Size, it.Name = org.DataStored, pkgA, int64(len(pkgA)), "inspection.zip"
			it.Properties = json.RawMessage(`{"serviceItemId":"` + svcID + `","settings":{"openMode":"new"}}`)
			// The form also reads another layer (Survey2Data), which its
			// package does not name.
			for _, x := range o.Items {
				if x.Type == "Feature Service" && x.ID != svcID && x.Service != nil && !x.Service.IsView {
					dataID = x.ID
					it.Related = append(it.Related, org.Relationship{Type: "Survey2Data", To: x.ID})
					break
				}
			}
			return
		}
	})
	if formID == "" || dataID == "" {
		t.Fatalf("org A has no form linked to a survey service (%q) or no other feature service (%q)", formID, dataID)
	}

	// The plan: the form's service is pulled in and comes first.
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--type", "Form", "--to", bFile, "--dry-run")
	svcAt, formAt := strings.Index(out, "create    "+svcID), strings.Index(out, "create    "+formID)
	if code != exitOK || svcAt < 0 || formAt < 0 || svcAt > formAt || !strings.Contains(out, "[dependency of "+formID+"]") {
		t.Fatalf("the plan must create service %s (a dependency of form %s) before the form: exit %d\n%s", svcID, formID, code, out)
	}
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--type", "Form", "--to", bFile, "--yes")
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	rid := rep.RestoreID
	var newForm, newSvc string
	for _, e := range rep.Items {
		if e.ID == formID && e.Outcome == restore.Restored {
			newForm = e.NewItemID
		}
		if e.ID == svcID && e.Outcome == restore.Restored {
			newSvc = e.NewItemID
		}
	}
	newData := rep.Remap[dataID]
	if newForm == "" || newSvc == "" || rep.Remap[svcURL] == "" || newData == "" {
		t.Fatalf("form %s -> %q, service %s -> %q (URL %s -> %q): both must be restored\n%s", formID, newForm, svcID, newSvc, svcURL, rep.Remap[svcURL], out)
	}
	newURL := rep.Remap[svcURL]

	type formState struct {
		title, name string
		body        []byte
		props       string
		links       []org.Relationship
		res         []string
		keywords    []string
		deleted     bool
	}
	state := func(id string) formState {
		o := b.Org()
		o.Mu.RLock()
		defer o.Mu.RUnlock()
		it := o.Item(id)
		if it == nil {
			return formState{deleted: true}
		}
		st := formState{title: it.Title, name: it.Name, body: slices.Clone(it.Body), props: string(it.Properties),
			links: slices.Clone(it.Related), keywords: slices.Clone(it.TypeKeywords), deleted: it.Deleted}
		for _, r := range it.Resources {
			st.res = append(st.res, r.Path+" "+string(r.Body))
		}
		if it.Type != "Form" {
			t.Errorf("restored form %s is a %q item", id, it.Type)
		}
		return st
	}
	got := state(newForm)
	if !slices.Contains(got.links, org.Relationship{Type: "Survey2Service", To: newSvc}) || !slices.Contains(got.links, org.Relationship{Type: "Survey2Data", To: newData}) || len(got.links) != 2 {
		t.Errorf("B's form %s links %v, want Survey2Service to B's service %s and Survey2Data to %s", newForm, got.links, newSvc, newData)
	}
	if !strings.Contains(got.props, newSvc) || strings.Contains(got.props, svcID) {
		t.Errorf("B's form properties %s do not name B's service %s instead of A's %s", got.props, newSvc, svcID)
	}
	if got.name != "inspection.zip" || !slices.Contains(got.keywords, restore.MarkPrefix+rid) {
		t.Errorf("B's form: file name %q, keywords %v", got.name, got.keywords)
	}
	// The package names B's service wherever A's named A's; everything
	// else is A's, entry for entry.
	textA, textB := zipText(t, pkgA), zipText(t, got.body)
	if len(textA) != len(textB) {
		t.Errorf("B's form package has %d entries, A's %d", len(textB), len(textA))
	}
	for n, a := range textA {
		want := strings.NewReplacer(svcURL, newURL, svcID, newSvc).Replace(a)
		if strings.HasSuffix(n, ".bin") {
			want = a
		}
		if textB[n] != want {
			t.Errorf("B's form package entry %s:\n got %.300q\nwant %.300q", n, textB[n], want)
		}
	}
	if !strings.Contains(textB["esriinfo/inspection.info"], newURL) || !strings.Contains(textB["esriinfo/inspection.xlsx!xl/sharedStrings.xml"], newURL) {
		t.Errorf("B's form package does not name B's service %s: %v", newURL, textB)
	}
	// Resources: the JSON ones name B's service.
	if len(got.res) == 0 {
		t.Error("B's form has no resources")
	}
	for _, r := range got.res {
		if strings.Contains(r, svcID) {
			t.Errorf("B's form resource still names A's service %s: %.200s", svcID, r)
		}
	}

	// Again: the copy is found and identical.
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--type", "Form", "--to", bFile, "--overwrite", "--dry-run")
	if code != exitOK || !strings.Contains(out, "skip      "+formID) {
		t.Fatalf("restored again, the form must be identical (skip): exit %d\n%s", code, out)
	}

	// Someone changes B's form: another title, file and an extra link.
	var other string
	o := b.Org()
	o.Mu.Lock()
	for _, it := range o.Items {
		if it.ID != newForm && it.ID != newSvc && !it.Deleted {
			other = it.ID
			break
		}
	}
	it := o.Item(newForm)
	edited := formPackage(t, "inspection", newSvc, newURL+"?edited")
	it.Title, it.Body, it.Size = "Edited in B", edited, int64(len(edited))
	it.Modified = time.Now().UnixMilli() // as ArcGIS stamps an edit
	it.Related = append(it.Related, org.Relationship{Type: "Survey2Data", To: other})
	o.Version++
	o.Mu.Unlock()
	if other == "" {
		t.Fatal("no other item in B to link the form to")
	}
	editedState := state(newForm)
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", formID, "--to", bFile, "--overwrite", "--yes")
	if code != exitOK || !strings.Contains(out, "overwrite "+formID) {
		t.Fatalf("overwrite of the changed form: exit %d\n%s", code, out)
	}
	over := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	if !slices.ContainsFunc(over.Safety, func(sc restore.SafetyCopy) bool { return sc.ItemID == newForm && sc.Exporter == "survey" }) {
		t.Fatalf("the overwrite took safety copies %+v, none of form %s", over.Safety, newForm)
	}
	back := state(newForm)
	if back.title != got.title || !bytes.Equal(back.body, got.body) || !slices.Equal(back.links, got.links) {
		t.Errorf("after --overwrite B's form is %q, links %v, package equal %v; want %q, links %v", back.title, back.links, bytes.Equal(back.body, got.body), got.title, got.links)
	}
	if !slices.Contains(back.keywords, restore.MarkPrefix+rid) {
		t.Errorf("the overwrite in place lost the first restore's mark: %v", back.keywords)
	}

	// Undo of the overwrite: the form as it was edited, link included.
	if code, out := runCLI(t, "restore", "undo", aFile, over.RestoreID, "--to", bFile, "--yes"); code != exitOK {
		t.Fatalf("undo of the overwrite: exit %d\n%s", code, out)
	}
	undone := state(newForm)
	slices.SortFunc(undone.links, func(x, y org.Relationship) int { return strings.Compare(x.Type+x.To, y.Type+y.To) })
	slices.SortFunc(editedState.links, func(x, y org.Relationship) int { return strings.Compare(x.Type+x.To, y.Type+y.To) })
	if undone.title != editedState.title || !bytes.Equal(undone.body, editedState.body) || !slices.Equal(undone.links, editedState.links) || undone.deleted {
		t.Errorf("after undo B's form is %q, links %v, package as edited %v; want %q, links %v", undone.title, undone.links, bytes.Equal(undone.body, editedState.body), editedState.title, editedState.links)
	}

	// Without its service in the restore (--no-dependencies), and the
	// copy the first restore made of it gone from B, overwritten, the form
	// would submit to A's service: it cannot, and is left alone.
	setDeleted := func(id string, v bool) {
		o.Mu.Lock()
		o.Item(id).Deleted = v
		o.Version++
		o.Mu.Unlock()
	}
	setDeleted(newSvc, true)
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", formID, "--no-dependencies", "--to", bFile, "--overwrite", "--yes")
	setDeleted(newSvc, false)
	if code != exitOK || !strings.Contains(out, "cannot    "+formID) || !strings.Contains(out, "submits to service "+svcID) {
		t.Fatalf("overwrite without the service must be refused (cannot): exit %d\n%s", code, out)
	}
	if now := state(newForm); !bytes.Equal(now.body, undone.body) || now.title != undone.title {
		t.Errorf("the refused overwrite changed B's form: %q", now.title)
	}
	// With its service but not the layer it reads (nor that layer's copy
	// in B), the backup's Survey2Data link cannot be resolved: the form
	// keeps the links it has.
	setDeleted(newData, true)
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", formID, "--item", svcID, "--no-dependencies", "--to", bFile, "--overwrite", "--yes")
	setDeleted(newData, false)
	if code != exitOK || !strings.Contains(out, "overwrite "+formID) {
		t.Fatalf("overwrite with the service: exit %d\n%s", code, out)
	}
	kept := state(newForm)
	for _, want := range []org.Relationship{{Type: "Survey2Service", To: newSvc}, {Type: "Survey2Data", To: newData}} {
		if !slices.Contains(kept.links, want) {
			t.Errorf("restored without the layer it reads, the form lost its link %v: %v", want, kept.links)
		}
	}
	if !bytes.Equal(kept.body, got.body) {
		t.Error("the overwrite with its service did not put back the package naming B's service")
	}

	// Edited again in B, and restored without its service and layer
	// (--no-dependencies): B holds the copies the first restore made of
	// them, which the form is led to (the plan finds them as it finds the
	// copies it restores).
	o.Mu.Lock()
	o.Item(newForm).Title = "Edited in B again"
	o.Item(newForm).Modified = time.Now().UnixMilli()
	o.Version++
	o.Mu.Unlock()
	code, out = runCLI(t, "restore", aFile, "--run", "latest", "--item", formID, "--no-dependencies", "--to", bFile, "--overwrite", "--yes")
	if code != exitOK || !strings.Contains(out, "overwritten "+formID) {
		t.Fatalf("overwrite without the service, whose copy B holds: exit %d\n%s", code, out)
	}
	alone := state(newForm)
	for _, want := range []org.Relationship{{Type: "Survey2Service", To: newSvc}, {Type: "Survey2Data", To: newData}} {
		if !slices.Contains(alone.links, want) {
			t.Errorf("overwritten without its service and layer, B's form lost its link %v to their copies in B: %v", want, alone.links)
		}
	}
	if !bytes.Equal(alone.body, got.body) || alone.title != got.title {
		t.Errorf("overwritten without its service, B's form is %q and its package names B's service %v", alone.title, bytes.Equal(alone.body, got.body))
	}

	// Undo of the first restore removes the form and its service.
	if code, out := runCLI(t, "restore", "undo", aFile, rid, "--to", bFile, "--yes", "--force"); code != exitOK {
		t.Fatalf("undo of the restore: exit %d\n%s", code, out)
	}
	if !state(newForm).deleted {
		t.Errorf("undo left the restored form %s", newForm)
	}
	o.Mu.RLock()
	svcLeft := o.Item(newSvc) != nil && !o.Item(newSvc).Deleted
	o.Mu.RUnlock()
	if svcLeft {
		t.Errorf("undo left the restored service %s", newSvc)
	}
}

// TestRestoreLinksToItemsTheTargetHas restores a deleted form and a deleted
// web map into their own org, whose services are still there: their
// relationships (the form's Survey2Service, the web map's Map2Service) go
// to those services, which the restore does not touch. They were lost with
// "that item is not restored".
func TestRestoreLinksToItemsTheTargetHas(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	var formID, svcID, mapID, mapSvc string
	a, _, aFile, _ := restoreOrgsPrep(t, dir, sinkA, sim.Options{Items: 60, Seed: 12, Empty: true}, func(a *sim.Server) {
		o := a.Org()
		o.Mu.Lock()
		defer o.Mu.Unlock()
		for _, it := range o.Items {
			switch {
			case it.Type == "Form" && formID == "" && len(it.Related) > 0:
				formID, svcID = it.ID, it.Related[0].To
			case it.Type == "Web Map" && mapID == "" && len(it.Refs) > 0 && o.Item(it.Refs[0]) != nil && o.Item(it.Refs[0]).Type == "Feature Service":
				// ArcGIS links a web map to the services it shows.
				mapID, mapSvc = it.ID, it.Refs[0]
				it.Related = append(it.Related, org.Relationship{Type: "Map2Service", To: mapSvc})
			}
		}
	})
	if formID == "" || mapID == "" {
		t.Fatalf("org A: form %q, web map on a feature service %q", formID, mapID)
	}
	o := a.Org()
	o.Mu.Lock()
	o.Item(formID).Deleted, o.Item(mapID).Deleted = true, true
	o.Version++
	o.Mu.Unlock()
	code, out := runCLI(t, "restore", aFile, "--run", "latest", "--item", formID, "--item", mapID, "--yes")
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	newID := map[string]string{}
	for _, e := range rep.Items {
		if e.Outcome != restore.Restored {
			t.Errorf("item %s (%s): %s %s %s", e.ID, e.Type, e.Outcome, e.Reason, e.Error)
		}
		newID[e.ID] = e.NewItemID
		for _, w := range e.Warnings {
			if strings.Contains(w, "not re-created") {
				t.Errorf("item %s: %s", e.ID, w)
			}
		}
	}
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	for old, want := range map[string]org.Relationship{formID: {Type: "Survey2Service", To: svcID}, mapID: {Type: "Map2Service", To: mapSvc}} {
		var rel []org.Relationship
		if it := o.Item(newID[old]); it != nil {
			rel = it.Related
		}
		if !slices.Contains(rel, want) {
			t.Errorf("item %s restored as %s: relationships %v, want %v", old, newID[old], rel, want)
		}
	}
}
