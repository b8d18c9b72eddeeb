// Package ziprun writes a whole run into one zip archive streamed into a
// sink (`zip = true` on a sink block). It is an sdk.Sink decorator: the
// engine wraps the configured sink in it for the run and keeps calling Put
// as usual. Each artifact Put becomes one entry of the archive, written
// straight into a single streaming Put of the archive on the inner sink
// (archive/zip over an io.Pipe), so there is no second copy of the run on
// local disk and memory stays at the zip writer's buffers (plus the
// central directory, which Finish holds: about 100 bytes an entry).
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
//
// Replaced, deleted and failed entries. A zip cannot take back bytes it has
// streamed, but the listing every zip tool reads (and extracts from) is the
// central directory, written by Finish. So the archive lists exactly the
// objects the sink holds, with the sink contract's meaning:
//   - a second Put to the same path replaces the entry: the earlier one is
//     left out of the central directory (the engine retrying an item);
//   - Delete of an entry leaves it out (the engine removing what a failed
//     attempt wrote);
//   - a Put that fails midway leaves nothing listed.
//
// Such an entry's bytes stay in the file, unlisted. archive/zip and
// Info-ZIP's unzip (tested) read only listed entries, and `unzip -t` passes
// with no warning because every listed entry keeps its own name (renaming
// an entry in the central directory would not: unzip warns when a local
// header's name differs). 7-Zip (tested by hand, 7zz 26.02) too, as long
// as the first entry is listed: with bytes before the first listed entry
// it assumes a stub and lists every local header. So the archive starts
// with a folder entry for the first artifact's top folder ("Web Map/"),
// never unlisted; only a run whose first Put is at the run folder's root
// and is later replaced or deleted lacks that guard (the engine writes
// artifacts in folders, reports last). Windows' reader is not tested. A
// reader that streams local headers without the central directory would
// see the unlisted entries too. The archive's comment says how many there
// are and their size. After Finish the archive is sealed: Delete of an
// entry fails.
//
// Parts. When the archive's upload breaks before Finish with a retryable
// error (the sink's plugin crashed and was restarted), everything streamed
// into it is lost: the inner sink's Put is atomic, so nothing of it became
// visible. The Put that meets the break fails retryable, and the next Put
// starts a new part, R/R.part2.zip, and so on (at most maxLostParts lost
// parts, then the break is final). The entries of a lost part no longer
// exist (Locate does not find them): the caller stores them again. Parts
// lists every part and which were lost. A permanent break (the disk is
// full) is not retried in a new part: every later Put fails with it.
package ziprun

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
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
	archive string // the part being written
	first   string // the first part's name; later parts derive from it
	beside  map[string]bool
	parts   []Part

	mu      sync.Mutex // serialises entries
	state   sync.Mutex // guards the fields below
	started bool
	done    bool
	zw      *zip.Writer
	dw      *dirWriter
	pw      *io.PipeWriter
	result  chan putResult
	entries map[string]entry
	next    int           // index of the next entry in the central directory
	unlist  map[int]int64 // entries left out of the central directory -> bytes
	closed  bool
}

// entry is an object stored in the archive: its index among the entries
// zip.Writer lists at Close, and what Stat answers.
type entry struct {
	index int
	part  string // the archive holding it
	info  sdk.ObjectInfo
}

// Part is one archive of the run in the inner sink.
type Part struct {
	// Path is the archive's path in the inner sink.
	Path string
	// Lost says the part's upload broke before it was finished, so the
	// sink holds none of it; Cause is why.
	Lost  bool
	Cause string
	// Entries is how many entries were written into a lost part.
	Entries int
}

// maxLostParts bounds how many parts a run may lose before a break of the
// upload is final: a sink that keeps crashing does not get a new part for
// ever.
const maxLostParts = 3

// lostWait bounds how long a Put whose write failed waits for the upload
// to say why (it says so right after it closes the pipe).
const lostWait = 30 * time.Second

