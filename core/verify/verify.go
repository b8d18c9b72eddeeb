// Package verify proves that a run's sinks hold the backup: it reads every
// artifact back from every sink through core/catalog and checks it against
// the run's manifest.json (size and sha256, a zip entry's CRC), and lists
// what a sink holds in the run's folder that the manifest does not. With
// Deep it also looks inside what it can read (see deep.go).
//
// Each sink is checked against its own manifest (the one stored in it);
// an artifact the run recorded as failed in a sink (known from the
// manifests of the other sinks) counts as missing there, so a sink holds
// "the whole run" only when it holds every artifact the run stored anywhere.
//
// Bytes stream through a fixed number of buffers: memory is the same for
// a 1 MiB and a 1 TiB run, apart from the manifest's artifact records
// (a few hundred bytes each) kept to find extra objects.
package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// Problems verify reports besides catalog's (Missing, Truncated,
// Oversized, Corrupt, NotStored, UnsafePath).
const (
	// Extra: the sink holds an object in the run's folder (or an entry in
	// its archive) that the manifest does not list.
	Extra catalog.Problem = "extra"
	// Unreadable: the sink failed while the copy was read (not a verdict
	// on the bytes; run verify again).
	Unreadable catalog.Problem = "unreadable"
	// RunMissing: the sink holds no manifest.json for the run at all.
	RunMissing catalog.Problem = "run missing"
	// Invalid: deep check: the artifact's content is not what its format
	// says (a zip that does not open, JSON that does not parse).
	Invalid catalog.Problem = "invalid"
	// CountMismatch: deep check: a feature layer's rows or attachments in
	// the artifact differ from the counts recorded at export time.
	CountMismatch catalog.Problem = "count mismatch"
)

// Options tune a verification.
type Options struct {
	// Parallel is how many artifacts of one sink are read at once
	// (default 4); sinks are checked side by side.
	Parallel int
	// Deep also checks inside artifacts (zips, JSON, feature counts).
	Deep bool
	// Live, when set with Deep, returns a feature service's counts now, for
	// showing beside the recorded ones (drift since the backup, never an
	// error).
	Live LiveCounts
	// Progress, when set, is called after each artifact is checked.
	Progress func(sink string, done, total int)
}

// LiveCounts returns the current row and attachment counts of a feature
// service item, by layer id.
type LiveCounts func(ctx context.Context, itemID string) (map[int]LayerCount, error)

// Finding is one problem with one sink's copy of the run.
type Finding struct {
	Sink    string          `json:"sink"`
	Problem catalog.Problem `json:"problem"`
	// Path is the object's path in the sink (the archive's for a zipped
	// run, with Entry the entry in it).
	Path  string `json:"path"`
	Entry string `json:"entry,omitempty"`
	// Item is the artifact's item, when known.
	ItemID   string `json:"item_id,omitempty"`
	Title    string `json:"title,omitempty"`
	ItemType string `json:"item_type,omitempty"`
	// Detail says what differs, for people.
	Detail string `json:"detail"`
}

// SinkResult is what one sink holds of the run.
type SinkResult struct {
	Sink string `json:"sink"`
	// Checked counts the artifacts read back, Bytes the bytes read.
	Checked  int       `json:"checked"`
	Bytes    int64     `json:"bytes"`
	Findings []Finding `json:"findings"`
	// Notes are observations that are no problem (live counts beside the
	// recorded ones).
	Notes []string `json:"notes,omitempty"`
	// Error is why the sink could not be verified at all.
	Error string `json:"error,omitempty"`
	// Duration is the time the sink took.
	Duration time.Duration `json:"duration_ns"`
}

// OK reports whether the sink holds the whole run unchanged.
func (s SinkResult) OK() bool { return s.Error == "" && len(s.Findings) == 0 }

// Result is a verification of one run in every sink.
type Result struct {
	Run   string       `json:"run"`
	RunID string       `json:"run_id,omitempty"`
	Deep  bool         `json:"deep"`
	Sinks []SinkResult `json:"sinks"`
	// Artifacts is the number of distinct artifacts the run stored.
	Artifacts int `json:"artifacts"`
	// Live shows, with Deep and Options.Live, each feature service's
	// counts now beside those at export time: drift, never a problem.
	Live []string `json:"live,omitempty"`
}

// OK reports whether every sink holds the whole run unchanged.
func (r Result) OK() bool {
	for _, s := range r.Sinks {
		if !s.OK() {
			return false
		}
	}
	return len(r.Sinks) > 0
}

