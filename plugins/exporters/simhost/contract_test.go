package simhost_test

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/featurequery"
	"github.com/agolpipe/agolpipe/plugins/exporters/featureservice"
	"github.com/agolpipe/agolpipe/plugins/exporters/file"
	"github.com/agolpipe/agolpipe/plugins/exporters/itemjson"
	"github.com/agolpipe/agolpipe/plugins/exporters/reference"
	"github.com/agolpipe/agolpipe/plugins/exporters/simhost"
	"github.com/agolpipe/agolpipe/plugins/exporters/survey"
	"github.com/agolpipe/agolpipe/plugins/exporters/tiles"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/exportertest"
	"github.com/agolpipe/agolpipe/sdk/retry"
	"github.com/agolpipe/agolpipe/sim"
)

// quick and poll shorten the waits of the exporters that retry and poll
// portal jobs (seconds at their defaults) to what the simulator needs, so
// the suite's many exports stay in the seconds.
var (
	quick = retry.Policy{Retries: 4, Base: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	poll  = arcgisrest.PollOptions{Interval: 100 * time.Millisecond, MaxInterval: 200 * time.Millisecond}
)

// TestContract runs sdk/exportertest, the exporter contract suite, for
// every built-in exporter against one simulated org, with the exporter as
// agolpipe builds it (New, default settings but shorter waits).
func TestContract(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 120, Seed: 5, LargeFileSize: 1 << 20, ExportTime: 50 * time.Millisecond})
	// Smallest first, so each check's exports stay short.
	items := env.Items(t)
	sort.SliceStable(items, func(i, j int) bool { return items[i].Size < items[j].Size })
	hosted := func(types ...string) func(sdk.Item) bool {
		return func(it sdk.Item) bool {
			return slices.Contains(types, it.Type) && simhost.HasKeyword(it, "Hosted Service") && !simhost.HasKeyword(it, "View Service")
		}
	}
	ofTypes := func(types []string) func(sdk.Item) bool {
		return func(it sdk.Item) bool { return slices.Contains(types, it.Type) }
	}
	for _, c := range []struct {
		name string
		new  func() sdk.Exporter
		keep func(sdk.Item) bool
		// items is how many items to export; the exporters that wait for
		// portal jobs (seconds each, at their real polling) take one.
		items int
	}{
		{"feature_service", func() sdk.Exporter {
			e := featureservice.New().(*featureservice.Exporter)
			e.Retry, e.Poll = quick, poll
			return e
		}, hosted("Feature Service"), 1},
		{"feature_query", func() sdk.Exporter {
			e := featurequery.New().(*featurequery.Exporter)
			e.Retry = quick
			return e
		}, hosted("Feature Service"), 1},
		{"tiles", func() sdk.Exporter {
			e := tiles.New().(*tiles.Exporter)
			e.Retry, e.Poll = quick, poll
			return e
		}, hosted("Map Service", "Vector Tile Service"), 1},
		{"item_json", itemjson.New, ofTypes(itemjson.ItemTypes), 2},
		{"file", file.New, ofTypes(file.ItemTypes), 2},
		{"survey", survey.New, ofTypes([]string{"Form"}), 2},
		{"reference", reference.New, ofTypes(reference.ItemTypes), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Mostly waiting for the simulator's jobs, so side by side.
			t.Parallel()
			var reqs []sdk.ExportRequest
			for _, it := range items {
				if c.keep(it) && len(reqs) < c.items {
					reqs = append(reqs, env.Request(it))
				}
			}
			if len(reqs) == 0 {
				t.Fatalf("the simulated org has no item for the %s exporter", c.name)
			}
			exportertest.Run(t, c.new, exportertest.Options{Host: env.Host, Requests: reqs})
		})
	}
}
