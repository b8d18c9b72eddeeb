package retention

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/ziprun"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

var now = time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC) // a Saturday

func folderAt(t time.Time) string { return "PROD_" + t.Format("2006-01-02_15-04-05") }

func runAt(t time.Time, status string) Run {
	return Run{Folder: folderAt(t), Manifest: Manifest{SchemaVersion: 1, RunID: "r" + t.Format("150405"), RunFolder: folderAt(t), Started: t, Status: status}}
}

// nightly makes one run a day at 02:00 for n days back from now, newest first.
func nightly(n int, status func(i int) string) []Run {
	var runs []Run
	for i := range n {
		t := time.Date(2024, 6, 15, 2, 0, 0, 0, time.UTC).AddDate(0, 0, -i)
		st := "success"
		if status != nil {
			st = status(i)
		}
		runs = append(runs, runAt(t, st))
	}
	return runs
}

func days(runs []Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.Manifest.Started.Format("01-02"))
	}
	sort.Strings(out)
	return out
}

func TestSelect(t *testing.T) {
	day := 24 * time.Hour
	cases := []struct {
		name     string
		runs     []Run
		policy   Policy
		wantKeep []string // MM-DD of kept runs, sorted
	}{
		{
			name:     "delete_after alone",
			runs:     nightly(10, nil),
			policy:   Policy{DeleteAfter: 3 * day},
			wantKeep: []string{"06-13", "06-14", "06-15"},
		},
		{
			name:     "keep_daily alone",
			runs:     nightly(10, nil),
			policy:   Policy{KeepDaily: 4},
			wantKeep: []string{"06-12", "06-13", "06-14", "06-15"},
		},
		{
			// ISO weeks: Jun 10-16, Jun 3-9, May 27-Jun 2, May 20-26. The
			// newest run of each week is kept: 15th, 9th, 2nd, 26th.
			name:     "keep_weekly keeps the newest of each week",
			runs:     nightly(30, nil),
			policy:   Policy{KeepWeekly: 4},
			wantKeep: []string{"05-26", "06-02", "06-09", "06-15"},
		},
		{
			name:     "keep_monthly keeps the newest of each month",
			runs:     nightly(70, nil),
			policy:   Policy{KeepMonthly: 3},
			wantKeep: []string{"04-30", "05-31", "06-15"},
		},
		{
			name:     "GFS union with delete_after",
			runs:     nightly(70, nil),
			policy:   Policy{DeleteAfter: 2 * day, KeepDaily: 3, KeepWeekly: 2, KeepMonthly: 2},
			wantKeep: []string{"05-31", "06-09", "06-13", "06-14", "06-15"},
		},
		{
			// Failed runs take no keep slot; the newest complete run is
			// kept even when it is older than delete_after.
			name: "failed runs never hold a slot, newest complete always kept",
			runs: nightly(10, func(i int) string {
				if i < 5 {
					return "failed"
				}
				return "success"
			}),
			policy:   Policy{DeleteAfter: 1 * day, KeepDaily: 2},
			wantKeep: []string{"06-09", "06-10", "06-15"},
		},
		{
			name:     "partial runs count as complete",
			runs:     nightly(3, func(int) string { return "partial" }),
			policy:   Policy{KeepDaily: 1},
			wantKeep: []string{"06-15"},
		},
		{
			name:     "an empty policy deletes nothing",
			runs:     nightly(5, nil),
			policy:   Policy{},
			wantKeep: []string{"06-11", "06-12", "06-13", "06-14", "06-15"},
		},
		{
			name: "two runs a day: only the newest of the day is the daily keep",
			runs: []Run{
				runAt(time.Date(2024, 6, 15, 11, 0, 0, 0, time.UTC), "success"),
				runAt(time.Date(2024, 6, 15, 1, 0, 0, 0, time.UTC), "success"),
				runAt(time.Date(2024, 6, 14, 23, 0, 0, 0, time.UTC), "success"),
				runAt(time.Date(2024, 6, 14, 1, 0, 0, 0, time.UTC), "success"),
			},
			policy:   Policy{KeepDaily: 2},
			wantKeep: []string{"06-14", "06-15"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keep, del := Select(c.runs, c.policy, now, time.UTC)
			if got := days(keep); strings.Join(got, " ") != strings.Join(c.wantKeep, " ") {
				t.Errorf("kept %v, want %v", got, c.wantKeep)
			}
			if len(keep)+len(del) != len(c.runs) {
				t.Errorf("kept %d + deleted %d != %d runs", len(keep), len(del), len(c.runs))
			}
			for _, r := range append(keep, del...) {
				if r.Reason == "" {
					t.Errorf("run %s has no reason", r.Folder)
				}
			}
		})
	}
}