type putResult struct {
	resp sdk.PutResponse
	err  error
}

// New wraps inner for the run whose folder (in the sink) is run, for
// example "PROD_2024-05-01_02-00-00". Nothing is written until the first
// Put or Finish.
func New(inner sdk.Sink, run string, opts Options) *Sink {
	run = strings.Trim(run, "/")
	s := &Sink{inner: inner, run: run, archive: opts.ArchiveName, beside: map[string]bool{}, entries: map[string]entry{}, unlist: map[int]int64{}}
	if s.archive == "" {
		s.archive = run + "/" + path.Base(run) + ".zip"
	}
	s.first = s.archive
	s.parts = []Part{{Path: s.archive}}
	names := opts.Beside
	if names == nil {
		names = []string{ManifestName}
	}
	for _, n := range names {
		s.beside[n] = true
	}
	return s
}

// ArchivePath is where the archive being written (the last part) lands in
// the inner sink.
func (s *Sink) ArchivePath() string {
	s.state.Lock()
	defer s.state.Unlock()
	return s.archive
}

// Parts lists the run's archives in the order they were started, lost ones
// included.
func (s *Sink) Parts() []Part {
	s.state.Lock()
	defer s.state.Unlock()
	return append([]Part(nil), s.parts...)
}

// Locate says which archive holds the entry stored at p (a path in the run
// folder, as Put was given), or false when none does: it was never stored,
// was deleted, or its part was lost.
func (s *Sink) Locate(p string) (string, bool) {
	s.state.Lock()
	defer s.state.Unlock()
	e, ok := s.entries[p]
	if !ok {
		return "", false
	}
	return e.part, true
}

// partName is the path of part n (1-based): R/R.zip, R/R.part2.zip, ...
func partName(first string, n int) string {
	if n <= 1 {
		return first
	}
	ext := path.Ext(first)
	return strings.TrimSuffix(first, ext) + fmt.Sprintf(".part%d", n) + ext
}

