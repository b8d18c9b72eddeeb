// Package catalog reads back what a pipeline's sinks hold: the runs of this
// pipeline in each sink, a run's manifest, and each artifact as a stream
// checked against the manifest. It is the one reader of stored runs that
// `agolpipe runs`, `agolpipe verify` and restore share, so all three agree
// on what a run is and on when a stored copy is not the one backed up.
//
// Everything goes through the sinks' plugins (sdk.Sink: List, Get with
// ranges, Stat), so a run is read back from local disk, SMB, S3 or Azure the
// same way. A run is a direct child folder of the sink's root holding a
// manifest.json whose run_folder is the folder's name and whose pipeline_id
// is this pipeline's (the rule retention uses; runs of other pipelines
// sharing the folder are not listed). A zipped run (`zip = true`) is read
// through the manifest stored beside its archive: each artifact's outcome
// in that sink names the archive part holding it, and its entry is read by
// ranged Gets, without downloading the archive.
//
// Open returns an artifact's bytes as a stream that fails with an
// *IntegrityError instead of io.EOF when the bytes read differ from the
// manifest (size or sha256; a zip entry's CRC too), and fails at once when
// more bytes come than the manifest recorded. A caller that writes the
// stream somewhere must therefore treat its output as untrusted until the
// stream has returned io.EOF. Paths from a manifest or an archive that would
// leave their run folder (.., absolute, backslashes, drive letters) are
// refused (see CheckPath and SafeJoin), so a tampered manifest cannot make a
// reader read, or a restore write, outside the run.
//
// Memory stays flat in a run's size: manifests of listings are read only up
// to their item list, artifacts are streamed, and a zipped run's central
// directory (about 100 bytes an entry) is the only thing held per archive.
package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
)

// Latest is the run reference that names the newest complete run.
const Latest = "latest"

// maxManifestSize bounds how much of a manifest.json is read: a manifest of
// a large organization can be hundreds of megabytes, never more than this.
const maxManifestSize = 1 << 30

// Sink is one configured sink of the pipeline, already configured by the
// caller (who also closes it).
type Sink struct {
	// Name is the sink block's name in the pipeline.
	Name     string
	Sink     sdk.Sink
	Features sdk.SinkFeatures
}

// Catalog reads the runs of one pipeline from its sinks. Safe for
// concurrent use; Close releases the archives it keeps open.
type Catalog struct {
	pipelineID string
	sinks      []Sink

	mu       sync.Mutex
	archives map[string]*archive // by sink name + "\x00" + archive path
	order    []string            // least recently used first
}

// maxOpenArchives bounds the zipped runs' central directories kept between
// Opens (restore reads many entries of the same archive).
const maxOpenArchives = 4

// New returns a catalog of the runs of pipelineID (pipeline.Pipeline.ID) in
// sinks.
func New(pipelineID string, sinks []Sink) *Catalog {
	return &Catalog{pipelineID: pipelineID, sinks: sinks, archives: map[string]*archive{}}
}

// Sinks returns the catalog's sinks in pipeline order.
func (c *Catalog) Sinks() []Sink { return append([]Sink(nil), c.sinks...) }

// Sink returns the sink named name.
func (c *Catalog) Sink(name string) (Sink, bool) {
	for _, s := range c.sinks {
		if s.Name == name {
			return s, true
		}
	}
	return Sink{}, false
}

// Close releases the archive readers kept open; it does not close the sinks.
func (c *Catalog) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.archives {
		a.shutdown()
	}
	c.archives, c.order = map[string]*archive{}, nil
	return nil
}

// Run is one run held by one sink.
type Run struct {
	// Sink is the name of the sink block that holds it.
	Sink string
	// Folder is the run's folder at the sink's root (the run folder name).
	Folder string
	// Head is the manifest without its item and artifact lists (they are
	// not read when listing; Manifest reads them).
	Head report.Run
	// Archive is the zip holding the run when the sink has zip = true (its
	// last part, which holds the reports), relative to the sink's root.
	Archive string
}

// Zipped reports whether the run is stored as a zip archive.
func (r Run) Zipped() bool { return r.Archive != "" }

// Complete reports whether the run produced a usable backup (success or
// partial); running, failed and canceled runs are not.
func (r Run) Complete() bool {
	return r.Head.Status == report.StatusSuccess || r.Head.Status == report.StatusPartial
}

// Incremental reports whether the run holds only items modified lately.
func (r Run) Incremental() bool { return r.Head.ModifiedSince != nil }

// SinkRecord is the manifest's record of the sink the run was written to.
func (r Run) SinkRecord() report.Sink { return sinkRecord(&r.Head) }

