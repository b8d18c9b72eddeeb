package engine

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/version"
)

type fixture struct {
	dirs  []string
	opts  Options
	exp   *fakeExporter
	bad   *badSink
	retry atomic.Int32
}

// newFixture builds a run over items with two required local sinks plus
// extra sinks.
func newFixture(t *testing.T, items []sdk.ListedItem, extra ...Sink) *fixture {
	f := &fixture{exp: &fakeExporter{}}
	var sinks []Sink
	for _, name := range []string{"nas", "usb"} {
		dir := filepath.Join(t.TempDir(), name)
		s, feat := localSink(t, dir)
		f.dirs = append(f.dirs, dir)
		sinks = append(sinks, Sink{Block: sinkBlock(name, true), Sink: s, Features: feat})
	}
	sinks = append(sinks, extra...)
	now := t0
	f.opts = Options{
		Pipeline:  testPipeline(3),
		Source:    &fakeSource{items: items},
		Exporters: map[string]Exporter{"Web Map": {Name: "fakeexp", Exporter: f.exp, Format: "JSON"}, "Notebook": {Skip: true}},
		Sinks:     sinks,
		Now:       func() time.Time { return now },
	}
	f.opts.Retry.Sleep = noSleep(&f.retry)
	return f
}

func (f *fixture) badSink(t *testing.T, name string, required bool, kind sdk.ErrorKind) Sink {
	s, feat := localSink(t, filepath.Join(t.TempDir(), name))
	f.bad = &badSink{Sink: s, kind: kind}
	return Sink{Block: sinkBlock(name, required), Sink: f.bad, Features: feat}
}

func readManifest(t *testing.T, dir, folder string) *report.Run {
	t.Helper()
	fh, err := os.Open(filepath.Join(dir, folder, report.ManifestFile))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	defer fh.Close()
	r, err := report.ReadManifest(fh)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// noTempFiles fails when any sink holds a temp file or a half artifact.
func noTempFiles(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(e.Name(), ".agolpipe-tmp-") {
				t.Errorf("temp file left behind: %s", p)
			}
			return nil
		})
	}
}

func statusOf(r *report.Run) map[string]sdk.ExportStatus {
	m := map[string]sdk.ExportStatus{}
	for _, it := range r.Items {
		m[it.ID] = it.Status
	}
	return m
}

