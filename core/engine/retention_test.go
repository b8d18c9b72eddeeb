package engine

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

func zipSinkFor(t *testing.T, name string) (Sink, string) {
	dir := filepath.Join(t.TempDir(), name)
	s, feat := localSink(t, dir)
	b := sinkBlock(name, true)
	b.Zip = true
	return Sink{Block: b, Sink: s, Features: feat}, dir
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestZipSink: a sink with zip = true holds one archive with every artifact
// and report, manifest.json and Results.txt beside it, and the manifest's
// sha256s match the archive's entries.
func TestZipSink(t *testing.T) {
	items := []sdk.ListedItem{item("a1", "ok one", "Web Map"), item("a2", "ok two", "Web Map"), item("p1", "partial", "Web Map")}
	f := newFixture(t, items)
	zs, zdir := zipSinkFor(t, "zipped")
	f.opts.Sinks = append(f.opts.Sinks, zs)
	rep, err := Run(context.Background(), f.opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.ExitCode != ExitPartial {
		t.Fatalf("exit %d, want 1 (one partial item)", rep.ExitCode)
	}
	run := rep.RunFolder
	archive := run + "/" + run + ".zip"
	want := []string{run + "/" + report.ResultsFile, archive, run + "/" + report.ManifestFile}
	sort.Strings(want)
	if got := listFiles(t, zdir); !slices.Equal(got, want) {
		t.Fatalf("zipped sink holds %v, want %v", got, want)
	}
	rs := rep.Sinks[2]
	if rs.Archive != archive || !strings.HasSuffix(rs.RunPath, archive) || !rs.Reports || rs.Outcome != "ok" {
		t.Errorf("sink record %+v: want archive %s in RunPath, reports written, ok", rs, archive)
	}
	m := readManifest(t, zdir, run)
	if m.Sinks[2].Archive != archive {
		t.Errorf("manifest beside the archive names archive %q, want %q", m.Sinks[2].Archive, archive)
	}
	if len(m.Artifacts) != 5 {
		t.Fatalf("manifest lists %d artifacts, want 5", len(m.Artifacts))
	}
	entries, _ := archiveEntries(t, filepath.Join(zdir, filepath.FromSlash(archive)))
	for _, a := range m.Artifacts {
		if got, ok := entries[a.Path]; !ok {
			t.Errorf("artifact %s not in the archive (entries %v)", a.Path, entries)
		} else if got != a.SHA256 {
			t.Errorf("artifact %s: archive sha256 %s, manifest %s", a.Path, got, a.SHA256)
		}
	}
	for _, r := range []string{report.ManifestFile, report.InventoryFile, report.ResultsFile, report.LogFile} {
		if _, ok := entries[r]; !ok {
			t.Errorf("report %s not in the archive", r)
		}
	}
	// The manifest inside the archive is the one beside it.
	beside, _ := os.ReadFile(filepath.Join(zdir, run, report.ManifestFile))
	if entries[report.ManifestFile] != sha(beside) {
		t.Error("manifest.json beside the archive differs from the one inside")
	}
	// The unzipped sinks are unchanged: artifacts as files.
	if _, err := os.Stat(filepath.Join(f.dirs[0], run, report.ManifestFile)); err != nil {
		t.Error(err)
	}
}

// failingArchive is a local sink that refuses the archive after reading it.
type failingArchive struct{ sdk.Sink }

func (s failingArchive) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	if strings.HasSuffix(req.Path, ".zip") {
		io.Copy(io.Discard, req.Body)
		return sdk.PutResponse{}, sdk.Permanent("quota exceeded")
	}
	return s.Sink.Put(ctx, req)
}

// TestZipSinkArchiveFails: when the archive cannot be stored, nothing of
// the run stays in that sink (no manifest.json claims it), the sink is
// failed and the run is not a success.
func TestZipSinkArchiveFails(t *testing.T) {
	f := newFixture(t, []sdk.ListedItem{item("a1", "ok one", "Web Map")})
	zs, zdir := zipSinkFor(t, "zipped")
	zs.Sink = failingArchive{zs.Sink}
	f.opts.Sinks = append(f.opts.Sinks, zs)
	rep, _ := Run(context.Background(), f.opts)
	if rep.ExitCode != ExitPartial {
		t.Errorf("exit %d, want 1: a required sink has no archive", rep.ExitCode)
	}
	if got := listFiles(t, zdir); len(got) != 0 {
		t.Errorf("the failed zipped sink still holds %v", got)
	}
	if rs := rep.Sinks[2]; rs.Outcome != "failed" || rs.Reports || !strings.Contains(rs.Error, "quota exceeded") {
		t.Errorf("zipped sink record %+v, want failed with the sink's error", rs)
	}
}

// TestZipSinkAbortedOnCancel: a cancelled run still seals an archive of
// what finished, and leaves no temporary file.
func TestZipSinkAbortedOnCancel(t *testing.T) {
	f := newFixture(t, []sdk.ListedItem{item("s1", "slow one", "Web Map")})
	f.exp.started = make(chan string, 1)
	f.exp.release = make(chan struct{})
	zs, zdir := zipSinkFor(t, "zipped")
	f.opts.Sinks = append(f.opts.Sinks, zs)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-f.exp.started; cancel() }()
	rep, err := Run(ctx, f.opts)
	if sdk.KindOf(err) != sdk.KindCanceled || rep.ExitCode != ExitCanceled {
		t.Fatalf("err %v exit %d, want canceled", err, rep.ExitCode)
	}
	// The reports of a cancelled run still go to every sink, the zipped one
	// as a sealed archive holding only what finished.
	for _, p := range listFiles(t, zdir) {
		if !strings.HasSuffix(p, ".zip") && !strings.HasSuffix(p, report.ManifestFile) && !strings.HasSuffix(p, report.ResultsFile) {
			t.Errorf("unexpected file %s in the zipped sink", p)
		}
	}
	noTempFiles(t, zdir)
}

