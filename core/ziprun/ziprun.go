// Package ziprun writes a whole run into one zip archive streamed into a
// sink (`zip = true` on a sink block). It is an sdk.Sink decorator: the
// engine wraps the configured sink in it for the run and keeps calling Put
// as usual. Each artifact Put becomes one entry of the archive, written
// straight into a single streaming Put of the archive on the inner sink
// (archive/zip over an io.Pipe), so there is no second copy of the run on
// local disk and memory stays at the zip writer's buffers.
//
// Layout in the sink, for run folder R:
//
//	R/R.zip          every artifact and report, paths relative to R
//	R/manifest.json  also stored beside the archive (and inside it), so a
//	                 run can be listed, verified and pruned without
//	                 downloading the archive
//
// The archive becomes visible only when Finish succeeds: the inner sink's
// Put is atomic, and Abort, a failed Finish or a Close without Finish leave
// nothing behind. Entries are written one at a time (a zip is sequential),
// so concurrent Puts to this sink wait for each other.
package ziprun

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// ManifestName is the run manifest's file name at the run folder root.
const ManifestName = "manifest.json"

// FailedDir is the folder inside the archive that holds entries whose Put
// failed midway. A zip cannot take back bytes it has streamed, so such an
// entry is renamed there (in the central directory, which is what unzip
// tools list) with the error in its comment; the manifest records the
// artifact as failed for this sink.
const FailedDir = "_failed/"

// Options tune a zipped run.
type Options struct {
	// Beside lists file names at the run folder root that are also stored
	// next to the archive, in addition to inside it. Default: manifest.json.
	Beside []string
	// ArchiveName is the archive's path in the sink. Default: R/R.zip for
	// run folder R.
	ArchiveName string
}

// Sink is a run being written as one zip into an inner sink. Create it with
// New; methods are safe for concurrent use.
type Sink struct {
	inner   sdk.Sink
	run     string // run folder, no trailing slash
	archive string
	beside  map[string]bool

	mu      sync.Mutex // serialises entries
	state   sync.Mutex // guards the fields below
	started bool
	done    bool
	zw      *zip.Writer
	pw      *io.PipeWriter
	result  chan putResult
	entries map[string]sdk.ObjectInfo
	closed  bool
}

type putResult struct {
	resp sdk.PutResponse
	err  error
}

// New wraps inner for the run whose folder (in the sink) is run, for
// example "PROD_2024-05-01_02-00-00". Nothing is written until the first
// Put or Finish.
func New(inner sdk.Sink, run string, opts Options) *Sink {
	run = strings.Trim(run, "/")
	s := &Sink{inner: inner, run: run, archive: opts.ArchiveName, beside: map[string]bool{}, entries: map[string]sdk.ObjectInfo{}}
	if s.archive == "" {
		s.archive = run + "/" + path.Base(run) + ".zip"
	}
	names := opts.Beside
	if names == nil {
		names = []string{ManifestName}
	}
	for _, n := range names {
		s.beside[n] = true
	}
	return s
}

// ArchivePath is where the archive lands in the inner sink.
func (s *Sink) ArchivePath() string { return s.archive }

// start begins the streaming Put of the archive. It runs on a context that
// outlives any single artifact's Put: the archive's upload spans the run.
func (s *Sink) start() {
	if s.started {
		return
	}
	s.started = true
	pr, pw := io.Pipe()
	s.pw = pw
	s.zw = zip.NewWriter(pw)
	s.zw.SetComment("agolpipe run " + s.run)
	res := make(chan putResult, 1)
	s.result = res
	go func() {
		resp, err := s.inner.Put(context.Background(), sdk.PutRequest{Path: s.archive, MediaType: "application/zip", Size: -1, Body: pr})
		// Unblock the zip writer if the inner Put stopped reading early.
		_ = pr.CloseWithError(errUploadEnded(err))
		res <- putResult{resp, err}
	}()
}

