package engine

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// gatedSource lists first, then waits for gate before listing rest and
// returning fail. A listing that waited for its own end before exporting
// would never see gate close: the wait then ends in an error.
type gatedSource struct {
	fakeSource
	first, rest []sdk.ListedItem
	gate        chan struct{}
	fail        error
	// later, when set, lists more items after the gate (built then, as
	// they may need what the run has done by then).
	later func() []sdk.ListedItem
}

func (s *gatedSource) ListItems(ctx context.Context, req sdk.ListItemsRequest, fn func(sdk.ListedItem) error) error {
	for _, it := range s.first {
		if err := fn(it); err != nil {
			return err
		}
	}
	select {
	case <-s.gate:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(10 * time.Second):
		return sdk.Permanent("no export started while the listing went on")
	}
	rest := s.rest
	if s.later != nil {
		rest = append(rest, s.later()...)
	}
	for _, it := range rest {
		if err := fn(it); err != nil {
			return err
		}
	}
	return s.fail
}

func TestItemsExportWhileListing(t *testing.T) {
	dependent := item("m2", "ok map", "Web Map")
	dependent.Item.Dependencies = []string{"m1"}
	src := &gatedSource{
		first: []sdk.ListedItem{item("m1", "ok", "Web Map"), item("n1", "nb", "Notebook")},
		rest:  []sdk.ListedItem{dependent, item("m3", "ok", "Web Map")},
		gate:  make(chan struct{}),
	}
	f := newFixture(t, nil)
	f.opts.Source = src
	// The temporary export item an exporter of this run made meanwhile is
	// listed too: it is not the organization's content and is left out.
	runID := &runIDExporter{Exporter: f.exp}
	f.opts.Exporters["Web Map"] = Exporter{Name: "fakeexp", Exporter: runID, Format: "JSON"}
	src.later = func() []sdk.ListedItem {
		return []sdk.ListedItem{item("tmp1", sdk.TempExportTitle(runID.get(), "m1"), "File Geodatabase")}
	}
	var mu sync.Mutex
	var events []string
	var once sync.Once
	f.opts.Progress = func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		switch ev.Type {
		case EventQueued:
			events = append(events, "queued "+string(rune('0'+ev.Total)))
		case EventListed:
			events = append(events, "listed "+string(rune('0'+ev.Total)))
		case EventItemFinished:
			events = append(events, "finished "+ev.Item.ID)
			once.Do(func() { close(src.gate) })
		}
	}
	rep, err := Run(context.Background(), f.opts)
	if err != nil || rep.ExitCode != ExitOK {
		t.Fatalf("exit %d err %v events %v", rep.ExitCode, err, events)
	}
	st := statusOf(rep)
	for _, id := range []string{"m1", "m2", "m3"} {
		if st[id] != sdk.StatusExported {
			t.Errorf("%s: %s, want exported", id, st[id])
		}
	}
	if st["n1"] != sdk.StatusExcluded {
		t.Errorf("n1: %s, want excluded", st["n1"])
	}
	// m1's UsedBy names an item listed after m1 had been exported.
	for _, it := range rep.Items {
		if it.ID == "m1" && strings.Join(it.UsedBy, ",") != "m2" {
			t.Errorf("m1 used by %v, want [m2]", it.UsedBy)
		}
	}
	got := strings.Join(events, "; ")
	if !strings.HasPrefix(got, "queued 1; finished m1; queued 2; queued 3; ") || !strings.Contains(got, "listed 3") {
		t.Errorf("events %q: want m1 finished before the rest was listed, then the total 3", got)
	}
	for _, d := range f.dirs {
		m := readManifest(t, d, rep.RunFolder)
		if m.Counts.Exported != 3 || len(m.Items) != 4 { // m1-m3, n1; not tmp1
			t.Errorf("%s: manifest counts %+v, %d items", d, m.Counts, len(m.Items))
		}
	}
}

func TestListingFailureKeepsStartedItems(t *testing.T) {
	src := &gatedSource{
		first: []sdk.ListedItem{item("m1", "ok", "Web Map")},
		rest:  []sdk.ListedItem{item("m2", "ok", "Web Map")},
		gate:  make(chan struct{}),
		fail:  sdk.Permanent("search answered 400: invalid query"),
	}
	f := newFixture(t, nil)
	f.opts.Source = src
	var once sync.Once
	f.opts.Progress = func(ev Event) {
		if ev.Type == EventItemFinished {
			once.Do(func() { close(src.gate) })
		}
	}
	rep, err := Run(context.Background(), f.opts)
	if err == nil || !strings.Contains(err.Error(), "listing items") || rep.Status != report.StatusFailed || rep.ExitCode != ExitUsage {
		t.Fatalf("exit %d status %s err %v", rep.ExitCode, rep.Status, err)
	}
	st := statusOf(rep)
	if st["m1"] != sdk.StatusExported {
		t.Errorf("m1, exported before the listing failed: %s", st["m1"])
	}
	// m2 was listed just before the failure: it may have started.
	for _, it := range rep.Items {
		if it.ID == "m2" && it.Status != sdk.StatusExported && (it.Status != report.ItemCanceled || !strings.Contains(it.Reason, "listing the items failed")) {
			t.Errorf("m2: %s %q", it.Status, it.Reason)
		}
	}
	for _, d := range f.dirs {
		if m := readManifest(t, d, rep.RunFolder); m.Status != report.StatusFailed || m.Counts.Exported < 1 {
			t.Errorf("%s: manifest %s %+v", d, m.Status, m.Counts)
		}
	}
}

// runIDExporter records the run id its exports were asked for.
type runIDExporter struct {
	sdk.Exporter
	mu sync.Mutex
	id string
}

func (r *runIDExporter) Export(ctx context.Context, req sdk.ExportRequest, h sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	r.mu.Lock()
	r.id = req.RunID
	r.mu.Unlock()
	return r.Exporter.Export(ctx, req, h, out)
}

func (r *runIDExporter) get() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.id
}
