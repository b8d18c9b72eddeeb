package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/core/restore"
)

// TestRestoreReferenceItems: the reference exporter's items (a WMS, a
// document link: skipped at export, their description being the whole
// item) are re-created in an empty org B with their URL, data, thumbnail,
// metadata, folder and sharing; restored again they are identical (skip);
// a copy changed since is refused, overwritten in place with --overwrite
// (after a safety copy), and the undo of that overwrite puts the change
// back.
func TestRestoreReferenceItems(t *testing.T) {
	dir := t.TempDir()
	sinkA := fmt.Sprintf("sink \"local\" \"disk\" { path = %q }\n", filepath.Join(dir, "a", "sink"))
	_, b, aFile, bFile := restoreOrgs(t, dir, sinkA)
	runA := latestRun(t, filepath.Join(dir, "a", "sink"), "A_")
	mA := readManifest(t, runA)
	var refs []report.Item
	types := map[string]bool{}
	for _, it := range mA.Items {
		if it.Exporter == "reference" && !types[it.Type] {
			refs = append(refs, it)
			types[it.Type] = true
		}
	}
	if len(refs) < 2 {
		t.Fatalf("org A has reference items of %d types, want 2 or more", len(refs))
	}
	args := []string{"restore", aFile, "--run", "latest", "--no-dependencies", "--to", bFile}
	for _, it := range refs {
		args = append(args, "--item", it.ID)
	}
	code, out := runCLI(t, append(args, "--yes")...)
	if code != exitOK {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	rep := readRestoreReport(t, filepath.Join(dir, "a", "sink"))
	newID := map[string]string{}
	for _, e := range rep.Items {
		if e.Outcome != restore.Restored {
			t.Errorf("reference item %s (%s): %s %s%s", e.ID, e.Type, e.Outcome, e.Reason, e.Error)
		}
		newID[e.ID] = e.NewItemID
	}
	o := b.Org()
	for _, it := range refs {
		var ij struct {
			Title, Type, URL string
		}
		if err := json.Unmarshal(artifactBytes(t, runA, mA, it.ID, "item.json"), &ij); err != nil {
			t.Fatal(err)
		}
		o.Mu.RLock()
		nb := o.Item(newID[it.ID])
		if nb == nil {
			o.Mu.RUnlock()
			t.Errorf("item %s: no restored item %q in B", it.ID, newID[it.ID])
			continue
		}
		folder := ""
		if nb.FolderID != "" {
			if f := o.User(nb.Owner).Folder(nb.FolderID); f != nil {
				folder = f.Title
			}
		}
		got := struct {
			title, typ, url, folder string
			data, thumb, meta       []byte
		}{nb.Title, nb.Type, nb.URL, folder, nb.Body, nb.ThumbnailBody, nb.MetadataBody}
		o.Mu.RUnlock()
		if got.title != ij.Title || got.typ != ij.Type || got.url != ij.URL || ij.URL == "" || got.folder != it.Folder {
			t.Errorf("item %s in B: %q %s %s folder %q; A: %q %s %s folder %q", it.ID, got.title, got.typ, got.url, got.folder, ij.Title, ij.Type, ij.URL, it.Folder)
		}
		if d := artifactBytes(t, runA, mA, it.ID, "data.json"); d != nil && !bytes.Equal(bytes.TrimSpace(d), bytes.TrimSpace(got.data)) {
			t.Errorf("item %s: data in B differs from the backup's data.json", it.ID)
		}
		if m := artifactBytes(t, runA, mA, it.ID, "metadata.xml"); m != nil && !bytes.Equal(m, got.meta) {
			t.Errorf("item %s: metadata in B differs from the backup's", it.ID)
		}
		for _, a := range mA.Artifacts {
			if a.ItemID == it.ID && strings.HasPrefix(a.Name, "thumbnail.") && !bytes.Equal(artifactBytes(t, runA, mA, it.ID, a.Name), got.thumb) {
				t.Errorf("item %s: thumbnail in B differs from the backup's", it.ID)
			}
		}
		if g, w := sharingB(b, newID[it.ID]), sharingA(t, runA, mA, it.ID); g != w {
			t.Errorf("item %s: shared as %s in B, as %s in A", it.ID, g, w)
		}
	}

	// Again: the copies are identical.
	code, out = runCLI(t, append(args, "--dry-run")...)
	for _, it := range refs {
		if code != exitOK || !strings.Contains(out, "= skip      "+it.ID) {
			t.Fatalf("the second plan does not skip %s as identical: exit %d\n%s", it.ID, code, out)
		}
	}

	// A copy whose URL changed since is refused, then overwritten in
	// place; undo puts the change back.
	changed := refs[0]
	moved := "https://moved.example.org/elsewhere"
	o.Mu.Lock()
	o.Item(newID[changed.ID]).URL = moved
	o.Version++
	o.Mu.Unlock()
	one := []string{"restore", aFile, "--run", "latest", "--no-dependencies", "--to", bFile, "--item", changed.ID}
	code, out = runCLI(t, append(one, "--dry-run")...)
	if code != exitOK || !strings.Contains(out, "! cannot    "+changed.ID) {
		t.Fatalf("the plan for a copy whose URL changed: exit %d\n%s", code, out)
	}
	code, out = runCLI(t, append(one, "--overwrite", "--yes")...)
	if code != exitOK || !strings.Contains(out, "overwritten "+changed.ID) {
		t.Fatalf("overwrite: exit %d\n%s", code, out)
	}
	rid := restoreID(t, out)
	url := func() string {
		o.Mu.RLock()
		defer o.Mu.RUnlock()
		return o.Item(newID[changed.ID]).URL
	}
	var ij struct{ URL string }
	_ = json.Unmarshal(artifactBytes(t, runA, mA, changed.ID, "item.json"), &ij)
	if u := url(); u != ij.URL {
		t.Fatalf("after the overwrite the URL is %s, the backup's is %s", u, ij.URL)
	}
	if r := readRestoreJSON(t, filepath.Join(dir, "a", "sink"), rid); len(r.Safety) != 1 {
		t.Fatalf("the overwrite took %d safety copies, want 1", len(r.Safety))
	}
	if code, out := runCLI(t, "restore", "undo", aFile, rid, "--to", bFile, "--yes"); code != exitOK {
		t.Fatalf("undo: exit %d\n%s", code, out)
	}
	if u := url(); u != moved {
		t.Fatalf("after undo the URL is %s, want the changed %s", u, moved)
	}
}
