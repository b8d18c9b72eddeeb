package survey_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/plugins/exporters/simhost"
	"github.com/agolpipe/agolpipe/plugins/exporters/survey"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

func exporter() *survey.Exporter {
	e := survey.New().(*survey.Exporter)
	e.Retry = retry.Policy{Retries: 8, Base: time.Millisecond, Max: 5 * time.Millisecond}
	return e
}

func forms(t *testing.T, env *simhost.Env) []sdk.Item {
	t.Helper()
	items := env.Find(t, func(it sdk.Item) bool { return it.Type == "Form" })
	if len(items) < 2 {
		t.Fatalf("%d forms in the simulated org, want 2", len(items))
	}
	return items
}

func TestFormFilesResourcesAndLinkedServices(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 120, Seed: 5, LargeFileSize: 1 << 20})
	it := forms(t, env)[0]

	// Survey123 links a form to the service it submits to (Survey2Service)
	// and, when results are read from a view, to that too (Survey2Data).
	o := env.Srv.Org()
	o.Mu.Lock()
	form := o.Item(it.ID)
	var service, view *org.Item
	for _, r := range form.Related {
		if r.Type == "Survey2Service" {
			service = o.Item(r.To)
		}
	}
	for _, x := range o.Items {
		if x.Service != nil && x.Service.IsView && x.Access != org.AccessPrivate {
			view = x
			break
		}
	}
	if service == nil || view == nil {
		o.Mu.Unlock()
		t.Fatalf("form %s: survey service %v, a view %v", it.ID, service, view)
	}
	form.Related = append(form.Related, org.Relationship{Type: "Survey2Data", To: view.ID})
	fileName := form.Name
	// The form's file is a form package naming its service.
	blob := o.FormPackage(form, env.Srv.Origin())
	if int64(len(blob)) != form.Size || !bytes.Contains(blob, []byte(service.ID)) {
		o.Mu.Unlock()
		t.Fatalf("form %s: its package is %d bytes (item size %d), names service %s: %v", it.ID, len(blob), form.Size, service.ID, bytes.Contains(blob, []byte(service.ID)))
	}
	resources := slices.Clone(form.Resources)
	wantJSON := map[string][]byte{}
	for i := range resources {
		if j := form.ResourceJSON(&resources[i]); j != nil {
			wantJSON[resources[i].Path] = j
		}
	}
	o.Mu.Unlock()

	rec := simhost.NewRecorder()
	res, err := exporter().Export(context.Background(), env.Request(it), env.Host, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sdk.StatusExported {
		t.Errorf("status %s %q, want exported", res.Status, res.Reason)
	}

	// The form file, under its own name, byte for byte.
	a, ok := rec.Get(fileName)
	if !ok {
		t.Fatalf("no form file %q: %v", fileName, rec.Names())
	}
	if a.SHA256 != simhost.SHA256(blob) || a.Format != "Survey123 form" {
		t.Errorf("form file: %d bytes sha %s format %q, want %d bytes sha %s", a.Bytes, a.SHA256, a.Format, len(blob), simhost.SHA256(blob))
	}

	// Every resource, in resources.zip.
	z, ok := rec.Get(exportkit.ResourcesZip)
	if !ok {
		t.Fatalf("no resources.zip: %v", rec.Names())
	}
	zr, err := zip.NewReader(bytes.NewReader(z.Data), int64(len(z.Data)))
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		entries[f.Name] = f
	}
	if len(entries) != len(resources) {
		t.Errorf("resources.zip holds %d entries, the form has %d resources", len(entries), len(resources))
	}
	for _, r := range resources {
		f, ok := entries[r.Path]
		if !ok {
			t.Errorf("resource %s missing from resources.zip", r.Path)
			continue
		}
		if int64(f.UncompressedSize64) != r.Size {
			t.Errorf("resource %s: %d bytes in the zip, %d on the portal", r.Path, f.UncompressedSize64, r.Size)
		}
		if want, isJSON := wantJSON[r.Path]; isJSON {
			rc, _ := f.Open()
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, want) {
				t.Errorf("resource %s: %.80q, want %.80q", r.Path, got, want)
			}
		}
	}

	// The linked services, recorded so a restore can reconnect them.
	rj, ok := rec.Get(exportkit.RelationshipsJSON)
	if !ok {
		t.Fatalf("no relationships.json: %v", rec.Names())
	}
	var rel exportkit.Relationships
	if err := json.Unmarshal(rj.Data, &rel); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Survey2Service": service.ID, "Survey2Data": view.ID}
	for typ, id := range want {
		if !slices.ContainsFunc(rel.Related, func(r exportkit.Related) bool {
			return r.Type == typ && r.Direction == "forward" && r.ItemID == id && r.ItemType == "Feature Service"
		}) {
			t.Errorf("relationships.json lacks %s -> %s: %+v", typ, id, rel.Related)
		}
	}
	if _, ok := rec.Get(exportkit.ItemJSON); !ok {
		t.Errorf("no item.json: %v", rec.Names())
	}
	logged := strings.Join(env.Host.Logs(), "\n")
	if !strings.Contains(logged, service.ID) || !strings.Contains(logged, view.ID) {
		t.Errorf("the linked services are not in the log:\n%s", logged)
	}
}

func TestFormWithoutServiceWarns(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 120, Seed: 5, LargeFileSize: 1 << 20})
	it := forms(t, env)[1]
	o := env.Srv.Org()
	o.Mu.Lock()
	o.Item(it.ID).Related = nil // the survey's service was deleted, or never published
	o.Mu.Unlock()

	rec := simhost.NewRecorder()
	res, err := exporter().Export(context.Background(), env.Request(it), env.Host, rec)
	if err != nil {
		t.Fatal(err)
	}
	// The form itself is whole; the warning tells the admin its results
	// service is not linked.
	if res.Status != sdk.StatusExported {
		t.Errorf("status %s %q, want exported", res.Status, res.Reason)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool {
		return strings.Contains(w, "Survey2Service") && strings.Contains(w, it.ID)
	}) {
		t.Errorf("warnings %q do not say the form has no linked service", res.Warnings)
	}
}

func TestFormWithoutFileIsPartial(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 120, Seed: 5, LargeFileSize: 1 << 20})
	it := forms(t, env)[0]
	o := env.Srv.Org()
	o.Mu.Lock()
	form := o.Item(it.ID)
	// A form file lost on the portal: data answers "Item does not have a file."
	form.Data, form.Body = org.DataStored, nil
	name := form.Name
	o.Mu.Unlock()

	rec := simhost.NewRecorder()
	res, err := exporter().Export(context.Background(), env.Request(it), env.Host, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sdk.StatusPartial || !strings.Contains(res.Reason, "no form file") {
		t.Errorf("status %s %q, want partial saying the form file is missing", res.Status, res.Reason)
	}
	if _, ok := rec.Get(name); ok {
		t.Errorf("a form file %q was written although the portal has none", name)
	}
	// The rest of the form is still backed up.
	for _, n := range []string{exportkit.ResourcesZip, exportkit.ItemJSON, exportkit.RelationshipsJSON} {
		if _, ok := rec.Get(n); !ok {
			t.Errorf("no %s: %v", n, rec.Names())
		}
	}
}
