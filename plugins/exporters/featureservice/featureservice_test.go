package featureservice_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/plugins/exporters/featureservice"
	"github.com/agolpipe/agolpipe/plugins/exporters/simhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/arcgisrest"
	"github.com/agolpipe/agolpipe/sdk/retry"
	"github.com/agolpipe/agolpipe/sim"
	"github.com/agolpipe/agolpipe/sim/org"
)

var fast = retry.Policy{Retries: 8, Base: time.Millisecond, Max: 5 * time.Millisecond}

func exporter(t *testing.T) *featureservice.Exporter {
	e := featureservice.New().(*featureservice.Exporter)
	e.Retry = fast
	e.Poll = arcgisrest.PollOptions{Interval: 10 * time.Millisecond, MaxInterval: 20 * time.Millisecond}
	if d := e.Configure(context.Background(), sdk.ConfigureRequest{Config: simhost.Config(e.Schema(), nil)}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	return e
}

// hosted returns hosted feature services that are not views.
func hosted(t *testing.T, env *simhost.Env) []sdk.Item {
	items := env.Find(t, func(it sdk.Item) bool {
		return it.Type == "Feature Service" && simhost.HasKeyword(it, "Hosted Service") && !simhost.HasKeyword(it, "View Service")
	})
	if len(items) == 0 {
		t.Fatal("no hosted feature service in the simulated org")
	}
	return items
}

func checkNoTemp(t *testing.T, env *simhost.Env) {
	t.Helper()
	if left := env.Srv.TempItems(); len(left) > 0 {
		t.Errorf("temporary export items left in the org: %v", left)
	}
}

func TestExportFGDB(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5, ExportTime: 30 * time.Millisecond})
	it := hosted(t, env)[0]
	rec := simhost.NewRecorder()
	res, err := exporter(t).Export(context.Background(), env.Request(it), env.Host, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sdk.StatusExported && !strings.Contains(res.Reason, "thumbnail") && !strings.Contains(res.Reason, "metadata") {
		t.Errorf("status %s: %s", res.Status, res.Reason)
	}
	for _, name := range []string{"service.json", "layers.json", "item.json", "relationships.json", "data.gdb.zip"} {
		if _, ok := rec.Get(name); !ok {
			t.Errorf("artifact %s missing; got %v", name, rec.Names())
		}
	}
	z, _ := rec.Get("data.gdb.zip")
	if z.Format != "File Geodatabase" || z.Bytes == 0 || !strings.HasPrefix(string(z.Data), "PK") {
		t.Errorf("data.gdb.zip: %+v (%d bytes)", z.Artifact, z.Bytes)
	}
	// counts.json records each layer's rows (and attachments) as the
	// service had them: what a restore checks against.
	c, ok := rec.Get(featureservice.CountsJSON)
	if !ok {
		t.Fatalf("counts.json missing; got %v", rec.Names())
	}
	var counts featureservice.Counts
	if err := json.Unmarshal(c.Data, &counts); err != nil || !counts.Attachments {
		t.Fatalf("counts.json: %v: %s", err, c.Data)
	}
	var svc *org.Item
	env.Srv.Org().Mu.RLock()
	svc = env.Srv.Org().Item(it.ID)
	env.Srv.Org().Mu.RUnlock()
	if len(counts.Layers) != len(svc.Service.Layers) {
		t.Fatalf("counts.json has %d layers, the service %d: %s", len(counts.Layers), len(svc.Service.Layers), c.Data)
	}
	for i, l := range svc.Service.Layers {
		if got := counts.Layers[i]; got.ID != l.ID || got.Rows != int64(l.Rows) || (got.Attachments != nil) != l.HasAttachments {
			t.Errorf("counts.json layer %d: %+v, want rows %d (attachments: %v)", l.ID, got, l.Rows, l.HasAttachments)
		}
	}
	checkNoTemp(t, env)
}