func errUploadEnded(err error) error {
	if err == nil {
		return errors.New("ziprun: archive upload ended")
	}
	return fmt.Errorf("ziprun: archive upload failed: %w", err)
}

// Info, Schema, Configure and Preflight pass through to the inner sink.
func (s *Sink) Info() sdk.Info     { return s.inner.Info() }
func (s *Sink) Schema() sdk.Schema { return s.inner.Schema() }
func (s *Sink) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	return s.inner.Configure(ctx, req)
}
func (s *Sink) Preflight(ctx context.Context) error { return s.inner.Preflight(ctx) }

// entryName maps an object path to its name inside the archive, or "" when
// the path is outside the run folder (then it goes to the inner sink as is).
func (s *Sink) entryName(p string) string {
	if rest, ok := strings.CutPrefix(p, s.run+"/"); ok && rest != "" {
		return rest
	}
	return ""
}

// storedExt are formats already compressed; deflating them again costs CPU
// for nothing.
var storedExt = map[string]bool{
	".zip": true, ".gz": true, ".tgz": true, ".7z": true, ".bz2": true, ".xz": true, ".zst": true,
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".webp": true, ".mp4": true, ".pdf": true,
	".gdb": true, ".gpkg": false, ".sd": true, ".vtpk": true, ".tpk": true, ".tpkx": true, ".mmpk": true, ".slpk": true,
}

