package catalog

import (
	"archive/zip"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/agolpipe/agolpipe/sdk"
)

// archive is a zipped run's archive in a sink, read in place: its central
// directory once, each entry by a ranged Get from where it starts.
type archive struct {
	sink   Sink
	path   string
	size   int64
	ra     *rangeReaderAt
	zr     *zip.Reader
	byName map[string]*zip.File
	// err is why the archive could not be read (set instead of zr).
	err error
}

// archive returns the archive at p in s, opened once and kept among the
// last maxOpenArchives used. An archive the sink holds but that cannot be
// read as a zip (truncated, overwritten) comes back with err set, so each
// of its artifacts is reported corrupt rather than the whole run failing.
func (c *Catalog) archive(ctx context.Context, s Sink, p string) (*archive, error) {
	key := s.Name + "\x00" + p
	c.mu.Lock()
	if a, ok := c.archives[key]; ok {
		c.touch(key)
		c.mu.Unlock()
		return a, nil
	}
	c.mu.Unlock()
	a, err := openArchive(ctx, s, p)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.archives[key]; ok {
		a.shutdown() // opened meanwhile by another Open
		c.touch(key)
		return old, nil
	}
	c.archives[key] = a
	c.order = append(c.order, key)
	for len(c.order) > maxOpenArchives {
		c.archives[c.order[0]].close()
		delete(c.archives, c.order[0])
		c.order = c.order[1:]
	}
	return a, nil
}

// touch moves key to the end of the use order. The caller holds c.mu.
func (c *Catalog) touch(key string) {
	for i, k := range c.order {
		if k == key {
			c.order = append(append(c.order[:i:i], c.order[i+1:]...), key)
			return
		}
	}
}

func openArchive(ctx context.Context, s Sink, p string) (*archive, error) {
	info, err := s.Sink.Stat(ctx, p)
	if err != nil {
		if sdk.IsNotFound(err) {
			return nil, err
		}
		return nil, fmt.Errorf("sink %q: archive %s: %w", s.Name, p, err)
	}
	a := &archive{sink: s, path: p, size: info.Size}
	a.ra = newRangeReaderAt(context.WithoutCancel(ctx), s, p, info.Size)
	zr, err := zip.NewReader(a.ra, info.Size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		if ctx.Err() != nil {
			a.shutdown()
			return nil, sdk.Classify(sdk.KindCanceled, ctx.Err())
		}
		var ge *getError
		if errors.As(err, &ge) {
			// The sink failed, not the archive: say so, do not call it corrupt.
			a.shutdown()
			return nil, fmt.Errorf("sink %q: reading archive %s: %w", s.Name, p, ge.err)
		}
		a.err = fmt.Errorf("archive %s (%d bytes) cannot be read as a zip: %w", p, info.Size, err)
		return a, nil
	}
	// Entries with unsafe names are read like the others (CheckPath refuses
	// them by name where a caller meets them); archive/zip reports them
	// with ErrInsecurePath only when GODEBUG asks it to.
	a.zr = zr
	a.byName = make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		a.byName[f.Name] = f
	}
	return a, nil
}

// close closes the streams kept open. An entry still being read goes on
// (each of its reads then opens its own Get), until shutdown.
func (a *archive) close() { a.ra.close(false) }

// shutdown also stops every Get still going.
func (a *archive) shutdown() { a.ra.close(true) }

// Object is one object a sink holds in a run's folder, or one entry of a
// zipped run's archive.
type Object struct {
	Location
	Size int64
	// Err is set, with no Entry, for an archive that cannot be read as a
	// zip: its entries cannot be listed.
	Err error
}