// uploadEnded returns the upload's outcome if it ended, waiting up to wait.
// The caller holds s.mu and not s.state.
func (s *Sink) uploadEnded(wait time.Duration) (putResult, bool) {
	s.state.Lock()
	res, started, done := s.result, s.started, s.done
	s.state.Unlock()
	if !started || done || res == nil {
		return putResult{}, false
	}
	if wait <= 0 {
		select {
		case r := <-res:
			res <- r
			return r, true
		default:
			return putResult{}, false
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case r := <-res:
		res <- r
		return r, true
	case <-t.C:
		return putResult{}, false
	}
}

// lose records the part being written as lost when its upload ended before
// Finish, and, when the break was retryable and the run has not lost too
// many parts, lets the next Put start a new part. It returns the error
// that explains the loss to the Put that met it (nil when the upload has
// not ended). The caller holds s.mu and not s.state.
func (s *Sink) lose(wait time.Duration) error {
	r, ended := s.uploadEnded(wait)
	if !ended {
		return nil
	}
	cause := r.err
	if cause == nil {
		cause = errors.New("the sink ended the archive's upload before it was finished")
	}
	s.state.Lock()
	defer s.state.Unlock()
	cur := &s.parts[len(s.parts)-1]
	if cur.Lost {
		return s.lostErr(cause)
	}
	cur.Lost, cur.Cause = true, cause.Error()
	for p, e := range s.entries {
		if e.part == s.archive {
			delete(s.entries, p)
			cur.Entries++
		}
	}
	lost := 0
	for _, p := range s.parts {
		if p.Lost {
			lost++
		}
	}
	if sdk.KindOf(cause) != sdk.KindRetryable || lost >= maxLostParts {
		return s.lostErr(cause)
	}
	// A fresh part: the next Put starts its upload.
	s.archive = partName(s.first, len(s.parts)+1)
	s.parts = append(s.parts, Part{Path: s.archive})
	s.started, s.zw, s.dw, s.pw, s.result = false, nil, nil, nil, nil
	s.next, s.unlist = 0, map[int]int64{}
	return sdk.Classify(sdk.KindRetryable, fmt.Errorf("ziprun: the upload of archive %s broke (%w); its %d entries are lost and the run goes on in %s", cur.Path, cause, cur.Entries, s.archive))
}

// lostErr is the error of every Put after a final break. The caller holds
// s.state.
func (s *Sink) lostErr(cause error) error {
	return sdk.Classify(sdk.KindOf(cause), fmt.Errorf("ziprun: the upload of archive %s broke: %w", s.archive, cause))
}

// start begins the streaming Put of the archive. It runs on a context that
// outlives any single artifact's Put: the archive's upload spans the run.
func (s *Sink) start() {
	if s.started {
		return
	}
	s.started = true
	pr, pw := io.Pipe()
	s.pw = pw
	s.dw = &dirWriter{w: pw}
	s.zw = zip.NewWriter(s.dw)
	s.zw.SetComment(s.comment())
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
	// An upload that broke since the last Put: lose its part and start a
	// new one (or fail, when the break is final).
	if err := s.lose(0); err != nil && s.finalBreak() {
		return sdk.PutResponse{}, err
	}
	s.state.Lock()
	if s.done || s.closed {
		s.state.Unlock()
		return sdk.PutResponse{}, sdk.Permanent("ziprun: archive %s is already finished; cannot add %s", s.archive, name)
	}
	s.start()
	zw, part := s.zw, s.archive
	s.state.Unlock()

	method := zip.Deflate
	if storedExt[strings.ToLower(path.Ext(name))] {
		method = zip.Store
	}
	fh := &zip.FileHeader{Name: name, Method: method, Modified: time.Now()}
	// The index is taken before CreateHeader: an error there means the
	// archive's upload broke, and Finish reports that whatever is listed.
	s.state.Lock()
	first := s.next == 0
	if dir, _, ok := strings.Cut(name, "/"); first && ok {
		// The archive starts with a folder entry, which is never unlisted:
		// 7-Zip takes bytes before the first listed entry for a stub and
		// then lists every local header, unlisted ones too.
		s.next++
		s.state.Unlock()
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: dir + "/", Method: zip.Store, Modified: time.Now()}); err != nil {
			return sdk.PutResponse{}, s.writeErr(ctx, err)
		}
		s.state.Lock()
	}
	index := s.next
	s.next++
	s.state.Unlock()
	w, err := zw.CreateHeader(fh)
	if err != nil {
		return sdk.PutResponse{}, s.writeErr(ctx, err)
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
		// The bytes are in the stream already; leave the entry out of the
		// central directory so no one takes the truncated file for the
		// artifact (an earlier entry of the same path stays listed).
		s.state.Lock()
		s.unlist[index] = n
		s.state.Unlock()
		if ctx.Err() != nil {
			return sdk.PutResponse{}, sdk.Classify(sdk.KindCanceled, fmt.Errorf("ziprun: adding %s to %s: %w", name, part, err))
		}
		if lerr := s.lose(lostWait); lerr != nil {
			return sdk.PutResponse{}, lerr
		}
		return sdk.PutResponse{}, fmt.Errorf("ziprun: adding %s to %s: %w", name, part, err)
	}
	if beside.err != nil {
		return sdk.PutResponse{}, fmt.Errorf("ziprun: storing %s beside the archive: %w", req.Path, beside.err)
	}
	s.state.Lock()
	if old, ok := s.entries[req.Path]; ok {
		s.unlist[old.index] = old.info.Size // replaced: the last Put wins
	}
	s.entries[req.Path] = entry{index: index, part: part, info: sdk.ObjectInfo{Path: req.Path, Size: n, Modified: fh.Modified}}
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