func TestRunMixedItemsAndSinks(t *testing.T) {
	excluded := item("x1", "key", "API Key")
	excluded.Excluded, excluded.Reason = true, "API keys are never backed up"
	items := []sdk.ListedItem{
		item("a1", "ok one", "Web Map"), item("a2", "ok two", "Web Map"), item("a3", "ok CON: three?", "Web Map"),
		item("p1", "partial", "Web Map"), item("f1", "fail", "Web Map"), item("c1", "panic", "Web Map"),
		item("n1", "notebook", "Notebook"), item("u1", "unknown", "Survey123 Form"), excluded,
	}
	f := newFixture(t, items)
	f.opts.Sinks = append(f.opts.Sinks, f.badSink(t, "cloud", false, sdk.KindPermanent))
	var events atomic.Int32
	f.opts.Progress = func(ev Event) {
		if ev.Type == EventItemFinished {
			events.Add(1)
		}
	}
	rep, err := Run(context.Background(), f.opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.ExitCode != ExitPartial || rep.Status != report.StatusPartial {
		t.Fatalf("exit %d status %s, want 1 partial", rep.ExitCode, rep.Status)
	}
	want := map[string]sdk.ExportStatus{"a1": "exported", "a2": "exported", "a3": "exported", "p1": "partial", "f1": "failed",
		"c1": "failed", "n1": "excluded", "u1": "skipped", "x1": "excluded"}
	if got := statusOf(rep); !equalMaps(got, want) {
		t.Fatalf("statuses %v\nwant %v", got, want)
	}
	if events.Load() != 6 {
		t.Errorf("%d item-finished events, want 6", events.Load())
	}
	for _, it := range rep.Items {
		if it.ID == "c1" && (it.ErrorKind != "crash" || !strings.Contains(it.Reason, "crashed")) {
			t.Errorf("panic not reported as a crash: %+v", it)
		}
		if it.ID == "f1" && (it.ErrorKind != "permanent" || it.Attempts != 1) {
			t.Errorf("permanent failure retried or misclassified: %+v", it)
		}
	}
	c := rep.Counts
	if c.Discovered != 9 || c.Exported != 3 || c.Partial != 1 || c.Failed != 2 || c.Skipped != 1 || c.Excluded != 2 || c.Artifacts != 7 {
		t.Errorf("counts %+v", c)
	}
	// The optional sink failed every artifact: a warning, not the exit code.
	cloud := rep.Sinks[2]
	if cloud.Outcome != "failed" || cloud.Missed != 7 || cloud.Stored != 0 || cloud.Required {
		t.Errorf("cloud sink %+v", cloud)
	}
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), `sink "cloud" (optional) missed 7`) {
		t.Errorf("warnings %v", rep.Warnings)
	}

	// Every artifact is in both required sinks, whole, with the sha256 the
	// manifest promises; each sink's manifest lists what it holds.
	for _, dir := range f.dirs {
		m := readManifest(t, dir, rep.RunFolder)
		if m.Status != report.StatusPartial || m.Pipeline.SHA256 != "feedface" || m.Source.PortalURL != "https://example.maps.arcgis.com" {
			t.Errorf("manifest header %+v", m)
		}
		if len(m.Artifacts) != 7 {
			t.Fatalf("%s: %d artifacts in manifest, want 7", dir, len(m.Artifacts))
		}
		for _, a := range m.Artifacts {
			b, err := os.ReadFile(filepath.Join(dir, rep.RunFolder, filepath.FromSlash(a.Path)))
			if err != nil {
				t.Fatal(err)
			}
			if sha(b) != a.SHA256 || int64(len(b)) != a.Size || a.Exporter != "fakeexp" || a.ItemType != "Web Map" {
				t.Errorf("%s: artifact %+v does not match the file", dir, a)
			}
			if string(b) != string(content(a.ItemID, a.Name, len(b))) {
				t.Errorf("%s: content of %s corrupted", dir, a.Path)
			}
			if len(a.Sinks) != 3 || a.Sinks[2].Status != report.Missed || a.Sinks[2].Error == "" {
				t.Errorf("per-sink outcome %+v", a.Sinks)
			}
		}
		for _, name := range []string{report.InventoryFile, report.ResultsFile, report.LogFile} {
			if _, err := os.Stat(filepath.Join(dir, rep.RunFolder, name)); err != nil {
				t.Errorf("report missing: %v", err)
			}
		}
		fh, _ := os.Open(filepath.Join(dir, rep.RunFolder, report.InventoryFile))
		rows, _ := csv.NewReader(fh).ReadAll()
		fh.Close()
		if len(rows) != 10 {
			t.Errorf("Inventory.csv has %d rows, want header + 9", len(rows))
		}
		b, _ := os.ReadFile(filepath.Join(dir, rep.RunFolder, report.LogFile))
		if !strings.Contains(string(b), "export failed") {
			t.Errorf("run.log lacks the failure:\n%s", b)
		}
	}
	// Unsafe titles became safe file names.
	if _, err := os.Stat(filepath.Join(f.dirs[0], rep.RunFolder, "Web Map", "ok CON_ three__a3.json")); err != nil {
		t.Errorf("safe name: %v", err)
	}
	noTempFiles(t, f.dirs...)
}

func equalMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestExitCodes(t *testing.T) {
	okItems := []sdk.ListedItem{item("a1", "ok", "Web Map"), item("a2", "ok", "Web Map")}
	for _, tc := range []struct {
		name     string
		items    []sdk.ListedItem
		bad      string // "", "required", "optional", "preflight-required", "preflight-optional"
		kind     sdk.ErrorKind
		wantExit int
		wantErr  string
	}{
		{"all exported", okItems, "", 0, ExitOK, ""},
		{"required sink misses artifacts", okItems, "required", sdk.KindPermanent, ExitPartial, ""},
		{"required sink flaky then retried", okItems, "required", sdk.KindRetryable, ExitPartial, ""},
		{"optional sink fails", okItems, "optional", sdk.KindPermanent, ExitOK, ""},
		{"required sink fails preflight", okItems, "preflight-required", sdk.KindAuth, ExitUsage, `sink "bad"`},
		{"optional sink fails preflight", okItems, "preflight-optional", sdk.KindAuth, ExitOK, ""},
		{"only failures", []sdk.ListedItem{item("f1", "fail", "Web Map")}, "", 0, ExitPartial, ""},
		{"nothing to do", nil, "", 0, ExitOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.items)
			if tc.bad != "" {
				s := f.badSink(t, "bad", strings.HasSuffix(tc.bad, "required"), tc.kind)
				if strings.HasPrefix(tc.bad, "preflight") {
					f.bad.preflight = sdk.Auth("the access key is wrong")
				}
				f.opts.Sinks = append(f.opts.Sinks, s)
			}
			rep, err := Run(context.Background(), f.opts)
			if rep.ExitCode != tc.wantExit {
				t.Fatalf("exit %d (%s), want %d; err %v", rep.ExitCode, rep.Status, tc.wantExit, err)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "access key") {
					t.Fatalf("err %v, want it to name %s and the cause", err, tc.wantErr)
				}
				// Nothing was exported before the preflight failure.
				if n := f.exp.count(); n != 0 {
					t.Errorf("%d exports started despite a failed preflight", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tc.bad == "required" && tc.kind == sdk.KindRetryable {
				// Each artifact was retried (the whole item exported again)
				// until retries ran out.
				if f.retry.Load() == 0 {
					t.Error("retryable sink error not retried")
				}
			}
			if tc.bad == "required" {
				for _, it := range rep.Items {
					if it.Status != sdk.StatusPartial || !strings.Contains(it.Reason, `required sink "bad"`) {
						t.Errorf("item %s: %s %q", it.ID, it.Status, it.Reason)
					}
				}
			}
			if tc.bad == "preflight-optional" && rep.Sinks[2].Outcome != "failed" {
				t.Errorf("optional sink outcome %+v", rep.Sinks[2])
			}
			noTempFiles(t, f.dirs...)
		})
	}
}

func (f *fakeExporter) count() int {
	n := 0
	f.attempts.Range(func(any, any) bool { n++; return true })
	return n
}