// Objects calls fn for everything r's sink holds in the run's folder: each
// object, and for a zipped run each entry of its archives (the central
// directory: what zip tools extract) instead of the archive itself. It is
// how a verifier finds what the manifest does not list.
func (c *Catalog) Objects(ctx context.Context, r Run, fn func(Object) error) error {
	s, ok := c.Sink(r.Sink)
	if !ok {
		return fmt.Errorf("no sink named %q in this pipeline", r.Sink)
	}
	archives := map[string]bool{}
	if r.Archive != "" {
		archives[r.Archive] = true
	}
	for _, p := range r.SinkRecord().Archives {
		archives[p] = true
	}
	var found []sdk.ObjectInfo
	if err := s.Sink.List(ctx, sdk.ListRequest{Prefix: r.Folder + "/"}, func(o sdk.ObjectInfo) error {
		if archives[o.Path] {
			found = append(found, o)
			return nil
		}
		return fn(Object{Location: Location{Path: o.Path}, Size: o.Size})
	}); err != nil {
		return fmt.Errorf("sink %q: listing %s: %w", r.Sink, r.Folder, err)
	}
	for _, o := range found {
		a, err := c.archive(ctx, s, o.Path)
		if err != nil {
			return err
		}
		if a.err != nil {
			if err := fn(Object{Location: Location{Path: o.Path}, Size: o.Size, Err: a.err}); err != nil {
				return err
			}
			continue
		}
		for _, f := range a.zr.File {
			if strings.HasSuffix(f.Name, "/") {
				continue // a folder entry
			}
			if err := fn(Object{Location: Location{Path: o.Path, Entry: f.Name}, Size: int64(f.UncompressedSize64)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// open streams entry name, ending with an *IntegrityError (ie filled in)
// when the entry is missing, of another size than recorded, or fails its
// CRC.
func (a *archive) open(name string, ie *IntegrityError) (io.ReadCloser, error) {
	fail := func(p Problem, err error) (io.ReadCloser, error) {
		e := *ie
		e.Problem, e.Err = p, err
		return nil, &e
	}
	if a.err != nil {
		return fail(Corrupt, a.err)
	}
	f, ok := a.byName[name]
	if !ok {
		return fail(Missing, errors.New("no such entry in the archive"))
	}
	if got := int64(f.UncompressedSize64); got != ie.WantSize {
		e := *ie
		e.GotSize = got
		e.Problem = Truncated
		if got > ie.WantSize {
			e.Problem = Oversized
		}
		return nil, &e
	}
	rc, err := f.Open()
	if err != nil {
		var ge *getError
		if errors.As(err, &ge) {
			return nil, fmt.Errorf("sink %q: reading archive %s: %w", a.sink.Name, a.path, ge.err)
		}
		return fail(Corrupt, err)
	}
	return &entryReader{rc: rc, ie: ie}, nil
}

// entryReader turns archive/zip's CRC and length errors into
// *IntegrityError, and a sink's read error into an error naming the sink.
type entryReader struct {
	rc io.ReadCloser
	ie *IntegrityError
}

func (e *entryReader) Read(p []byte) (int, error) {
	n, err := e.rc.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	var ge *getError
	if errors.As(err, &ge) {
		return n, ge.err
	}
	ie := *e.ie
	ie.Err = err
	ie.Problem = Corrupt
	switch {
	case errors.Is(err, zip.ErrChecksum):
		ie.Err = fmt.Errorf("the archive entry fails its CRC-32 (%w)", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		ie.Problem = Truncated
	}
	return n, &ie
}

func (e *entryReader) Close() error { return e.rc.Close() }

// getError marks an error of the sink (Get failed, the stream broke), so
// it is not taken for a damaged archive.
type getError struct{ err error }

func (g *getError) Error() string { return g.err.Error() }
func (g *getError) Unwrap() error { return g.err }

// rangeReaderAt reads an object of a sink at any offset through ranged
// Gets. Reading an archive is sequential almost everywhere (the central
// directory, then an entry's header and its data), so it keeps the streams
// it opened and continues one whose position is at or a little before the
// offset asked for, instead of one Get per read.
type rangeReaderAt struct {
	ctx      context.Context
	cancel   context.CancelFunc
	sink     sdk.Sink
	path     string
	size     int64
	rangeGet bool

	mu     sync.Mutex
	idle   []*stream
	closed bool
}

// newRangeReaderAt reads the object at p of size bytes in s; its Gets run
// under ctx until close(true).
func newRangeReaderAt(ctx context.Context, s Sink, p string, size int64) *rangeReaderAt {
	r := &rangeReaderAt{sink: s.Sink, path: p, size: size, rangeGet: s.Features.RangeGet}
	r.ctx, r.cancel = context.WithCancel(ctx)
	return r
}

type stream struct {
	rc  io.ReadCloser
	br  *bufio.Reader
	pos int64
}

// maxSkip is how far ahead of a stream's position a read may start and
// still continue that stream (reading and dropping the bytes between).
const maxSkip = 256 << 10

// maxIdle bounds the streams kept open between reads.
const maxIdle = 4

func (r *rangeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := r.size - off; int64(want) > rest {
		want = int(rest)
	}
	s := r.take(off)
	if s == nil {
		var err error
		if s, err = r.openAt(off); err != nil {
			return 0, err
		}
	}
	if skip := off - s.pos; skip > 0 {
		n, err := s.br.Discard(int(skip))
		s.pos += int64(n)
		if err != nil {
			s.rc.Close()
			return 0, r.short(err)
		}
	}
	n, err := io.ReadFull(s.br, p[:want])
	s.pos += int64(n)
	if err != nil {
		s.rc.Close()
		return n, r.short(err)
	}
	r.put(s)
	if want < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// short explains a stream that ended before the object's size (the object
// changed since Stat) or broke.
func (r *rangeReaderAt) short(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return io.ErrUnexpectedEOF
	}
	return &getError{err: err}
}

func (r *rangeReaderAt) take(off int64) *stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := -1
	for i, s := range r.idle {
		if s.pos <= off && off-s.pos <= maxSkip && (best < 0 || s.pos > r.idle[best].pos) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	s := r.idle[best]
	r.idle = append(r.idle[:best], r.idle[best+1:]...)
	return s
}

func (r *rangeReaderAt) put(s *stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		s.rc.Close()
		return
	}
	r.idle = append(r.idle, s)
	if len(r.idle) > maxIdle {
		r.idle[0].rc.Close()
		r.idle = r.idle[1:]
	}
}

func (r *rangeReaderAt) openAt(off int64) (*stream, error) {
	req := sdk.GetRequest{Path: r.path}
	if r.rangeGet {
		req.Offset = off
	}
	rc, err := r.sink.Get(r.ctx, req)
	if err != nil {
		return nil, &getError{err: err}
	}
	s := &stream{rc: rc, br: bufio.NewReaderSize(rc, 64<<10)}
	if !r.rangeGet && off > 0 {
		// A sink without ranged reads: read up to the offset.
		if _, err := io.CopyN(io.Discard, s.br, off); err != nil {
			rc.Close()
			return nil, r.short(err)
		}
	}
	s.pos = off
	return s, nil
}

func (r *rangeReaderAt) close(cancel bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, s := range r.idle {
		s.rc.Close()
	}
	r.idle = nil
	if cancel {
		r.cancel()
	}
}