// writeErr explains a write error of the zip stream: the archive's upload
// failed. When it ended, its part is lost (see lose).
func (s *Sink) writeErr(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		if lerr := s.lose(lostWait); lerr != nil {
			return lerr
		}
	}
	s.state.Lock()
	defer s.state.Unlock()
	return sdk.Classify(sdk.KindOf(err), fmt.Errorf("ziprun: writing archive %s: %w", s.archive, err))
}

// finalBreak says whether the part being written is lost for good (no new
// part follows). The caller holds s.mu and not s.state.
func (s *Sink) finalBreak() bool {
	s.state.Lock()
	defer s.state.Unlock()
	return s.parts[len(s.parts)-1].Lost
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
	zw, dw, pw := s.zw, s.dw, s.pw
	unlist := make(map[int]bool, len(s.unlist))
	for i := range s.unlist {
		unlist[i] = true
	}
	comment := s.comment()
	s.state.Unlock()
	// The central directory is held back while zip.Writer writes it, then
	// sent without the unlisted entries.
	dw.hold()
	err := zw.SetComment(comment)
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = dw.release(unlist)
	}
	if err != nil {
		_ = pw.CloseWithError(err)
	} else {
		_ = pw.Close()
	}
	return s.wait(ctx)
}

// comment is the archive's comment; it owns up to unlisted entries. The
// caller holds s.state.
func (s *Sink) comment() string {
	c := "agolpipe run " + s.run
	if len(s.unlist) > 0 {
		var size int64
		for _, n := range s.unlist {
			size += n
		}
		c += fmt.Sprintf("; %d replaced, deleted or failed entries (%d bytes of content) remain in the file, unlisted", len(s.unlist), size)
	}
	return c
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
	e, ok := s.entries[p]
	s.state.Unlock()
	if ok {
		return e.info, nil
	}
	return s.inner.Stat(ctx, p)
}

// Get and List pass through to the inner sink: entries of an unfinished
// archive cannot be read back.
func (s *Sink) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	return s.inner.Get(ctx, req)
}
func (s *Sink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	return s.inner.List(ctx, req, fn)
}

// Delete of an entry of the archive leaves it out of the archive's listing
// (see the package doc); a copy stored beside the archive is deleted too.
// Once the archive is sealed (Finish) or aborted, its entries cannot be
// deleted. Other paths pass through to the inner sink.
func (s *Sink) Delete(ctx context.Context, p string) error {
	s.state.Lock()
	e, ok := s.entries[p]
	if ok && s.done {
		s.state.Unlock()
		return sdk.Permanent("ziprun: archive %s is sealed; cannot delete %s from it", s.archive, p)
	}
	if ok {
		delete(s.entries, p)
		s.unlist[e.index] = e.info.Size
	}
	s.state.Unlock()
	if ok && !s.beside[s.entryName(p)] {
		return nil
	}
	err := s.inner.Delete(ctx, p)
	if ok && sdk.IsNotFound(err) {
		return nil
	}
	return err
}

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

// dirWriter passes the archive's bytes to the upload until hold; from then
// on (zip.Writer.Close: the last entry's tail, the central directory and
// its end records) it keeps them, and release sends them with some entries
// left out of the central directory.
type dirWriter struct {
	w       io.Writer
	n       int64 // bytes passed through before hold
	holding bool
	held    bytes.Buffer
}

func (d *dirWriter) Write(p []byte) (int, error) {
	if d.holding {
		return d.held.Write(p)
	}
	n, err := d.w.Write(p)
	d.n += int64(n)
	return n, err
}

func (d *dirWriter) hold() { d.holding = true }

func (d *dirWriter) release(unlist map[int]bool) error {
	out := d.held.Bytes()
	if len(unlist) > 0 {
		var err error
		if out, err = unlistEntries(out, d.n, unlist); err != nil {
			return err
		}
	}
	_, err := d.w.Write(out)
	return err
}

