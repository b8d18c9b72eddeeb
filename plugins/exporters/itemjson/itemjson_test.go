package itemjson_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/exportkit"
	"github.com/agolpipe/agolpipe/plugins/exporters/itemjson"
	"github.com/agolpipe/agolpipe/plugins/exporters/simhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
	"github.com/agolpipe/agolpipe/sim"
)

var fast = retry.Policy{Retries: 6, Base: time.Millisecond, Max: 5 * time.Millisecond}

func TestItemJSONOnSimItems(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 3})
	types := map[string]bool{"Web Map": true, "Dashboard": true, "StoryMap": true, "Web Experience": true, "Web Mapping Application": true}
	items := env.Find(t, func(it sdk.Item) bool { return types[it.Type] })
	if len(items) == 0 {
		t.Fatal("no JSON items in the simulated org")
	}
	seen := map[string]bool{}
	for _, it := range items {
		if seen[it.Type] {
			continue
		}
		seen[it.Type] = true
		t.Run(it.Type, func(t *testing.T) {
			e := &itemjson.Exporter{Retry: fast}
			e.Configure(context.Background(), sdk.ConfigureRequest{Config: simhost.Config(e.Schema(), nil)})
			rec := simhost.NewRecorder()
			res, err := e.Export(context.Background(), env.Request(it), env.Host, rec)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != sdk.StatusExported {
				t.Errorf("status %s: %s", res.Status, res.Reason)
			}
			data, ok := rec.Get("data.json")
			if !ok || !json.Valid(data.Data) {
				t.Fatalf("data.json missing or invalid: %v", rec.Names())
			}
			item, ok := rec.Get("item.json")
			var ij struct{ ID, Type string }
			if !ok || json.Unmarshal(item.Data, &ij) != nil || ij.ID != it.ID || ij.Type != it.Type {
				t.Fatalf("item.json %q", item.Data)
			}
			if item.MediaType != "application/json" || item.SHA256 != simhost.SHA256(item.Data) {
				t.Errorf("item.json recorded as %+v", item.Artifact)
			}
			relA, ok := rec.Get("relationships.json")
			var rel exportkit.Relationships
			if !ok || json.Unmarshal(relA.Data, &rel) != nil || rel.ItemID != it.ID {
				t.Fatalf("relationships.json %q", relA.Data)
			}
			// Every item id the sim put in the data JSON is recorded.
			for _, dep := range refsOf(env, it.ID) {
				if !contains(rel.DataReferences, dep) {
					t.Errorf("dependency %s not in dataReferences %v", dep, rel.DataReferences)
				}
			}
			if n := resourceCount(env, it.ID); n > 0 {
				z, ok := rec.Get("resources.zip")
				if !ok {
					t.Fatalf("resources.zip missing for %d resources", n)
				}
				zr, err := zip.NewReader(bytes.NewReader(z.Data), int64(len(z.Data)))
				if err != nil || len(zr.File) != n {
					t.Fatalf("resources.zip: %v, %d entries, want %d", err, len(zr.File), n)
				}
				// Same item, same zip bytes: the archive is deterministic.
				rec2 := simhost.NewRecorder()
				if _, err := e.Export(context.Background(), env.Request(it), env.Host, rec2); err != nil {
					t.Fatal(err)
				}
				z2, _ := rec2.Get("resources.zip")
				if z2.SHA256 != z.SHA256 {
					t.Errorf("resources.zip differs between two exports")
				}
			}
		})
	}
}

func refsOf(env *simhost.Env, id string) []string {
	o := env.Srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	return append([]string(nil), o.Item(id).Refs...)
}

func resourceCount(env *simhost.Env, id string) int {
	o := env.Srv.Org()
	o.Mu.RLock()
	defer o.Mu.RUnlock()
	return len(o.Item(id).Resources)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