// Run verifies the run in folder in every sink of cat.
func Run(ctx context.Context, cat *catalog.Catalog, folder string, opts Options) Result {
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	sinks := cat.Sinks()
	res := Result{Run: folder, Deep: opts.Deep, Sinks: make([]SinkResult, len(sinks))}
	type read struct {
		run       catalog.Run
		artifacts []report.Artifact
		items     map[string]itemInfo
		err       error
	}
	reads := make([]read, len(sinks))
	// First every sink's manifest: what each sink says it holds, and what
	// the run failed to store in which sink.
	var wg sync.WaitGroup
	for i, s := range sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rd := &reads[i]
			res.Sinks[i].Sink = s.Name
			rd.run, rd.err = cat.Find(ctx, s.Name, folder)
			if rd.err != nil {
				return
			}
			rd.items = map[string]itemInfo{}
			_, rd.err = cat.Scan(ctx, rd.run, func(it report.Item) error {
				rd.items[it.ID] = itemInfo{title: it.Title, typ: it.Type}
				return nil
			}, func(a report.Artifact) error {
				rd.artifacts = append(rd.artifacts, a)
				return nil
			})
		}()
	}
	wg.Wait()
	items := map[string]itemInfo{}
	distinct := map[string]bool{}
	for _, rd := range reads {
		for id, it := range rd.items {
			items[id] = it
		}
		if res.RunID == "" && rd.err == nil {
			res.RunID = rd.run.Head.RunID
		}
		for _, a := range rd.artifacts {
			distinct[artifactKey(a)] = true
		}
	}
	res.Artifacts = len(distinct)
	// Artifacts recorded as not stored in a sink, from any manifest.
	notStored := map[string]map[string]report.Artifact{} // sink -> key -> artifact
	for _, rd := range reads {
		for _, a := range rd.artifacts {
			for _, o := range a.Sinks {
				if o.Status == report.Stored {
					continue
				}
				if notStored[o.Sink] == nil {
					notStored[o.Sink] = map[string]report.Artifact{}
				}
				b := a
				b.Path, b.Sinks = o.Path, []report.SinkOutcome{o}
				notStored[o.Sink][artifactKey(a)] = b
			}
		}
	}
	live := &liveCache{done: map[string]bool{}}
	for i, s := range sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			sr := &res.Sinks[i]
			rd := reads[i]
			switch {
			case rd.err != nil && sdk.IsNotFound(rd.err):
				sr.Findings = append(sr.Findings, Finding{Sink: s.Name, Problem: RunMissing, Path: folder + "/" + report.ManifestFile,
					Detail: fmt.Sprintf("the sink holds no run %s (no %s/%s)", folder, folder, report.ManifestFile)})
			case rd.err != nil:
				sr.Error = rd.err.Error()
			default:
				v := &sinkVerifier{cat: cat, opts: opts, run: rd.run, items: items, res: sr, live: live,
					countsArtifact: map[string]report.Artifact{}, countsCache: map[string]*exportCounts{}}
				v.check(ctx, rd.artifacts)
				// Anything the run stored elsewhere and recorded as failed
				// here is missing here.
				// (Its own manifest does not list it: ForSink leaves it out.)
				var keys []string
				for k := range notStored[rd.run.Head.Sink] {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					a := notStored[rd.run.Head.Sink][k]
					o := a.Sinks[0]
					sr.Findings = append(sr.Findings, v.finding(notStoredErr(a, o), a, rd.run.Folder+"/"+o.Path, ""))
				}
			}
			if ctx.Err() != nil && sr.Error == "" {
				sr.Error = "interrupted: " + ctx.Err().Error()
			}
			sr.Duration = time.Since(start)
			sortFindings(sr.Findings)
		}()
	}
	wg.Wait()
	sort.Strings(live.notes)
	res.Live = live.notes
	return res
}

// notStoredErr explains an artifact the run recorded as not stored in a sink.
func notStoredErr(a report.Artifact, o report.SinkOutcome) error {
	why := o.Error
	if why == "" {
		why = "no reason recorded"
	}
	return &catalog.IntegrityError{Problem: catalog.NotStored, Sink: o.Sink, Path: o.Path, ItemID: a.ItemID, Err: fmt.Errorf("the run recorded it as not stored here: %s", why)}
}

// artifactKey identifies an artifact across the sinks' manifests (whose
// paths differ with each sink's layout).
func artifactKey(a report.Artifact) string {
	return a.ItemID + "\x00" + a.Exporter + "\x00" + a.Name + "\x00" + a.Format
}

type itemInfo struct{ title, typ string }

// sinkVerifier checks one sink's copy of the run.
type sinkVerifier struct {
	cat   *catalog.Catalog
	opts  Options
	run   catalog.Run
	items map[string]itemInfo
	mu    sync.Mutex
	res   *SinkResult
	done  int
	live  *liveCache
	// countsArtifact is each item's counts.json; countsCache what it says.
	countsArtifact map[string]report.Artifact
	countsCache    map[string]*exportCounts
}

// liveCache asks for each item's live counts once per verification.
type liveCache struct {
	mu    sync.Mutex
	done  map[string]bool
	notes []string
}