func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name         string
		title        string
		flakes       int
		retries      int
		wantStatus   sdk.ExportStatus
		wantAttempts int
		wantKind     string
	}{
		{"retryable then ok", "flaky", 2, 3, sdk.StatusExported, 3, ""},
		{"retryable exhausted", "flaky", 5, 1, sdk.StatusFailed, 2, "retryable"},
		{"retries = 0", "flaky", 1, 0, sdk.StatusFailed, 1, "retryable"},
		{"permanent never retried", "fail", 0, 3, sdk.StatusFailed, 1, "permanent"},
		{"truncated body retried", "truncated", 0, 2, sdk.StatusFailed, 3, "retryable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []sdk.ListedItem{item("r1", tc.title, "Web Map")})
			f.exp.flakes = tc.flakes
			f.opts.Pipeline.Run.Retries = tc.retries
			rep, err := Run(context.Background(), f.opts)
			if err != nil {
				t.Fatal(err)
			}
			it := rep.Items[0]
			if os.Getenv("DEBUG") != "" {
				filepath.WalkDir(f.dirs[0], func(p string, e fs.DirEntry, err error) error { t.Log(p); return nil })
				t.Logf("%+v", rep.Artifacts)
			}
			if it.Status != tc.wantStatus || it.Attempts != tc.wantAttempts || it.ErrorKind != tc.wantKind {
				t.Fatalf("item %+v", it)
			}
			// Only the last attempt's artifacts stay in the sinks.
			for _, dir := range f.dirs {
				var files []string
				filepath.WalkDir(filepath.Join(dir, rep.RunFolder, "Web Map"), func(p string, e fs.DirEntry, err error) error {
					if err == nil && !e.IsDir() {
						files = append(files, e.Name())
					}
					return nil
				})
				want := 0
				if tc.wantStatus == sdk.StatusExported {
					want = 1
				}
				if len(files) != want {
					t.Errorf("%s holds %v, want %d file(s) of the last attempt", dir, files, want)
				}
				if want == 1 && len(files) == 1 && !strings.Contains(files[0], "attempt3") {
					t.Errorf("kept %v, want the third attempt's artifact", files)
				}
			}
			noTempFiles(t, f.dirs...)
		})
	}
}

func TestDeferredExportCollected(t *testing.T) {
	f := newFixture(t, []sdk.ListedItem{item("d1", "deferred", "Web Map"), item("a1", "ok", "Web Map")})
	rep, err := Run(context.Background(), f.opts)
	if err != nil || rep.ExitCode != ExitOK {
		t.Fatalf("exit %d err %v", rep.ExitCode, err)
	}
	if s := statusOf(rep); s["d1"] != sdk.StatusExported {
		t.Fatalf("deferred item not collected: %v", s)
	}
}

func TestCancelWritesReportsAndLeavesNoHalfArtifact(t *testing.T) {
	var items []sdk.ListedItem
	items = append(items, item("a1", "ok", "Web Map"), item("a2", "ok", "Web Map"))
	for _, id := range []string{"s1", "s2", "s3"} {
		items = append(items, item(id, "slow", "Web Map"))
	}
	for _, id := range []string{"z1", "z2", "z3", "z4"} {
		items = append(items, item(id, "ok later", "Web Map"))
	}
	f := newFixture(t, items)
	f.opts.Pipeline.Run.Concurrency = 3
	f.exp.started = make(chan string, 10)
	f.exp.release = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel (as SIGINT does) once the three slow items are all in
		// flight and have written their first artifact.
		for range 3 {
			<-f.exp.started
		}
		cancel()
	}()
	rep, err := Run(ctx, f.opts)
	if sdk.KindOf(err) != sdk.KindCanceled || rep.ExitCode != ExitCanceled || rep.Status != report.StatusCanceled {
		t.Fatalf("exit %d status %s err %v", rep.ExitCode, rep.Status, err)
	}
	st := statusOf(rep)
	if st["a1"] != sdk.StatusExported || st["a2"] != sdk.StatusExported {
		t.Errorf("finished items lost: %v", st)
	}
	for _, id := range []string{"s1", "s2", "s3", "z1", "z2", "z3", "z4"} {
		if st[id] != report.ItemCanceled {
			t.Errorf("%s: %s, want canceled", id, st[id])
		}
	}
	for _, dir := range f.dirs {
		m := readManifest(t, dir, rep.RunFolder)
		if m.Status != report.StatusCanceled || len(m.Artifacts) != 4 {
			t.Errorf("manifest status %s with %d artifacts, want canceled with 4", m.Status, len(m.Artifacts))
		}
		// The slow items' first artifacts were whole but their item never
		// finished: they are gone, and nothing else is in the folder.
		entries, _ := os.ReadDir(filepath.Join(dir, rep.RunFolder, "Web Map"))
		if len(entries) != 4 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("%s holds %v, want only the 4 artifacts of a1 and a2", dir, names)
		}
	}
	noTempFiles(t, f.dirs...)
}