// Zip record signatures and fixed sizes (APPNOTE.TXT 4.3).
const (
	sigCentral    = 0x02014b50
	sigEnd        = 0x06054b50
	sigEnd64      = 0x06064b50
	sigEnd64Loc   = 0x07064b50
	centralLen    = 46
	endLen        = 22
	end64Len      = 56
	end64LocLen   = 20
	saturated16   = 0xffff
	saturated32   = 0xffffffff
	maxCommentLen = 0xffff
)

// unlistEntries rewrites the tail of an archive (tail starts at offset base
// of the file and ends with the end of central directory record) so that the
// central directory leaves out the entries whose index is in unlist, fixing
// the entry counts, the directory's size and the zip64 locator. The
// directory's offset does not move, so every listed entry keeps its place.
func unlistEntries(tail []byte, base int64, unlist map[int]bool) ([]byte, error) {
	bad := func(what string) error { return fmt.Errorf("ziprun: unexpected archive layout: %s", what) }
	le := binary.LittleEndian
	eocd := -1
	for i := len(tail) - endLen; i >= 0 && i >= len(tail)-endLen-maxCommentLen; i-- {
		if le.Uint32(tail[i:]) == sigEnd && i+endLen+int(le.Uint16(tail[i+20:])) == len(tail) {
			eocd = i
			break
		}
	}
	if eocd < 0 {
		return nil, bad("no end of central directory record")
	}
	records := uint64(le.Uint16(tail[eocd+10:]))
	size := uint64(le.Uint32(tail[eocd+12:]))
	offset := uint64(le.Uint32(tail[eocd+16:]))
	dirEnd := eocd
	z64 := records == saturated16 || size == saturated32 || offset == saturated32
	z := eocd - end64LocLen - end64Len
	if z64 {
		if z < 0 || le.Uint32(tail[z:]) != sigEnd64 || le.Uint32(tail[eocd-end64LocLen:]) != sigEnd64Loc {
			return nil, bad("no zip64 end records")
		}
		records, size, offset = le.Uint64(tail[z+32:]), le.Uint64(tail[z+40:]), le.Uint64(tail[z+48:])
		dirEnd = z
	}
	start := int64(offset) - base
	if start < 0 || start+int64(size) != int64(dirEnd) {
		return nil, bad("central directory not where its end record says")
	}
	out := make([]byte, 0, len(tail))
	out = append(out, tail[:start]...)
	p, kept := int(start), uint64(0)
	for k := 0; uint64(k) < records; k++ {
		if p+centralLen > dirEnd || le.Uint32(tail[p:]) != sigCentral {
			return nil, bad("central directory record")
		}
		n := centralLen + int(le.Uint16(tail[p+28:])) + int(le.Uint16(tail[p+30:])) + int(le.Uint16(tail[p+32:]))
		if p+n > dirEnd {
			return nil, bad("central directory record length")
		}
		if !unlist[k] {
			out = append(out, tail[p:p+n]...)
			kept++
		}
		p += n
	}
	if p != dirEnd {
		return nil, bad("central directory size")
	}
	newSize := uint64(len(out)) - uint64(start)
	if z64 {
		rec := append([]byte(nil), tail[z:eocd]...)
		le.PutUint64(rec[24:], kept)
		le.PutUint64(rec[32:], kept)
		le.PutUint64(rec[40:], newSize)
		le.PutUint64(rec[end64Len+8:], offset+newSize) // the locator points at the zip64 record
		out = append(out, rec...)
		// The plain end record stays saturated: readers take zip64's values.
		return append(out, tail[eocd:]...), nil
	}
	rec := append([]byte(nil), tail[eocd:]...)
	le.PutUint16(rec[8:], uint16(kept))
	le.PutUint16(rec[10:], uint16(kept))
	le.PutUint32(rec[12:], uint32(newSize))
	return append(out, rec...), nil
}