// Days begin where the user lives: a run at 23:30 in New York is that
// day's run there, though it is already the next day in UTC.
func TestSelectTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no tz database")
	}
	runs := []Run{
		runAt(time.Date(2024, 6, 15, 3, 30, 0, 0, time.UTC), "success"), // Jun 14 23:30 NY
		runAt(time.Date(2024, 6, 14, 20, 0, 0, 0, time.UTC), "success"), // Jun 14 16:00 NY
	}
	keep, _ := Select(runs, Policy{KeepDaily: 5}, now, ny)
	if len(keep) != 1 {
		t.Errorf("in New York both runs are on Jun 14; kept %d, want 1", len(keep))
	}
	keep, _ = Select(runs, Policy{KeepDaily: 5}, now, time.UTC)
	if len(keep) != 2 {
		t.Errorf("in UTC the runs are on two days; kept %d, want 2", len(keep))
	}
}

func putRun(t *testing.T, s sdk.Sink, folder string, m any, files ...string) {
	t.Helper()
	ctx := context.Background()
	if folder != "" {
		folder += "/"
	}
	for _, f := range files {
		if _, err := s.Put(ctx, sdk.PutRequest{Path: folder + f, Size: 4, Body: strings.NewReader("data")}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(m)
	if _, err := s.Put(ctx, sdk.PutRequest{Path: folder + ManifestName, Size: int64(len(b)), Body: strings.NewReader(string(b))}); err != nil {
		t.Fatal(err)
	}
}

func listAll(t *testing.T, s sdk.Sink) []string {
	var out []string
	if err := s.List(context.Background(), sdk.ListRequest{}, func(o sdk.ObjectInfo) error { out = append(out, o.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// populate writes 6 nightly runs plus things retention must never touch.
func populate(t *testing.T, s sdk.Sink) {
	for i := range 6 {
		st := time.Date(2024, 6, 15, 2, 0, 0, 0, time.UTC).AddDate(0, 0, -i)
		f := folderAt(st)
		putRun(t, s, f, map[string]any{"schema_version": 1, "run_id": fmt.Sprint("run", i), "run_folder": f, "started": st, "status": "success"},
			"Feature Service/Parcels_abc.zip", "Inventory.csv", "Web Map/deep/x.json")
	}
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	// A folder someone else put a manifest.json in.
	putRun(t, s, "someone-else", map[string]any{"name": "my project", "version": "1.0"}, "important.docx")
	// An agolpipe manifest copied into a folder of another name.
	putRun(t, s, "copied-run", map[string]any{"schema_version": 1, "run_id": "x", "run_folder": folderAt(old), "started": old, "status": "success"}, "a.bin")
	// A manifest at the sink root: the root is never a run.
	putRun(t, s, "", map[string]any{"schema_version": 1, "run_id": "root", "run_folder": "", "started": old, "status": "success"})
	// Loose files.
	for _, p := range []string{"README.txt", "PROD_2019-01-01_00-00-00/no-manifest.bin"} {
		if _, err := s.Put(context.Background(), sdk.PutRequest{Path: strings.TrimPrefix(p, "/"), Size: 1, Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
}

func applyAndCheck(t *testing.T, s sdk.Sink) {
	ctx := context.Background()
	policy := Policy{DeleteAfter: 3 * 24 * time.Hour, KeepDaily: 1}
	before := listAll(t, s)

	dry := policy
	dry.DryRun = true
	res, err := Apply(ctx, s, dry, Options{Now: now, Location: time.UTC})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if len(res.Deleted) != 3 || !res.DryRun {
		t.Errorf("dry run would delete %d runs, want 3", len(res.Deleted))
	}
	if got := listAll(t, s); strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Fatalf("dry run changed the sink:\n%v\n->\n%v", before, got)
	}
	if len(res.Ignored) != 2 {
		t.Errorf("ignored %v, want someone-else and copied-run", res.Ignored)
	}

	res, err = Apply(ctx, s, policy, Options{Now: now, Location: time.UTC})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var deleted []string
	for _, r := range res.Deleted {
		deleted = append(deleted, r.Folder)
	}
	sort.Strings(deleted)
	want := []string{"PROD_2024-06-10_02-00-00", "PROD_2024-06-11_02-00-00", "PROD_2024-06-12_02-00-00"}
	if strings.Join(deleted, " ") != strings.Join(want, " ") {
		t.Errorf("deleted %v, want %v", deleted, want)
	}
	if res.DeletedObjects != 12 {
		t.Errorf("deleted %d objects, want 12", res.DeletedObjects)
	}
	after := listAll(t, s)
	for _, p := range after {
		for _, d := range want {
			if strings.HasPrefix(p, d+"/") {
				t.Errorf("%s survived", p)
			}
		}
	}
	for _, keep := range []string{"someone-else/important.docx", "someone-else/manifest.json", "copied-run/a.bin", "manifest.json", "README.txt",
		"PROD_2019-01-01_00-00-00/no-manifest.bin", "PROD_2024-06-13_02-00-00/manifest.json", "PROD_2024-06-15_02-00-00/Web Map/deep/x.json"} {
		found := false
		for _, p := range after {
			found = found || p == keep
		}
		if !found {
			t.Errorf("%s was deleted; retention must never touch it", keep)
		}
	}
	// Nothing is left to do: a second prune deletes nothing.
	res, err = Apply(ctx, s, policy, Options{Now: now, Location: time.UTC})
	if err != nil || len(res.Deleted) != 0 {
		t.Errorf("second prune: deleted %d, err %v", len(res.Deleted), err)
	}
}

func TestApplyMemory(t *testing.T) {
	s := sinktest.NewMemSink()
	populate(t, s)
	applyAndCheck(t, s)
}

// The same policy on a real folder, through the local sink's plugin
// process, is cmd/agolpipe's TestPrune (core never imports plugins). On a
// folder of the local filesystem in this process:
func TestApplyFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	s := sinktest.NewDirSink(dir)
	if err := s.Preflight(context.Background()); err != nil {
		t.Fatal(err)
	}
	populate(t, s)
	applyAndCheck(t, s)
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the sink's folder is gone: %v", err)
	}
}

// A run folder whose deletion is interrupted keeps its manifest, so the
// next prune still recognises and finishes it.
func TestManifestDeletedLast(t *testing.T) {
	s := sinktest.NewMemSink()
	st := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	f := folderAt(st)
	putRun(t, s, f, map[string]any{"schema_version": 1, "run_id": "a", "run_folder": f, "started": st, "status": "success"}, "a.bin", "b.bin")
	putRun(t, s, folderAt(now), map[string]any{"schema_version": 1, "run_id": "b", "run_folder": folderAt(now), "started": now, "status": "success"}, "a.bin")
	fs := &failingDelete{MemSink: s, failOn: f + "/b.bin"}
	if _, err := Apply(context.Background(), fs, Policy{DeleteAfter: time.Hour}, Options{Now: now}); err == nil {
		t.Fatal("Apply ignored a failed delete")
	}
	if _, err := s.Stat(context.Background(), f+"/"+ManifestName); err != nil {
		t.Fatalf("manifest deleted before the run's other objects: %v", err)
	}
	fs.failOn = ""
	res, err := Apply(context.Background(), fs, Policy{DeleteAfter: time.Hour}, Options{Now: now})
	if err != nil || len(res.Deleted) != 1 {
		t.Fatalf("second prune: %v, %d deleted", err, len(res.Deleted))
	}
	if got := listAll(t, s); len(got) != 2 {
		t.Errorf("left %v", got)
	}
}

type failingDelete struct {
	*sinktest.MemSink
	failOn string
}

func (f *failingDelete) Delete(ctx context.Context, p string) error {
	if p == f.failOn {
		return sdk.Retryable("disk busy")
	}
	return f.MemSink.Delete(ctx, p)
}

// A zipped run (R/R.zip plus R/manifest.json, written by core/ziprun) is a
// run like any other: recognised by its manifest, deleted whole.
func TestZippedRun(t *testing.T) {
	mem := sinktest.NewMemSink()
	ctx := context.Background()
	old := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	for _, st := range []time.Time{old, now} {
		f := folderAt(st)
		z := ziprun.New(mem, f, ziprun.Options{})
		if _, err := z.Put(ctx, sdk.PutRequest{Path: f + "/Web Map/m.json", Size: 2, Body: strings.NewReader("{}")}); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"schema_version": 1, "run_id": f, "run_folder": f, "started": st, "status": "success"})
		if _, err := z.Put(ctx, sdk.PutRequest{Path: f + "/" + ManifestName, Size: int64(len(b)), Body: strings.NewReader(string(b))}); err != nil {
			t.Fatal(err)
		}
		if _, err := z.Finish(ctx); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Apply(ctx, mem, Policy{DeleteAfter: 24 * time.Hour}, Options{Now: now})
	if err != nil || len(res.Deleted) != 1 || res.Deleted[0].Folder != folderAt(old) || res.DeletedObjects != 2 {
		t.Fatalf("Apply: %v, %+v", err, res.Deleted)
	}
	want := []string{folderAt(now) + "/" + folderAt(now) + ".zip", folderAt(now) + "/manifest.json"}
	if got := listAll(t, mem); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("left %v, want %v", got, want)
	}
}

func TestReadManifestStreamsPastLargeFields(t *testing.T) {
	mem := sinktest.NewMemSink()
	st := time.Date(2024, 1, 1, 2, 0, 0, 0, time.UTC)
	items := make([]map[string]any, 20000)
	for i := range items {
		items[i] = map[string]any{"id": fmt.Sprint(i), "title": "x", "nested": []any{1, "a", map[string]any{"b": []int{1}}}}
	}
	// Items before the fields retention needs, to prove they are skipped.
	b, _ := json.Marshal(map[string]any{"aaa_items": items, "schema_version": 1, "run_id": "r", "run_folder": "R", "started": st, "status": "partial"})
	if _, err := mem.Put(context.Background(), sdk.PutRequest{Path: "R/manifest.json", Size: int64(len(b)), Body: strings.NewReader(string(b))}); err != nil {
		t.Fatal(err)
	}
	m, err := readManifest(context.Background(), mem, "R/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 1 || m.RunID != "r" || m.RunFolder != "R" || !m.Started.Equal(st) || m.Status != "partial" {
		t.Errorf("read %+v", m)
	}
	for _, junk := range []string{`[1,2]`, `"manifest"`, `{"schema_version": "one"}`, `{`} {
		_, _ = mem.Put(context.Background(), sdk.PutRequest{Path: "J/manifest.json", Size: -1, Body: strings.NewReader(junk)})
		if m, err := readManifest(context.Background(), mem, "J/manifest.json"); err == nil && m.check("J") == nil {
			t.Errorf("%s read as a manifest", junk)
		}
	}
}

// TestSelectFullAndIncremental: in one pipeline's runs, 200 days of a full
// run every Sunday and incremental runs on the other days, the newest run
// an incremental one holding a single item. The newest complete full run
// is kept (the incremental one never stands in for it), every keep slot of
// a period with a full run goes to that full run, and each kept
// incremental run keeps the full run it builds on.
func TestSelectFullAndIncremental(t *testing.T) {
	var runs []Run
	for i := range 200 {
		at := time.Date(2024, 6, 15, 2, 0, 0, 0, time.UTC).AddDate(0, 0, -i)
		r := runAt(at, "success")
		if at.Weekday() != time.Sunday {
			since := at.Add(-24 * time.Hour)
			r.Manifest.ModifiedSince = &since
		}
		runs = append(runs, r)
	}
	p := Policy{DeleteAfter: 10 * 24 * time.Hour, KeepWeekly: 4, KeepMonthly: 6}
	keep, del := Select(runs, p, now, time.UTC)
	if len(keep)+len(del) != len(runs) {
		t.Fatalf("%d kept + %d deleted of %d runs", len(keep), len(del), len(runs))
	}
	kept := map[string]Run{}
	for _, r := range keep {
		kept[r.Folder] = r
	}
	newestFull := folderAt(time.Date(2024, 6, 9, 2, 0, 0, 0, time.UTC)) // the Sunday before
	if r, ok := kept[newestFull]; !ok || !strings.Contains(r.Reason, "newest complete full run") {
		t.Errorf("the newest full run %s: kept %v, reason %q", newestFull, ok, r.Reason)
	}
	periodsWithFull := map[string]bool{}
	for _, r := range runs {
		if r.Full() {
			y, w := r.Manifest.Started.ISOWeek()
			periodsWithFull[fmt.Sprintf("weekly %d-W%02d", y, w)] = true
			periodsWithFull["monthly "+r.Manifest.Started.Format("2006-01")] = true
		}
	}
	for _, r := range keep {
		if !r.Full() && strings.Contains(r.Reason, "full run") && !strings.Contains(r.Reason, "incremental run") {
			t.Errorf("incremental run %s kept as a full run: %s", r.Folder, r.Reason)
		}
		for period := range periodsWithFull {
			if !r.Full() && strings.Contains(r.Reason, period) {
				t.Errorf("incremental run %s took the keep slot %s, which has a full run: %s", r.Folder, period, r.Reason)
			}
		}
	}
	// Six monthly slots, each a full run, all kept.
	monthly := 0
	for _, r := range keep {
		if strings.Contains(r.Reason, "monthly ") {
			monthly++
		}
	}
	if monthly != 6 {
		t.Errorf("%d monthly slots kept, want 6", monthly)
	}
	// Every kept incremental run has its base: the newest full run before it.
	for i, r := range runs {
		if _, ok := kept[r.Folder]; !ok || r.Full() {
			continue
		}
		for _, b := range runs[i+1:] {
			if b.Full() {
				if _, ok := kept[b.Folder]; !ok {
					t.Errorf("kept incremental run %s lost its full run %s", r.Folder, b.Folder)
				}
				break
			}
		}
	}
	// A newest incremental run on its own does not make the full runs
	// deletable: with only delete_after, the last full run stays.
	keep, _ = Select(runs, Policy{DeleteAfter: 24 * time.Hour}, now, time.UTC)
	if _, ok := func() (Run, bool) {
		for _, r := range keep {
			if r.Folder == newestFull {
				return r, true
			}
		}
		return Run{}, false
	}(); !ok {
		t.Errorf("with delete_after 1d the newest full run %s went; only incremental runs remain: %v", newestFull, days(keep))
	}
}

// TestSelectUnfinished: a run folder whose manifest still says running is
// kept while it may still be going and deleted after IncompleteGrace, even
// within delete_after, since it is no backup.
func TestSelectUnfinished(t *testing.T) {
	runs := []Run{
		runAt(now.Add(-2*time.Hour), "running"),
		runAt(now.Add(-24*time.Hour), "success"),
		runAt(now.Add(-IncompleteGrace-time.Hour), "running"),
	}
	keep, del := Select(runs, Policy{DeleteAfter: 30 * 24 * time.Hour}, now, time.UTC)
	if len(keep) != 2 || keep[0].Folder != runs[0].Folder || !strings.Contains(keep[0].Reason, "may still be going") {
		t.Errorf("kept %+v", keep)
	}
	if len(del) != 1 || del[0].Folder != runs[2].Folder || !strings.Contains(del[0].Reason, "unfinished") {
		t.Errorf("deleted %+v", del)
	}
}