func TestNotifiersFilterByStatus(t *testing.T) {
	f := newFixture(t, []sdk.ListedItem{item("f1", "fail", "Web Map")})
	always := &fakeNotifier{}
	onSuccess := &fakeNotifier{}
	dflt := &fakeNotifier{}
	f.opts.Notifiers = []Notifier{
		{Block: notifierBlock("always", "success", "failed", "partial"), Notifier: always},
		{Block: notifierBlock("ok-only", "success"), Notifier: onSuccess},
		{Block: notifierBlock("default"), Notifier: dflt},
	}
	rep, _ := Run(context.Background(), f.opts)
	if rep.Status != report.StatusFailed {
		t.Fatalf("status %s", rep.Status)
	}
	if len(always.got) != 1 || len(onSuccess.got) != 0 || len(dflt.got) != 1 {
		t.Fatalf("notified: always %d, ok-only %d, default %d", len(always.got), len(onSuccess.got), len(dflt.got))
	}
	n := always.got[0]
	if n.Status != "failed" || n.ExitCode != 1 || n.Counts["failed"] != 1 || !strings.Contains(n.Results, "Refused by the portal") || len(n.Locations) != 2 {
		t.Errorf("notify request %+v", n)
	}
}

func TestDryRunExportsNothing(t *testing.T) {
	f := newFixture(t, []sdk.ListedItem{item("a1", "ok", "Web Map"), item("n1", "nb", "Notebook")})
	f.opts.DryRun = true
	rep, err := Run(context.Background(), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	if f.exp.count() != 0 || rep.Items[0].Exporter != "fakeexp" || rep.Items[1].Status != sdk.StatusExcluded {
		t.Fatalf("plan: %+v", rep.Items)
	}
	for _, d := range f.dirs {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("dry run touched sink %s: %v", d, err)
		}
	}
}

var update = flag.Bool("update", false, "rewrite golden files")

// TestReportsGolden runs a deterministic fake run (fixed clock, one worker)
// and compares the Results.txt and Inventory.csv it wrote with the golden
// files in testdata.
func TestReportsGolden(t *testing.T) {
	excluded := item("x1", "key", "API Key")
	excluded.Excluded, excluded.Reason = true, "API keys are never backed up"
	deps := item("a1", "ok parks", "Web Map")
	deps.Item.Dependencies = []string{"p1", "d2"} // p1 is in the run (Used By), d2 is not
	items := []sdk.ListedItem{deps, item("p1", "partial trails", "Web Map"), item("f1", "fail hydrants", "Web Map"),
		item("c1", "panic map", "Web Map"), item("n1", "notebook", "Notebook"), item("u1", "form", "Form"), excluded}
	f := newFixture(t, items)
	f.opts.Pipeline.Run.Concurrency = 1
	f.opts.Sinks = append(f.opts.Sinks, f.badSink(t, "cloud", false, sdk.KindPermanent))
	rep, err := Run(context.Background(), f.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{report.ResultsFile, report.InventoryFile} {
		b, err := os.ReadFile(filepath.Join(f.dirs[0], rep.RunFolder, name))
		if err != nil {
			t.Fatal(err)
		}
		// Sink locations are temp dirs; the golden file names them by role.
		s := string(b)
		for i, d := range f.dirs {
			s = strings.ReplaceAll(s, d, fmt.Sprintf("<sink%d>", i))
		}
		s = regexp.MustCompile(`/tmp/\S+/cloud`).ReplaceAllString(s, "<cloud>")
		s = strings.ReplaceAll(s, version.Version, "<version>")
		golden := filepath.Join("testdata", name+".golden")
		if *update {
			os.MkdirAll("testdata", 0o755)
			os.WriteFile(golden, []byte(s), 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if s != string(want) {
			t.Errorf("%s differs from %s (go test -update to accept):\n%s", name, golden, s)
		}
	}
}