func retentionBlock(after time.Duration, dry bool) *pipeline.Retention {
	return &pipeline.Retention{DeleteAfter: after, DryRun: dry}
}

// TestRetentionAfterRuns: three runs a day apart with delete_after = 30h;
// after the third, only the first is deleted, in the plain sink and the
// zipped one, and the dry_run sink keeps all three while saying what it
// would delete. A failed fourth run prunes nothing.
func TestRetentionAfterRuns(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, zipped, dry bool) Sink {
		s, feat := localSink(t, filepath.Join(base, name))
		b := sinkBlock(name, true)
		b.Zip, b.Retention = zipped, retentionBlock(30*time.Hour, dry)
		return Sink{Block: b, Sink: s, Features: feat}
	}
	sinks := []Sink{mk("nas", false, false), mk("zipped", true, false), mk("dry", false, true)}
	// Something that is not a run: retention never touches it.
	os.MkdirAll(filepath.Join(base, "nas"), 0o755)
	if err := os.WriteFile(filepath.Join(base, "nas", "README.txt"), []byte("hands off"), 0o644); err != nil {
		t.Fatal(err)
	}

	run := func(at time.Time, items ...sdk.ListedItem) *report.Run {
		t.Helper()
		f := newFixture(t, items)
		f.opts.Sinks = sinks
		f.opts.Now = func() time.Time { return at }
		rep, err := Run(context.Background(), f.opts)
		if err != nil && rep.Status != report.StatusFailed {
			t.Fatalf("run at %s: %v", at, err)
		}
		return rep
	}
	runs := []*report.Run{
		run(t0, item("a1", "ok one", "Web Map")),
		run(t0.Add(24*time.Hour), item("a1", "ok one", "Web Map")),
		run(t0.Add(48*time.Hour), item("a1", "ok one", "Web Map")),
	}
	folders := func(sink string) []string {
		ents, _ := os.ReadDir(filepath.Join(base, sink))
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	first, second, third := runs[0].RunFolder, runs[1].RunFolder, runs[2].RunFolder
	check := func(sink string, want ...string) {
		t.Helper()
		sort.Strings(want)
		if got := folders(sink); !slices.Equal(got, want) {
			t.Errorf("sink %s holds %v, want %v", sink, got, want)
		}
	}
	check("nas", second, third, "README.txt")
	check("zipped", second, third)
	check("dry", first, second, third)

	last := runs[2]
	for i, name := range []string{"nas", "zipped", "dry"} {
		r := last.Sinks[i].Retention
		if r == nil || r.Skipped != "" || len(r.Deleted) != 1 || r.Deleted[0].Folder != first || r.Kept != 2 {
			t.Errorf("sink %s retention %+v, want %s deleted and 2 kept", name, r, first)
		}
	}
	if !last.Sinks[2].Retention.DryRun {
		t.Error("dry sink: retention not marked dry_run")
	}
	if r := runs[1].Sinks[0].Retention; r == nil || len(r.Deleted) != 0 {
		t.Errorf("second run deleted %+v; the first run was only 24h old", r)
	}
	// Results.txt and run.log (and Results.txt beside the archive) say it.
	for _, p := range []string{"nas/" + third + "/Results.txt", "zipped/" + third + "/Results.txt", "nas/" + third + "/run.log"} {
		b, err := os.ReadFile(filepath.Join(base, p))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), first) {
			t.Errorf("%s does not name the deleted run %s:\n%s", p, first, b)
		}
	}
	b, _ := os.ReadFile(filepath.Join(base, "dry", third, "Results.txt"))
	if !strings.Contains(string(b), "would delete (dry_run) 1 run(s)") {
		t.Errorf("dry sink's Results.txt does not say what it would delete:\n%s", b)
	}

	// A failed run (every item failed) never prunes, even with runs past
	// delete_after.
	failed := run(t0.Add(96*time.Hour), item("f1", "fail", "Web Map"))
	if failed.Status != report.StatusFailed {
		t.Fatalf("fourth run status %s, want failed", failed.Status)
	}
	if r := failed.Sinks[0].Retention; r == nil || r.Skipped == "" {
		t.Errorf("failed run applied retention: %+v", r)
	}
	check("nas", second, third, failed.RunFolder, "README.txt")
	b, _ = os.ReadFile(filepath.Join(base, "nas", failed.RunFolder, "Results.txt"))
	if !strings.Contains(string(b), "Retention: not applied: the run ended failed") {
		t.Errorf("failed run's Results.txt does not say retention was skipped:\n%s", b)
	}
}

// TestRetentionSkippedWhenSinkMissed: a sink that missed an artifact is not
// pruned (it does not hold this run whole), the others are.
func TestRetentionSkippedWhenSinkMissed(t *testing.T) {
	f := newFixture(t, []sdk.ListedItem{item("a1", "ok one", "Web Map")})
	bad := f.badSink(t, "flaky", false, sdk.KindPermanent)
	bad.Block.Retention = retentionBlock(time.Hour, false)
	f.opts.Sinks[0].Block.Retention = retentionBlock(time.Hour, false)
	f.opts.Sinks = append(f.opts.Sinks, bad)
	rep, _ := Run(context.Background(), f.opts)
	if r := rep.Sinks[2].Retention; r == nil || !strings.Contains(r.Skipped, "missed") {
		t.Errorf("sink that missed artifacts: retention %+v, want skipped", r)
	}
	if r := rep.Sinks[0].Retention; r == nil || r.Skipped != "" {
		t.Errorf("complete sink: retention %+v, want applied", r)
	}
}