// Listing is what one sink holds of the pipeline.
type Listing struct {
	Sink string
	// Runs are this pipeline's runs, newest first.
	Runs []Run
	// Ignored lists manifests that could not be read or are not this
	// pipeline's run in their folder, with why.
	Ignored []string
	// Others counts runs of other pipelines in the same folder (not
	// listed).
	Others int
	// Err is why the sink could not be listed; Runs is then empty.
	Err error
}

// List lists the runs of the pipeline in the sink named sink.
func (c *Catalog) List(ctx context.Context, sink string) (Listing, error) {
	s, ok := c.Sink(sink)
	if !ok {
		return Listing{}, fmt.Errorf("no sink named %q in this pipeline (sinks: %s)", sink, strings.Join(c.names(), ", "))
	}
	l := c.list(ctx, s)
	return l, l.Err
}

// ListAll lists every sink, at most four at once, in pipeline order. A sink
// that cannot be listed has Err set; the others are still listed.
func (c *Catalog) ListAll(ctx context.Context) []Listing {
	out := make([]Listing, len(c.sinks))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, s := range c.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = c.list(ctx, s)
		}()
	}
	wg.Wait()
	return out
}

func (c *Catalog) names() []string {
	var n []string
	for _, s := range c.sinks {
		n = append(n, s.Name)
	}
	return n
}

func (c *Catalog) list(ctx context.Context, s Sink) Listing {
	l := Listing{Sink: s.Name}
	var folders []string
	err := s.Sink.List(ctx, sdk.ListRequest{}, func(o sdk.ObjectInfo) error {
		dir, base := path.Split(o.Path)
		dir = strings.TrimSuffix(dir, "/")
		// Only direct children of the root are runs: a manifest deeper down
		// is another sink's run nested in this one, or an artifact.
		if base == report.ManifestFile && dir != "" && !strings.Contains(dir, "/") {
			folders = append(folders, dir)
		}
		return nil
	})
	if err != nil {
		l.Err = fmt.Errorf("sink %q: listing: %w", s.Name, err)
		return l
	}
	sort.Strings(folders)
	for _, f := range folders {
		head, err := readHead(ctx, s.Sink, f+"/"+report.ManifestFile)
		if err == nil {
			err = checkHead(head, f)
		}
		if err != nil {
			if k := sdk.KindOf(err); k == sdk.KindCanceled || k == sdk.KindAuth || ctx.Err() != nil {
				l.Err = fmt.Errorf("sink %q: reading %s/%s: %w", s.Name, f, report.ManifestFile, err)
				return l
			}
			l.Ignored = append(l.Ignored, fmt.Sprintf("%s/%s: %v", f, report.ManifestFile, err))
			continue
		}
		if head.PipelineID != c.pipelineID {
			l.Others++
			continue
		}
		r := Run{Sink: s.Name, Folder: f, Head: *head}
		r.Archive = sinkRecord(&r.Head).Archive
		l.Runs = append(l.Runs, r)
	}
	sort.SliceStable(l.Runs, func(i, j int) bool { return l.Runs[i].Head.Started.After(l.Runs[j].Head.Started) })
	return l
}

// checkHead tells whether a manifest describes the run in folder.
func checkHead(m *report.Run, folder string) error {
	switch {
	case m.RunID == "":
		return errors.New("not an agolpipe manifest (no run_id)")
	case m.Started.IsZero():
		return errors.New("not an agolpipe manifest (no start time)")
	case m.RunFolder != folder:
		return fmt.Errorf("manifest is for run folder %q, not %q (copied or moved?)", m.RunFolder, folder)
	}
	return nil
}

// sinkRecord is the manifest's record of the sink it was written to (its
// Sink field names it; the block may have been renamed since).
func sinkRecord(m *report.Run) report.Sink {
	for _, s := range m.Sinks {
		if s.Name == m.Sink {
			return s
		}
	}
	return report.Sink{Name: m.Sink}
}

// Resolve names the run ref means across the catalog's sinks: "latest" is
// the newest complete run (success or partial; an incremental run counts)
// found in any sink; otherwise ref is a run folder or a run id. It returns
// the run folder. Sinks that cannot be listed are skipped unless none can.
func (c *Catalog) Resolve(ctx context.Context, ref string) (string, error) {
	ls := c.ListAll(ctx)
	var errs []error
	var best *Run
	for _, l := range ls {
		if l.Err != nil {
			errs = append(errs, l.Err)
			continue
		}
		for i := range l.Runs {
			r := &l.Runs[i]
			if ref == Latest {
				if r.Complete() && (best == nil || r.Head.Started.After(best.Head.Started)) {
					best = r
				}
				continue
			}
			if r.Folder == ref || r.Head.RunID == ref {
				return r.Folder, nil
			}
		}
	}
	if best != nil {
		return best.Folder, nil
	}
	if len(errs) == len(ls) && len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return "", &NoRunError{Ref: ref, PipelineID: c.pipelineID, Sinks: c.names(), Errs: errs}
}