// Put adds the artifact as an entry of the archive. A file listed in
// Options.Beside is also stored next to the archive. A path outside the
// run folder passes through to the inner sink.
func (s *Sink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	name := s.entryName(req.Path)
	if name == "" {
		return s.inner.Put(ctx, req)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Lock()
	if s.done || s.closed {
		s.state.Unlock()
		return sdk.PutResponse{}, sdk.Permanent("ziprun: archive %s is already finished; cannot add %s", s.archive, name)
	}
	s.start()
	zw := s.zw
	s.state.Unlock()

	method := zip.Deflate
	if storedExt[strings.ToLower(path.Ext(name))] {
		method = zip.Store
	}
	fh := &zip.FileHeader{Name: name, Method: method, Modified: time.Now()}
	w, err := zw.CreateHeader(fh)
	if err != nil {
		return sdk.PutResponse{}, s.uploadErr(err)
	}

	body := req.Body
	var bpw *io.PipeWriter
	var besideDone chan putResult
	if s.beside[name] {
		// Tee the same bytes into a second Put beside the archive; the
		// pipe is closed with the copy's outcome, so a failed copy can
		// never commit a truncated file there.
		var bpr *io.PipeReader
		bpr, bpw = io.Pipe()
		body = io.TeeReader(body, bpw)
		besideDone = make(chan putResult, 1)
		go func() {
			resp, err := s.inner.Put(ctx, sdk.PutRequest{Path: req.Path, MediaType: req.MediaType, Size: req.Size, Body: bpr})
			_ = bpr.CloseWithError(errUploadEnded(err))
			besideDone <- putResult{resp, err}
		}()
	}

	n, err := io.Copy(w, &ctxReader{ctx: ctx, r: body})
	if err == nil {
		err = zw.Flush()
	}
	if bpw != nil {
		if err != nil {
			_ = bpw.CloseWithError(err)
		} else {
			_ = bpw.Close()
		}
	}
	var beside putResult
	if besideDone != nil {
		beside = <-besideDone
	}
	if err != nil {
		// The bytes are in the stream already; rename the entry (in the
		// central directory, which zip.Writer builds from fh at Close) so
		// no one takes the truncated file for the artifact.
		fh.Name = FailedDir + name + ".partial"
		fh.Comment = "incomplete, not a usable artifact: " + err.Error()
		if ctx.Err() != nil {
			return sdk.PutResponse{}, sdk.Classify(sdk.KindCanceled, fmt.Errorf("ziprun: adding %s to %s: %w", name, s.archive, err))
		}
		return sdk.PutResponse{}, fmt.Errorf("ziprun: adding %s to %s: %w", name, s.archive, err)
	}
	if beside.err != nil {
		return sdk.PutResponse{}, fmt.Errorf("ziprun: storing %s beside the archive: %w", req.Path, beside.err)
	}
	s.state.Lock()
	s.entries[req.Path] = sdk.ObjectInfo{Path: req.Path, Size: n, Modified: fh.Modified}
	s.state.Unlock()
	return sdk.PutResponse{Size: n}, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// uploadErr explains a write error of the zip stream: the archive's upload
// failed, which every later Put would hit too.
func (s *Sink) uploadErr(err error) error {
	return sdk.Classify(sdk.KindOf(err), fmt.Errorf("ziprun: writing archive %s: %w", s.archive, err))
}

// Finish writes the archive's central directory and waits for its upload;
// on success the archive is visible in the inner sink. Later Puts fail.
// Calling Finish again returns the same outcome.
func (s *Sink) Finish(ctx context.Context) (sdk.PutResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Lock()
	if s.closed && !s.done {
		s.state.Unlock()
		return sdk.PutResponse{}, sdk.Permanent("ziprun: archive %s was aborted", s.archive)
	}
	s.start()
	if s.done {
		s.state.Unlock()
		return s.wait(ctx)
	}
	s.done = true
	zw, pw := s.zw, s.pw
	s.state.Unlock()
	if err := zw.Close(); err != nil {
		_ = pw.CloseWithError(err)
	} else {
		_ = pw.Close()
	}
	return s.wait(ctx)
}

// wait returns the archive upload's outcome (kept for repeated calls).
func (s *Sink) wait(ctx context.Context) (sdk.PutResponse, error) {
	s.state.Lock()
	res := s.result
	s.state.Unlock()
	if res == nil {
		return sdk.PutResponse{}, sdk.Permanent("ziprun: archive %s: sink closed", s.archive)
	}
	select {
	case r := <-res:
		res <- r
		if r.err != nil {
			return r.resp, fmt.Errorf("ziprun: uploading archive %s: %w", s.archive, r.err)
		}
		return r.resp, nil
	case <-ctx.Done():
		return sdk.PutResponse{}, sdk.Classify(sdk.KindCanceled, ctx.Err())
	}
}

// Abort stops the archive's upload with cause; nothing becomes visible.
func (s *Sink) Abort(cause error) {
	if cause == nil {
		cause = errors.New("ziprun: run aborted")
	}
	s.state.Lock()
	defer s.state.Unlock()
	if s.started && !s.done {
		_ = s.pw.CloseWithError(cause)
		s.done = true
		s.closed = true
	}
}

// Stat answers for entries already in the archive (so the engine can check
// what it wrote) and passes other paths to the inner sink.
func (s *Sink) Stat(ctx context.Context, p string) (sdk.ObjectInfo, error) {
	s.state.Lock()
	info, ok := s.entries[p]
	s.state.Unlock()
	if ok {
		return info, nil
	}
	return s.inner.Stat(ctx, p)
}

// Get, List and Delete pass through to the inner sink: entries of an
// unfinished archive cannot be read back.
func (s *Sink) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	return s.inner.Get(ctx, req)
}
func (s *Sink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	return s.inner.List(ctx, req, fn)
}
func (s *Sink) Delete(ctx context.Context, p string) error { return s.inner.Delete(ctx, p) }

// Close aborts an archive that was not finished (a run that did not reach
// its end leaves no archive), waits for the upload goroutine, then closes
// the inner sink. It is idempotent.
func (s *Sink) Close() error {
	s.state.Lock()
	if s.closed && s.result == nil {
		s.state.Unlock()
		return nil
	}
	started, done := s.started, s.done
	s.state.Unlock()
	if started && !done {
		s.Abort(errors.New("ziprun: closed before Finish"))
	}
	s.state.Lock()
	already := s.closed && s.result == nil
	s.closed = true
	res := s.result
	s.result = nil
	s.state.Unlock()
	if already {
		return nil
	}
	if res != nil {
		<-res
	}
	return s.inner.Close()
}