func TestFallbackAndAttachments(t *testing.T) {
	env0 := simhost.Start(t, sim.Options{Items: 60, Seed: 5})
	items := hosted(t, env0)
	failing, attErr := items[0].ID, items[len(items)-1].ID
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5, ExportTime: 10 * time.Millisecond,
		ExportFaults: map[string]sim.ExportFault{failing: sim.ExportFail, attErr: sim.ExportAttachmentError}})
	byID := map[string]sdk.Item{}
	for _, it := range hosted(t, env) {
		byID[it.ID] = it
	}

	rec := simhost.NewRecorder()
	_, err := exporter(t).Export(context.Background(), env.Request(byID[failing]), env.Host, rec)
	// Every format fails for this item: an error naming each attempt.
	if err == nil || !strings.Contains(err.Error(), "File Geodatabase") || !strings.Contains(err.Error(), "CSV") {
		t.Errorf("failing export: err = %v", err)
	}
	checkNoTemp(t, env)

	if attErr != failing {
		rec = simhost.NewRecorder()
		res, err := exporter(t).Export(context.Background(), env.Request(byID[attErr]), env.Host, rec)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != sdk.StatusPartial || !strings.Contains(res.Reason, "without attachments") {
			t.Errorf("attachment error: %s %q", res.Status, res.Reason)
		}
		if _, ok := rec.Get("data.gdb.zip"); !ok {
			t.Errorf("no geodatabase after the no-attachments retry: %v", rec.Names())
		}
		checkNoTemp(t, env)
	}
}

func TestDeferAndResume(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5, ExportTime: 600 * time.Millisecond})
	it := hosted(t, env)[0]
	e := exporter(t)
	req := env.Request(it)
	req.Timeout = 150 * time.Millisecond
	rec := simhost.NewRecorder()
	res, err := e.Export(context.Background(), req, env.Host, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != sdk.StatusDeferred {
		t.Fatalf("status %s, want deferred (%s)", res.Status, res.Reason)
	}
	if _, ok := rec.Get("data.gdb.zip"); ok {
		t.Fatal("data written before the job finished")
	}
	if len(env.Srv.TempItems()) == 0 {
		t.Fatal("the deferred job's export item is gone; it must keep running")
	}
	time.Sleep(600 * time.Millisecond)
	req.Resume = true
	req.Timeout = 5 * time.Second
	res, err = e.Export(context.Background(), req, env.Host, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status == sdk.StatusDeferred || res.Status == sdk.StatusFailed {
		t.Fatalf("resume: %s %s", res.Status, res.Reason)
	}
	if _, ok := rec.Get("data.gdb.zip"); !ok {
		t.Fatalf("resume collected nothing: %v", rec.Names())
	}
	checkNoTemp(t, env)
}

func TestResumeAfterReset(t *testing.T) {
	env := simhost.Start(t, sim.Options{Items: 60, Seed: 5, ExportTime: 10 * time.Millisecond, FaultRate: 0.3, FaultEndpoints: []string{"data"}})
	it := hosted(t, env)[0]
	rec := simhost.NewRecorder()
	if _, err := exporter(t).Export(context.Background(), env.Request(it), env.Host, rec); err != nil {
		t.Fatal(err)
	}
	z, ok := rec.Get("data.gdb.zip")
	if !ok {
		t.Fatal("no data")
	}
	// Every entry reads back with a good CRC: the resumed bytes are whole.
	zr, err := zip.NewReader(bytes.NewReader(z.Data), int64(len(z.Data)))
	if err != nil {
		t.Fatalf("resumed download is not a zip: %v", err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err == nil {
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
		}
		if err != nil {
			t.Errorf("entry %s: %v", f.Name, err)
		}
	}
	faults := 0
	for _, r := range env.Srv.Requests() {
		if r.Endpoint == "data" && r.Fault != "" {
			faults++
		}
	}
	if faults == 0 {
		t.Error("no fault was injected on data downloads; the test proved nothing")
	}
	checkNoTemp(t, env)
}
