package tiles_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/simhost"
	"github.com/agolpipe/agolpipe/plugins/exporters/tiles"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

var fast = retry.Policy{Retries: 8, Base: time.Millisecond, Max: 5 * time.Millisecond}

func exporter(t *testing.T) *tiles.Exporter {
	t.Helper()
	e := tiles.New().(*tiles.Exporter)
	e.Retry = fast
	e.Poll = arcgisrest.PollOptions{Interval: 10 * time.Millisecond, MaxInterval: 20 * time.Millisecond}
	if d := e.Configure(context.Background(), sdk.ConfigureRequest{Config: simhost.Config(e.Schema(), nil)}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	return e
}

// layer is a hosted tile layer with its cache depth as the simulator
// holds it.
type layer struct {
	sdk.Item
	levels int
}

// layers returns the hosted tile layers of a type.
func layers(t *testing.T, env *simhost.Env, typ string) []layer {
	t.Helper()
	var out []layer
	o := env.Srv.Org()
	for _, it := range env.Find(t, func(it sdk.Item) bool {
		return it.Type == typ && simhost.HasKeyword(it, "Hosted Service")
	}) {
		o.Mu.RLock()
		out = append(out, layer{it, o.Item(it.ID).Service.Levels})
		o.Mu.RUnlock()
	}
	if len(out) == 0 {
		t.Fatalf("no hosted %s in the simulated org", typ)
	}
	return out
}

// tooDeep is the first cache level whose tiles alone, over the simulator's
// city-sized extent (4^level * 2e-5 tiles), pass the layers'
// maxExportTilesCount of 100,000 once the levels above it are counted:
// levels 0-15 are about 28,600 tiles, 0-16 about 114,500.
const tooDeep = 16

// exportTilesCalls counts exportTiles submissions for a service URL.
func exportTilesCalls(env *simhost.Env, it sdk.Item) int {
	n := 0
	for _, r := range env.Srv.Requests() {
		if r.Endpoint == "exportTiles" && strings.Contains(it.URL, strings.TrimSuffix(r.Path, "/exportTiles")) {
			n++
		}
	}
	return n
}

func TestExportOrSkipByTileCount(t *testing.T) {
	// 120 items give three layers of each kind: the simulator alternates
	// layers that fit under maxExportTilesCount and layers above it.
	env := simhost.Start(t, sim.Options{Items: 120, Seed: 5, ExportTime: 20 * time.Millisecond})
	for _, tc := range []struct {
		typ, ext, format string
	}{
		// The simulator, like ArcGIS Online, answers exportTiles of a tile
		// layer with a .tpkx.
		{"Map Service", ".tpkx", "Compact Tile Package"},
		{"Vector Tile Service", ".vtpk", "Vector Tile Package"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			var exported, skipped int
			for _, l := range layers(t, env, tc.typ) {
				it, levels := l.Item, l.levels
				rec := simhost.NewRecorder()
				res, err := exporter(t).Export(context.Background(), env.Request(it), env.Host, rec)
				if err != nil {
					t.Fatalf("%s (%s): %v", it.ID, it.Title, err)
				}
				for _, name := range []string{"service.json", "item.json", "relationships.json"} {
					if _, ok := rec.Get(name); !ok {
						t.Errorf("%s: no %s in %v", it.ID, name, rec.Names())
					}
				}
				var pkg *simhost.Artifact
				for _, a := range rec.Artifacts() {
					if strings.HasSuffix(a.Name, tc.ext) {
						pkg = &a
					}
				}
				if levels >= tooDeep {
					skipped++
					if res.Status != sdk.StatusSkipped || !strings.Contains(res.Reason, "maxExportTilesCount") ||
						!strings.Contains(res.Reason, fmt.Sprintf("levels 0-%d", levels)) {
						t.Errorf("%s cached to level %d: %s %q, want skipped for too many tiles naming the levels", it.ID, levels, res.Status, res.Reason)
					}
					if pkg != nil {
						t.Errorf("%s: skipped but wrote %s", it.ID, pkg.Name)
					}
					continue
				}
				exported++
				if res.Status != sdk.StatusExported {
					t.Fatalf("%s cached to level %d: %s %q, want exported", it.ID, levels, res.Status, res.Reason)
				}
				if pkg == nil {
					t.Fatalf("%s: no %s package in %v", it.ID, tc.ext, rec.Names())
				}
				if pkg.Format != tc.format || pkg.Bytes < 1<<10 || !bytes.HasPrefix(pkg.Data, []byte("PK\x03\x04")) {
					t.Errorf("%s: package %s format %q, %d bytes, starts %.4q", it.ID, pkg.Name, pkg.Format, pkg.Bytes, pkg.Data)
				}
				if n := exportTilesCalls(env, it); n != 1 {
					t.Errorf("%s: %d exportTiles submissions, want 1", it.ID, n)
				}
			}
			if exported == 0 || skipped == 0 {
				t.Errorf("exported %d, skipped %d: the org should show both", exported, skipped)
			}
		})
	}
}

