package org

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, _ := json.Marshal(Generate(GenOptions{Items: 300, Seed: 7}))
	b, _ := json.Marshal(Generate(GenOptions{Items: 300, Seed: 7}))
	if !bytes.Equal(a, b) {
		t.Fatal("two orgs generated with the same seed differ")
	}
	c, _ := json.Marshal(Generate(GenOptions{Items: 300, Seed: 8}))
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same org")
	}
}

func TestGenerateCoversEveryFamily(t *testing.T) {
	o := Generate(GenOptions{Items: 500, Seed: 1})
	if len(o.Items) != 500 {
		t.Fatalf("items = %d, want 500", len(o.Items))
	}
	types := map[string]int{}
	var views, protected, hostile, large, withRes, survey int
	titles := map[string]bool{}
	for _, h := range HostileTitles {
		titles[h] = true
	}
	for _, it := range o.Items {
		types[it.Type]++
		if it.Service != nil && it.Service.IsView {
			views++
			if o.Item(it.Service.SourceItemID) == nil {
				t.Errorf("view %s: source %s missing", it.ID, it.Service.SourceItemID)
			}
		}
		if it.Protected {
			protected++
		}
		if titles[it.Title] {
			hostile++
		}
		if it.Size >= 96<<20 {
			large++
		}
		if len(it.Resources) > 0 {
			withRes++
		}
		for i := range it.Resources {
			if j := it.ResourceJSON(&it.Resources[i]); j != nil && int64(len(j)) != it.Resources[i].Size {
				t.Errorf("%s resource %s: listed as %d bytes, served as %d", it.ID, it.Resources[i].Path, it.Resources[i].Size, len(j))
			}
		}
		if it.Type == "Form" && (len(it.Resources) == 0 || it.Resources[0].Path != "forminfo.json") {
			t.Errorf("form %s: resources %v, want forminfo.json first as Survey123 keeps it", it.ID, it.Resources)
		}
		for _, r := range it.Related {
			if r.Type == "Survey2Service" {
				survey++
			}
			if o.Item(r.To) == nil {
				t.Errorf("%s: related %s missing", it.ID, r.To)
			}
		}
		for _, ref := range it.Refs {
			if o.Item(ref) == nil {
				t.Errorf("%s: ref %s missing", it.ID, ref)
			}
		}
		if o.User(it.Owner) == nil {
			t.Errorf("%s: owner %s missing", it.ID, it.Owner)
		}
	}
	for _, typ := range []string{"Feature Service", "Web Map", "Web Mapping Application", "Dashboard", "Web Experience", "StoryMap", "Form", "Map Service", "Vector Tile Service", "PDF", "CSV", "Shapefile", "File Geodatabase", "Notebook", "Service Definition", "WMS", "Document Link", "API Key", "Application", "GeoJson", "Microsoft Excel"} {
		if types[typ] == 0 {
			t.Errorf("no item of type %q", typ)
		}
	}
	if views == 0 || protected == 0 || hostile < 10 || large == 0 || withRes == 0 || survey == 0 {
		t.Errorf("views=%d protected=%d hostile=%d large=%d withResources=%d survey2service=%d", views, protected, hostile, large, withRes, survey)
	}
	kinds := map[string]bool{}
	for _, u := range o.Users {
		kinds[u.Kind] = true
	}
	for _, k := range []string{"admin", "custom_admin", "publisher", "viewer"} {
		if !kinds[k] {
			t.Errorf("no %s user", k)
		}
	}
	if o.Users[0].Role != RoleAdmin || o.Users[0].RoleID != "" {
		t.Errorf("first user %+v is not the org admin", o.Users[0])
	}
}

func TestBlobRangesMatchWhole(t *testing.T) {
	for _, b := range []Blob{
		{Seed: 3, Size: 10007, Magic: "%PDF-1.7\n"},
		{Seed: 4, Size: CSVSize(300), Kind: BlobCSV},
		{Seed: 5, Size: GeoJSONSize(40), Kind: BlobGeoJSON},
	} {
		whole, err := io.ReadAll(b.Reader())
		if err != nil || int64(len(whole)) != b.Size {
			t.Fatalf("read %d bytes, err %v; want %d", len(whole), err, b.Size)
		}
		for _, r := range [][2]int64{{0, 1}, {5, 100}, {63, 65}, {b.Size - 10, 10}, {1000, 3000}} {
			part := make([]byte, r[1])
			n, _ := b.ReadAt(part, r[0])
			if !bytes.Equal(part[:n], whole[r[0]:r[0]+int64(n)]) {
				t.Errorf("kind %d: range %v differs from the whole", b.Kind, r)
			}
		}
		switch b.Kind {
		case BlobGeoJSON:
			var v map[string]any
			if err := json.Unmarshal(whole, &v); err != nil {
				t.Errorf("generated GeoJSON is not JSON: %v", err)
			}
		case BlobCSV:
			lines := strings.Split(strings.TrimSuffix(string(whole), "\n"), "\n")
			if len(lines) != 301 {
				t.Errorf("csv lines = %d, want 301", len(lines))
			}
		default:
			if !bytes.HasPrefix(whole, []byte("%PDF")) {
				t.Error("pdf blob lacks its magic")
			}
		}
	}
}

func TestLoadScenario(t *testing.T) {
	src := `{"id":"ScenarioOrg00001","users":[{"username":"boss","role":"org_admin","folders":[{"title":"Maps"}]},{"username":"pat","role":"org_publisher"}],
	"groups":[{"title":"Team","owner":"boss","members":["pat"]}],
	"items":[{"title":"Roads","type":"Feature Service","owner":"pat","access":"org","service":{"name":"Roads","layers":[{"id":0,"name":"Roads","rows":10,"parent":-1}]}},
	         {"title":"Roads map","type":"Web Map","owner":"boss","ownerFolder":"Maps","text":"{\"operationalLayers\":[]}"}]}`
	o, err := Load(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Items) != 2 || o.Items[1].Data != DataJSON || o.Items[1].FolderID == "" || o.Items[0].Service.Layers[0].Seed == 0 {
		t.Fatalf("scenario not normalised: %+v %+v", o.Items[0], o.Items[1])
	}
	if _, err := Load(strings.NewReader(`{"items":[{"title":"x","type":"PDF","owner":"ghost"}]}`)); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("unknown owner not reported: %v", err)
	}
}

func BenchmarkGenerate100k(b *testing.B) {
	for i := 0; i < b.N; i++ {
		o := Generate(GenOptions{Items: 100000, Seed: uint64(i)})
		if len(o.Items) != 100000 {
			b.Fatal(len(o.Items))
		}
	}
}