// bufPool holds the copy buffers: one per artifact being read.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func (v *sinkVerifier) check(ctx context.Context, artifacts []report.Artifact) {
	known := map[catalog.Location]bool{}
	for _, name := range []string{report.ManifestFile, report.InventoryFile, report.ResultsFile, report.LogFile} {
		// The reports: at the run folder's root, inside the archive and (some)
		// beside it for a zipped run.
		known[catalog.Location{Path: v.run.Folder + "/" + name}] = true
		if v.run.Archive != "" {
			known[catalog.Location{Path: v.run.Archive, Entry: name}] = true
		}
	}
	for _, a := range artifacts {
		if loc, err := v.run.Locate(a); err == nil {
			known[loc] = true
		}
		if a.Name == CountsArtifact {
			v.countsArtifact[a.ItemID] = a
		}
	}
	work := make(chan report.Artifact)
	var wg sync.WaitGroup
	for range v.opts.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				v.one(ctx, a)
			}
		}()
	}
	for _, a := range artifacts {
		select {
		case work <- a:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	err := v.cat.Objects(ctx, v.run, func(o catalog.Object) error {
		if o.Err != nil {
			return nil // an unreadable archive: each of its artifacts says so
		}
		if !known[o.Location] {
			v.add(Finding{Sink: v.run.Sink, Problem: Extra, Path: o.Path, Entry: o.Entry,
				Detail: fmt.Sprintf("%s not in the run's manifest: the backup did not write it (remove it, or find out who put it there)", report.Bytes(o.Size))})
		}
		return nil
	})
	if err != nil {
		v.mu.Lock()
		v.res.Error = fmt.Sprintf("listing the run's folder for extra objects: %v", err)
		v.mu.Unlock()
	}
}

// one reads one artifact back and records what is wrong with it.
func (v *sinkVerifier) one(ctx context.Context, a report.Artifact) {
	loc, _ := v.run.Locate(a)
	n, err := v.read(ctx, a)
	v.mu.Lock()
	v.res.Checked++
	v.res.Bytes += n
	v.done++
	done := v.done
	v.mu.Unlock()
	if err != nil {
		v.add(v.finding(err, a, loc.Path, loc.Entry))
	} else if v.opts.Deep && v.opts.Live != nil && a.Name == CountsArtifact {
		v.liveNote(ctx, a)
	}
	if v.opts.Progress != nil {
		v.opts.Progress(v.run.Sink, done, -1)
	}
}

func (v *sinkVerifier) read(ctx context.Context, a report.Artifact) (int64, error) {
	rc, err := v.cat.Open(ctx, v.run, a)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var dst io.Writer = io.Discard
	var deep *deepCheck
	if v.opts.Deep {
		deep = v.startDeep(ctx, a)
		if deep != nil {
			dst = deep
		}
	}
	n, err := io.CopyBuffer(dst, rc, *bp)
	if deep != nil {
		if derr := deep.finish(ctx, err); err == nil && derr != nil {
			err = derr
		}
	}
	return n, err
}

// finding turns an error reading artifact a into a Finding with its item.
func (v *sinkVerifier) finding(err error, a report.Artifact, path, entry string) Finding {
	f := Finding{Sink: v.run.Sink, Path: path, Entry: entry, ItemID: a.ItemID, ItemType: a.ItemType}
	if it, ok := v.items[a.ItemID]; ok {
		f.Title = it.title
		if f.ItemType == "" {
			f.ItemType = it.typ
		}
	}
	if ie, ok := catalog.AsIntegrity(err); ok {
		f.Problem = ie.Problem
		f.Detail = problemDetail(ie)
		return f
	}
	var de *deepError
	if errors.As(err, &de) {
		f.Problem, f.Detail = de.problem, de.detail
		return f
	}
	f.Problem, f.Detail = Unreadable, err.Error()
	return f
}

func problemDetail(ie *catalog.IntegrityError) string {
	switch ie.Problem {
	case catalog.Missing:
		return "not in the sink"
	case catalog.Truncated:
		return fmt.Sprintf("%d of %d bytes", ie.GotSize, ie.WantSize)
	case catalog.Oversized:
		if ie.GotSize > ie.WantSize {
			return fmt.Sprintf("%d bytes, %d recorded", ie.GotSize, ie.WantSize)
		}
		return fmt.Sprintf("more than the %d bytes recorded", ie.WantSize)
	case catalog.Corrupt:
		if ie.GotSHA256 != "" {
			return fmt.Sprintf("sha256 %s, not %s as recorded", ie.GotSHA256, ie.WantSHA256)
		}
		if ie.Err != nil {
			return ie.Err.Error()
		}
	}
	if ie.Err != nil {
		return ie.Err.Error()
	}
	return string(ie.Problem)
}

func (v *sinkVerifier) add(f Finding) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.res.Findings = append(v.res.Findings, f)
}

func (v *sinkVerifier) note(s string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.res.Notes = append(v.res.Notes, s)
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Problem != fs[j].Problem {
			return fs[i].Problem < fs[j].Problem
		}
		if fs[i].Path != fs[j].Path {
			return fs[i].Path < fs[j].Path
		}
		return fs[i].Entry < fs[j].Entry
	})
}