// addPackage puts a package item titled title into the org, as a user who
// uploaded the tile package the layer was published from.
func addPackage(t *testing.T, env *simhost.Env, n int, typ, title string) string {
	t.Helper()
	id := fmt.Sprintf("%032x", 0xfeed0000+n)
	o := env.Srv.Org()
	o.Mu.Lock()
	defer o.Mu.Unlock()
	now := time.Now().UnixMilli()
	o.AddItem(&org.Item{ID: id, Owner: o.Users[0].Username, Title: title, Type: typ, TypeKeywords: []string{typ},
		Access: org.AccessOrg, Created: now, Modified: now, Name: "package.bin", Data: org.DataFile, Size: 4096, Seed: 1})
	return id
}

func TestSkipWhenPackageItemExists(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 120, Seed: 5, ExportTime: 20 * time.Millisecond})
	var raster, vector []sdk.Item
	for _, l := range layers(t, env, "Map Service") {
		if l.levels < tooDeep {
			raster = append(raster, l.Item)
		}
	}
	for _, l := range layers(t, env, "Vector Tile Service") {
		if l.levels < tooDeep {
			vector = append(vector, l.Item)
		}
	}
	if len(raster) < 2 || len(vector) < 1 {
		t.Fatalf("need two exportable tile layers and one vector tile layer, have %d and %d", len(raster), len(vector))
	}
	tests := []struct {
		name    string
		it      sdk.Item
		pkgType string
		title   string
		skip    bool
	}{
		{"tile package, identical title", raster[0], "Tile Package", raster[0].Title, true},
		{"vector tile package, identical title", vector[0], "Vector Tile Package", vector[0].Title, true},
		// A package of the other kind, or a title that only starts the
		// same, is not this layer's package.
		{"vector tile package for a raster layer", raster[1], "Vector Tile Package", raster[1].Title, false},
		{"title differs", raster[1], "Tile Package", raster[1].Title + " (2019)", false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkg := addPackage(t, env, i, tc.pkgType, tc.title)
			before := exportTilesCalls(env, tc.it)
			rec := simhost.NewRecorder()
			res, err := exporter(t).Export(context.Background(), env.Request(tc.it), env.Host, rec)
			if err != nil {
				t.Fatal(err)
			}
			submitted := exportTilesCalls(env, tc.it) - before
			if !tc.skip {
				if res.Status != sdk.StatusExported || submitted != 1 {
					t.Errorf("%s %q next to %s %q: %s %q after %d exportTiles, want exported", tc.it.Type, tc.it.Title, tc.pkgType, tc.title, res.Status, res.Reason, submitted)
				}
				return
			}
			if res.Status != sdk.StatusSkipped || !strings.Contains(res.Reason, pkg) || !strings.Contains(res.Reason, tc.pkgType) {
				t.Errorf("status %s %q, want skipped naming the %s item %s", res.Status, res.Reason, tc.pkgType, pkg)
			}
			if submitted != 0 {
				t.Errorf("%d exportTiles submitted although the package exists", submitted)
			}
			if _, ok := rec.Get("item.json"); !ok {
				t.Errorf("the skipped layer's description was not saved: %v", rec.Names())
			}
		})
	}
}

