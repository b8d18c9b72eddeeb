package reference_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/plugins/exporters/reference"
	"github.com/agolpipe/agolpipe/plugins/exporters/simhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
	"github.com/agolpipe/agolpipe/sim"
)

var fast = retry.Policy{Retries: 8, Base: time.Millisecond, Max: 5 * time.Millisecond}

// description is every artifact a reference-only item may have.
func isDescription(name string) bool {
	return name == "item.json" || name == "data.json" || name == "metadata.xml" || strings.HasPrefix(name, "thumbnail.")
}

func TestDescriptionOnly(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5})
	ref := reference.New().(*reference.Exporter)
	ref.Retry = fast
	tests := []struct {
		name     string
		exporter sdk.Exporter
		keep     func(sdk.Item) bool
		// words a GIS administrator needs in the reason: what the item is
		// and where its data lives.
		words []string
	}{
		{"WMS", ref, func(it sdk.Item) bool { return it.Type == "WMS" }, []string{"WMS layer", "OGC service", "maps.example.gov"}},
		{"Map Image Layer", ref, mapImageLayer, []string{"map image layer", "ArcGIS Server at gis.example.gov", "data stores"}},
		// The tiles exporter declares Map Service, so by default it is the
		// one that meets map image layers; it says the same
		// (tiles.TestMapImageLayerIsReference).
		{"Document Link", ref, func(it sdk.Item) bool { return it.Type == "Document Link" }, []string{"document link", "www.example.gov", "keeps the link"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items := env.Find(t, tc.keep)
			if len(items) == 0 {
				t.Fatal("no such item in the simulated org")
			}
			it := items[0]
			rec := simhost.NewRecorder()
			before := len(env.Srv.Requests())
			res, err := tc.exporter.Export(context.Background(), env.Request(it), env.Host, rec)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != sdk.StatusSkipped {
				t.Errorf("status %s, want skipped", res.Status)
			}
			for _, w := range tc.words {
				if !strings.Contains(res.Reason, w) {
					t.Errorf("reason %q does not say %q", res.Reason, w)
				}
			}
			if !strings.Contains(res.Reason, "description") {
				t.Errorf("reason %q does not say what was saved", res.Reason)
			}
			for _, n := range rec.Names() {
				if !isDescription(n) {
					t.Errorf("artifact %s is not part of a description", n)
				}
			}
			a, ok := rec.Get("item.json")
			if !ok {
				t.Fatalf("no item.json: %v", rec.Names())
			}
			var doc struct {
				ID, Type, URL string
			}
			if err := json.Unmarshal(a.Data, &doc); err != nil || doc.ID != it.ID || doc.Type != it.Type || doc.URL != it.URL {
				t.Errorf("item.json is not the item's JSON (%v): %.200s", err, a.Data)
			}
			// Nothing was asked of the service itself (its URL is not the
			// organization's) and nothing was exported.
			for _, r := range env.Srv.Requests()[before:] {
				if r.Write || r.Endpoint == "export" || r.Endpoint == "exportTiles" {
					t.Errorf("request %s %s (%s) for a reference-only item", r.Method, r.Path, r.Endpoint)
				}
			}
		})
	}
}

func mapImageLayer(it sdk.Item) bool {
	return it.Type == "Map Service" && !simhost.HasKeyword(it, "Hosted Service")
}

func TestReasonNamesHostOnly(t *testing.T) {
	tests := []struct {
		it   sdk.Item
		want string
	}{
		{sdk.Item{Type: "WMTS", URL: "https://tiles.example.org/wmts?token=s3cret&layer=x"}, "server at tiles.example.org"},
		{sdk.Item{Type: "Map Service", URL: "https://user:pw@gis.example.org:6443/arcgis/rest/services/A/MapServer?token=s3cret"}, "ArcGIS Server at gis.example.org"},
		{sdk.Item{Type: "Geocoding Service", URL: "https://geocode.example.org/arcgis/rest/services/L/GeocodeServer"}, "geocoding service: a tool run by ArcGIS Server at geocode.example.org"},
		{sdk.Item{Type: "Scene Service", TypeKeywords: []string{"Hosted Service"}, URL: "https://services.arcgis.com/x/arcgis/rest/services/B/SceneServer"}, "hosted Scene Service: agolpipe has no exporter"},
		{sdk.Item{Type: "Document Link", URL: "not a url"}, "document link: the document is stored on a web server, not"},
	}
	for _, tc := range tests {
		got := exportkit.ReferenceReason(tc.it)
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: %q, want it to contain %q", tc.it.Type, tc.it.URL, got, tc.want)
		}
		for _, secret := range []string{"s3cret", "pw@", "user:"} {
			if strings.Contains(got, secret) {
				t.Errorf("%s: reason %q shows %q from the URL", tc.it.Type, got, secret)
			}
		}
	}
}
