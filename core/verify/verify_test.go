package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

const pipeID = "T arcgis https://example.invalid/portal"

// plant stores, like the engine, a run whose artifacts went to sinks a and
// b, except those listed in missedB, recorded as failed in b: each sink
// holds what it stored and its own manifest (report.Run.ForSink).
func plant(t *testing.T, a, b sdk.Sink, folder string, files map[string]string, missedB map[string]bool) *report.Run {
	t.Helper()
	ctx := context.Background()
	r := &report.Run{SchemaVersion: report.SchemaVersion, RunID: folder + "-x", RunFolder: folder, PipelineID: pipeID,
		Started: time.Now().UTC(), Status: report.StatusPartial,
		Sinks: []report.Sink{{Name: "a", Outcome: "ok"}, {Name: "b", Outcome: "incomplete"}},
		Items: []report.Item{{ID: "i1", Title: "Parks", Type: "Web Map"}, {ID: "i2", Title: "Roads", Type: "Feature Service"}}}
	for name, body := range files {
		sum := sha256.Sum256([]byte(body))
		art := report.Artifact{Path: name, Name: name, ItemID: "i1", Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:])}
		if strings.Contains(name, "roads") {
			art.ItemID = "i2"
		}
		for _, s := range []struct {
			name string
			sk   sdk.Sink
		}{{"a", a}, {"b", b}} {
			o := report.SinkOutcome{Sink: s.name, Path: name, Status: report.Stored}
			if s.name == "b" && missedB[name] {
				o.Status, o.Error = report.Missed, "connection reset"
			} else if _, err := s.sk.Put(ctx, sdk.PutRequest{Path: folder + "/" + name, Size: int64(len(body)), Body: strings.NewReader(body)}); err != nil {
				t.Fatal(err)
			}
			art.Sinks = append(art.Sinks, o)
		}
		r.Artifacts = append(r.Artifacts, art)
	}
	for _, s := range []struct {
		name string
		sk   sdk.Sink
	}{{"a", a}, {"b", b}} {
		var m bytes.Buffer
		if err := report.WriteManifest(&m, r.ForSink(s.name)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.sk.Put(ctx, sdk.PutRequest{Path: folder + "/" + report.ManifestFile, Size: int64(m.Len()), Body: bytes.NewReader(m.Bytes())}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// TestRecordedMissAndMissingRun: an artifact the run stored in sink a but
// recorded as failed in sink b (so b's own manifest does not list it) is
// missing from b, named with its item; a sink that holds no copy of the
// run at all says so; a sink holding everything is OK; the result is not
// OK unless every sink is.
func TestRecordedMissAndMissingRun(t *testing.T) {
	a, b, c := sinktest.NewMemSink(), sinktest.NewMemSink(), sinktest.NewMemSink()
	files := map[string]string{"Web Map/parks.json": `{"a":1}`, "Feature Service/roads.zip": strings.Repeat("r", 5000)}
	plant(t, a, b, "T_1", files, map[string]bool{"Feature Service/roads.zip": true})
	cat := catalog.New(pipeID, []catalog.Sink{{Name: "a", Sink: a}, {Name: "b", Sink: b}, {Name: "c", Sink: c}})
	defer cat.Close()
	res := Run(context.Background(), cat, "T_1", Options{Parallel: 2})
	if res.OK() || len(res.Sinks) != 3 || res.Artifacts != 2 {
		t.Fatalf("result %+v", res)
	}
	byName := map[string]SinkResult{}
	for _, s := range res.Sinks {
		byName[s.Sink] = s
	}
	if s := byName["a"]; !s.OK() || s.Checked != 2 {
		t.Errorf("sink a: %+v", s)
	}
	if s := byName["b"]; s.OK() || s.Checked != 1 || len(s.Findings) != 1 || s.Findings[0].Problem != catalog.NotStored ||
		s.Findings[0].ItemID != "i2" || s.Findings[0].Title != "Roads" || s.Findings[0].Path != "T_1/Feature Service/roads.zip" ||
		!strings.Contains(s.Findings[0].Detail, "connection reset") {
		t.Errorf("sink b: %+v", s)
	}
	if s := byName["c"]; s.OK() || len(s.Findings) != 1 || s.Findings[0].Problem != RunMissing {
		t.Errorf("sink c: %+v", s)
	}
}
