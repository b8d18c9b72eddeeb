package featurequery_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/featurequery"
	"github.com/agolpipe/agolpipe/plugins/exporters/simhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
	"github.com/agolpipe/agolpipe/sim"
)

func TestGeoJSONMatchesRowCount(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5})
	items := env.Find(t, func(it sdk.Item) bool {
		return it.Type == "Feature Service" && simhost.HasKeyword(it, "Hosted Service")
	})
	if len(items) == 0 {
		t.Fatal("no hosted feature service")
	}
	it := items[0]
	e := featurequery.New().(*featurequery.Exporter)
	e.Retry = retry.Policy{Retries: 6, Base: time.Millisecond, Max: 5 * time.Millisecond}
	e.Configure(context.Background(), sdk.ConfigureRequest{Config: simhost.Config(e.Schema(), nil)})
	rec := simhost.NewRecorder()
	res, err := e.Export(context.Background(), env.Request(it), env.Host, rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("status %s %s", res.Status, res.Reason)
	o := env.Srv.Org()
	o.Mu.RLock()
	svc := o.Item(it.ID).Service
	o.Mu.RUnlock()
	for _, l := range svc.Layers {
		var found bool
		for _, a := range rec.Artifacts() {
			if a.Format != "GeoJSON" || len(a.Name) < 2 || a.Name[:len(itoa(l.ID))+1] != itoa(l.ID)+"-" {
				continue
			}
			found = true
			if a.Bytes > simhost.KeepBytes {
				continue // too large for the recorder to keep; streamed fine
			}
			var fc struct {
				Type     string            `json:"type"`
				Features []json.RawMessage `json:"features"`
			}
			if err := json.Unmarshal(a.Data, &fc); err != nil || fc.Type != "FeatureCollection" {
				t.Fatalf("%s: %v", a.Name, err)
			}
			if len(fc.Features) != l.RowCount() {
				t.Errorf("%s: %d features, layer has %d", a.Name, len(fc.Features), l.RowCount())
			}
		}
		if !found {
			t.Errorf("layer %d has no GeoJSON: %v", l.ID, rec.Names())
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