// NoRunError says no sink holds the run asked for.
type NoRunError struct {
	Ref        string
	PipelineID string
	Sinks      []string
	// Errs are the sinks that could not be listed.
	Errs []error
}

func (e *NoRunError) Error() string {
	what := fmt.Sprintf("no run %q", e.Ref)
	if e.Ref == Latest {
		what = "no complete run (success or partial)"
	}
	s := fmt.Sprintf("%s of pipeline %q in sink(s) %s; `agolpipe runs <pipeline>` lists the runs", what, e.PipelineID, strings.Join(e.Sinks, ", "))
	if len(e.Errs) > 0 {
		s += " (" + errors.Join(e.Errs...).Error() + ")"
	}
	return s
}

// Find returns the run in folder held by the sink named sink, reading only
// its manifest's head; sdk.IsNotFound is true of the error when the sink
// does not hold it.
func (c *Catalog) Find(ctx context.Context, sink, folder string) (Run, error) {
	s, ok := c.Sink(sink)
	if !ok {
		return Run{}, fmt.Errorf("no sink named %q in this pipeline (sinks: %s)", sink, strings.Join(c.names(), ", "))
	}
	if err := CheckPath(folder); err != nil || strings.Contains(folder, "/") {
		return Run{}, fmt.Errorf("%q is not a run folder name", folder)
	}
	head, err := readHead(ctx, s.Sink, folder+"/"+report.ManifestFile)
	if err != nil {
		if sdk.IsNotFound(err) {
			return Run{}, sdk.Classify(sdk.KindNotFound, fmt.Errorf("sink %q holds no run %s (no %s/%s)", sink, folder, folder, report.ManifestFile))
		}
		return Run{}, fmt.Errorf("sink %q: reading %s/%s: %w", sink, folder, report.ManifestFile, err)
	}
	if err := checkHead(head, folder); err != nil {
		return Run{}, fmt.Errorf("sink %q: %s/%s: %w", sink, folder, report.ManifestFile, err)
	}
	if head.PipelineID != c.pipelineID {
		return Run{}, fmt.Errorf("sink %q: run %s belongs to pipeline %q, not %q", sink, folder, head.PipelineID, c.pipelineID)
	}
	r := Run{Sink: s.Name, Folder: folder, Head: *head}
	r.Archive = sinkRecord(&r.Head).Archive
	return r, nil
}

// Manifest reads the whole manifest of r (items and artifacts included).
func (c *Catalog) Manifest(ctx context.Context, r Run) (*report.Run, error) {
	s, ok := c.Sink(r.Sink)
	if !ok {
		return nil, fmt.Errorf("no sink named %q in this pipeline", r.Sink)
	}
	rc, err := s.Sink.Get(ctx, sdk.GetRequest{Path: r.Folder + "/" + report.ManifestFile})
	if err != nil {
		return nil, fmt.Errorf("sink %q: reading %s/%s: %w", r.Sink, r.Folder, report.ManifestFile, err)
	}
	defer rc.Close()
	m, err := report.ReadManifest(io.LimitReader(rc, maxManifestSize))
	if err != nil {
		return nil, fmt.Errorf("sink %q: %s/%s: %w", r.Sink, r.Folder, report.ManifestFile, err)
	}
	if err := checkHead(m, r.Folder); err != nil {
		return nil, fmt.Errorf("sink %q: %s/%s: %w", r.Sink, r.Folder, report.ManifestFile, err)
	}
	return m, nil
}

// readHead reads a manifest up to its item list: the run's identity,
// status, counts and sinks come before it in every manifest agolpipe
// writes, and the item list is the long part. A manifest written with its
// keys in another order is read whole (bounded by maxManifestSize).
func readHead(ctx context.Context, sk sdk.Sink, p string) (*report.Run, error) {
	rc, err := sk.Get(ctx, sdk.GetRequest{Path: p})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := json.NewDecoder(io.LimitReader(rc, maxManifestSize))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not an agolpipe manifest (not a JSON object)")
	}
	head := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not an agolpipe manifest (%v)", err)
		}
		key, _ := tok.(string)
		if key == "items" || key == "artifacts" {
			if _, ok := head["counts"]; ok {
				break
			}
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("not an agolpipe manifest (%s: %v)", key, err)
		}
		if key != "items" && key != "artifacts" {
			head[key] = v
		}
	}
	b, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	m, err := report.ReadManifest(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return m, nil
}