func TestDeferAndResume(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5, ExportTime: 600 * time.Millisecond})
	var it sdk.Item
	for _, l := range layers(t, env, "Map Service") {
		if l.levels < tooDeep {
			it = l.Item
		}
	}
	if it.ID == "" {
		t.Fatal("no exportable tile layer")
	}
	e := exporter(t)
	req := env.Request(it)
	req.Timeout = 150 * time.Millisecond
	rec := simhost.NewRecorder()
	res, err := e.Export(context.Background(), req, env.Host, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sdk.StatusDeferred || !strings.Contains(res.Reason, "exportTiles") {
		t.Fatalf("status %s %q, want deferred", res.Status, res.Reason)
	}
	for _, a := range rec.Artifacts() {
		if strings.HasSuffix(a.Name, ".tpkx") || strings.HasSuffix(a.Name, ".tpk") {
			t.Fatalf("package %s written before the job finished", a.Name)
		}
	}
	time.Sleep(500 * time.Millisecond)
	req.Resume = true
	req.Timeout = 5 * time.Second
	res, err = e.Export(context.Background(), req, env.Host, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sdk.StatusExported {
		t.Fatalf("resume: %s %q, want exported", res.Status, res.Reason)
	}
	var pkgs int
	for _, a := range rec.Artifacts() {
		if strings.HasSuffix(a.Name, ".tpkx") {
			pkgs++
		}
	}
	if pkgs != 1 {
		t.Errorf("%d packages after resume, want 1: %v", pkgs, rec.Names())
	}
	// Resume collects the job left running; it does not start another.
	if n := exportTilesCalls(env, it); n != 1 {
		t.Errorf("%d exportTiles submissions, want 1", n)
	}
	// The description was saved once, by the first call.
	var items int
	for _, n := range rec.Names() {
		if n == "item.json" {
			items++
		}
	}
	if items != 1 {
		t.Errorf("item.json written %d times, want 1", items)
	}
}

func TestFailedJobIsAnError(t *testing.T) {
	// The simulator generates the same org from the same seed, so the
	// layer to fail can be picked before it starts.
	var id string
	for _, it := range org.Generate(org.GenOptions{Items: 60, Seed: 5}).Items {
		if it.Service != nil && it.Service.Kind == org.MapServer && it.Service.Levels < tooDeep {
			id = it.ID
		}
	}
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5, ExportTime: 20 * time.Millisecond,
		ExportFaults: map[string]sim.ExportFault{id: sim.ExportFail}})
	it := env.Find(t, func(it sdk.Item) bool { return it.ID == id })
	if len(it) != 1 {
		t.Fatalf("layer %s not listed", id)
	}
	_, err := exporter(t).Export(context.Background(), env.Request(it[0]), env.Host, simhost.NewRecorder())
	if err == nil || sdk.KindOf(err) != sdk.KindPermanent || !strings.Contains(err.Error(), "Export tiles failed") {
		t.Fatalf("err %v (kind %s), want a permanent error carrying the portal's message", err, sdk.KindOf(err))
	}
}

// TestMapImageLayerIsReference: tiles declares Map Service, so by default it
// is the exporter that meets a map image layer (not hosted); like the
// reference exporter it saves the description only, asks nothing of the
// service, and says where the data really lives.
func TestMapImageLayerIsReference(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5})
	items := env.Find(t, func(it sdk.Item) bool {
		return it.Type == "Map Service" && !simhost.HasKeyword(it, "Hosted Service")
	})
	if len(items) == 0 {
		t.Fatal("no map image layer in the simulated org")
	}
	rec := simhost.NewRecorder()
	before := len(env.Srv.Requests())
	res, err := exporter(t).Export(context.Background(), env.Request(items[0]), env.Host, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sdk.StatusSkipped {
		t.Errorf("status %s, want skipped", res.Status)
	}
	for _, w := range []string{"map image layer", "ArcGIS Server at gis.example.gov", "description"} {
		if !strings.Contains(res.Reason, w) {
			t.Errorf("reason %q does not say %q", res.Reason, w)
		}
	}
	for _, n := range rec.Names() {
		if n != "item.json" && n != "data.json" && n != "metadata.xml" && !strings.HasPrefix(n, "thumbnail.") {
			t.Errorf("artifact %s is not part of a description", n)
		}
	}
	for _, r := range env.Srv.Requests()[before:] {
		if r.Write || r.Endpoint == "export" || r.Endpoint == "exportTiles" {
			t.Errorf("request %s %s (%s) for a reference-only item", r.Method, r.Path, r.Endpoint)
		}
	}
}
