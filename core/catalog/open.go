package catalog

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/core/report"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/retry"
)

// Problem names what is wrong with a stored copy of an artifact.
type Problem string

// Problems a stored copy can have.
const (
	// Missing: the sink does not hold the object (or the archive entry).
	Missing Problem = "missing"
	// Truncated: fewer bytes than the manifest recorded.
	Truncated Problem = "truncated"
	// Oversized: more bytes than the manifest recorded.
	Oversized Problem = "oversized"
	// Corrupt: the right size but other bytes (sha256 differs, or a zip
	// entry fails its CRC).
	Corrupt Problem = "corrupt"
	// NotStored: the manifest itself says this sink did not store it.
	NotStored Problem = "not stored"
	// UnsafePath: a path from the manifest or an archive would leave its
	// run folder; it is never read or written.
	UnsafePath Problem = "unsafe path"
)

// IntegrityError says a stored copy of an artifact is not the one the
// manifest recorded. Find it with errors.As; it is classified permanent
// (reading again gives the same bytes), Missing as not found.
type IntegrityError struct {
	Problem Problem
	// Sink is the sink block's name; Path the object's path in the sink
	// (the archive's when Archive is set), Entry the entry in the archive.
	Sink, Path, Entry string
	ItemID            string
	WantSize, GotSize int64
	WantSHA256        string
	GotSHA256         string
	// Err is the underlying error, if any (the sink's not found).
	Err error
}

func (e *IntegrityError) Error() string {
	where := e.Path
	if e.Entry != "" {
		where = fmt.Sprintf("%s in archive %s", e.Entry, e.Path)
	}
	var what string
	switch e.Problem {
	case Missing:
		what = "missing"
	case Truncated:
		what = fmt.Sprintf("truncated: %d of %d bytes", e.GotSize, e.WantSize)
	case Oversized:
		what = fmt.Sprintf("longer than recorded: more than %d bytes", e.WantSize)
		if e.GotSize > e.WantSize {
			what = fmt.Sprintf("longer than recorded: %d bytes, not %d", e.GotSize, e.WantSize)
		}
	case Corrupt:
		if e.GotSHA256 != "" {
			what = fmt.Sprintf("corrupt: sha256 %s, not %s as recorded", e.GotSHA256, e.WantSHA256)
		} else {
			what = "corrupt"
		}
	default:
		what = string(e.Problem)
	}
	s := fmt.Sprintf("sink %q: %s: %s", e.Sink, where, what)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *IntegrityError) Unwrap() []error {
	kind := sdk.KindPermanent
	if e.Problem == Missing {
		kind = sdk.KindNotFound
	}
	errs := []error{sdk.Classify(kind, errors.New(string(e.Problem)))}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// AsIntegrity returns the *IntegrityError in err's chain, if any.
func AsIntegrity(err error) (*IntegrityError, bool) {
	var ie *IntegrityError
	ok := errors.As(err, &ie)
	return ie, ok
}

// CheckPath refuses a slash-separated relative path that would leave the
// folder it is relative to, or that means different things on different
// systems: empty, absolute, with "." or ".." elements, a backslash, a NUL,
// or a drive letter or colon (C:, a Windows alternate data stream).
func CheckPath(p string) error {
	bad := func(why string) error {
		return &IntegrityError{Problem: UnsafePath, Path: p, Err: errors.New(why)}
	}
	switch {
	case p == "":
		return bad("empty path")
	case strings.HasPrefix(p, "/"):
		return bad("absolute path")
	case strings.ContainsAny(p, "\\\x00:"):
		return bad("backslash, colon or NUL in the path")
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return bad(fmt.Sprintf("path element %q", el))
		}
	}
	if path.Clean(p) != p {
		return bad("not a clean path")
	}
	return nil
}

// SafeJoin joins the slash-separated relative path name (an archive entry, a
// manifest path) onto the local folder root, refusing any name that would
// land outside root (see CheckPath). Restore uses it for every file it
// writes from a backup.
func SafeJoin(root, name string) (string, error) {
	if err := CheckPath(name); err != nil {
		return "", err
	}
	p := filepath.Join(root, filepath.FromSlash(name))
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", &IntegrityError{Problem: UnsafePath, Path: name, Err: fmt.Errorf("lands outside %s", root)}
	}
	return p, nil
}

// Outcome returns the artifact's outcome in the run's sink (the manifest's
// own sink name), or false when the manifest says the sink did not store it.
func (r Run) Outcome(a report.Artifact) (report.SinkOutcome, bool) {
	for _, o := range a.Sinks {
		if o.Sink == r.Head.Sink && o.Status == report.Stored {
			return o, true
		}
	}
	return report.SinkOutcome{}, false
}

// Location is where a stored copy of an artifact is in a sink: an object,
// or an entry of an archive.
type Location struct {
	// Path is the object's path in the sink; for a zipped run, the
	// archive's.
	Path string
	// Entry is the entry's name in the archive (empty for an object).
	Entry string
}

// Locate says where r's sink holds artifact a, checking every path on the
// way (an *IntegrityError with NotStored or UnsafePath when it cannot).
func (r Run) Locate(a report.Artifact) (Location, error) {
	o, ok := r.Outcome(a)
	if !ok {
		return Location{}, &IntegrityError{Problem: NotStored, Sink: r.Sink, Path: r.Folder + "/" + a.Path, ItemID: a.ItemID,
			Err: errors.New("the run's manifest records no stored copy in this sink")}
	}
	if err := CheckPath(o.Path); err != nil {
		ie, _ := AsIntegrity(err)
		ie.Sink, ie.ItemID = r.Sink, a.ItemID
		return Location{}, ie
	}
	if o.Archive == "" {
		return Location{Path: r.Folder + "/" + o.Path}, nil
	}
	// An archive lies in the run's own folder (R/R.zip, R/R.part2.zip).
	if err := CheckPath(o.Archive); err != nil || !strings.HasPrefix(o.Archive, r.Folder+"/") {
		return Location{}, &IntegrityError{Problem: UnsafePath, Sink: r.Sink, Path: o.Archive, ItemID: a.ItemID,
			Err: fmt.Errorf("archive outside run folder %s", r.Folder)}
	}
	return Location{Path: o.Archive, Entry: o.Path}, nil
}

// Open streams r's stored copy of artifact a (a from r's manifest). The
// stream returns an *IntegrityError instead of io.EOF when the bytes read
// differ from the manifest's size or sha256, and as soon as more bytes come
// than recorded; until it returns io.EOF, what was read is not the backup.
// A copy the sink does not hold fails at Open with Problem Missing.
func (c *Catalog) Open(ctx context.Context, r Run, a report.Artifact) (io.ReadCloser, error) {
	s, ok := c.Sink(r.Sink)
	if !ok {
		return nil, fmt.Errorf("no sink named %q in this pipeline", r.Sink)
	}
	loc, err := r.Locate(a)
	if err != nil {
		return nil, err
	}
	ie := IntegrityError{Sink: r.Sink, Path: loc.Path, Entry: loc.Entry, ItemID: a.ItemID, WantSize: a.Size, WantSHA256: a.SHA256}
	var rc io.ReadCloser
	if loc.Entry == "" {
		get := func(off int64) (io.ReadCloser, error) {
			return s.Sink.Get(ctx, sdk.GetRequest{Path: loc.Path, Offset: off})
		}
		rc, err = get(0)
		if err != nil {
			if sdk.IsNotFound(err) {
				ie.Problem, ie.Err = Missing, err
				return nil, &ie
			}
			return nil, fmt.Errorf("sink %q: reading %s: %w", r.Sink, loc.Path, err)
		}
		rc = &resumeReader{ctx: ctx, rc: rc, get: get, size: a.Size}
	} else {
		ar, err := c.archive(ctx, s, loc.Path)
		if err != nil {
			if sdk.IsNotFound(err) {
				ie.Problem, ie.Err = Missing, err
				return nil, &ie
			}
			return nil, err
		}
		rc, err = ar.open(loc.Entry, &ie)
		if err != nil {
			return nil, err
		}
	}
	return &checkReader{r: rc, h: sha256.New(), want: ie}, nil
}

// checkReader hashes and counts what passes and ends with an
// *IntegrityError when it differs from the manifest.
type checkReader struct {
	r    io.ReadCloser
	h    hash.Hash
	n    int64
	want IntegrityError
	err  error
}

func (c *checkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	// Never pass on more than recorded: one byte past the size is enough
	// to know the copy is not the artifact.
	if room := c.want.WantSize + 1 - c.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.h.Write(p[:n])
	if c.n > c.want.WantSize {
		e := c.want
		e.Problem, e.GotSize = Oversized, c.n
		c.err = &e
		return 0, c.err
	}
	switch {
	case err == io.EOF:
		e := c.want
		e.GotSize = c.n
		if c.n < c.want.WantSize {
			e.Problem = Truncated
			c.err = &e
			return n, c.err
		}
		if got := hex.EncodeToString(c.h.Sum(nil)); !strings.EqualFold(got, c.want.WantSHA256) {
			e.Problem, e.GotSHA256 = Corrupt, got
			c.err = &e
			return n, c.err
		}
		c.err = io.EOF
	case err != nil:
		if ie, ok := AsIntegrity(err); ok {
			c.err = ie // a zip entry's CRC or size, found by the archive reader
		} else {
			c.err = fmt.Errorf("sink %q: reading %s: %w", c.want.Sink, c.want.where(), err)
		}
		return n, c.err
	}
	return n, c.err
}

func (c *checkReader) Close() error { return c.r.Close() }

func (e *IntegrityError) where() string {
	if e.Entry != "" {
		return e.Entry + " in " + e.Path
	}
	return e.Path
}

// ErrNoRandomAccess says an artifact cannot be read at any offset in place:
// it is stored compressed inside a zipped run's archive.
var ErrNoRandomAccess = errors.New("stored compressed inside the run's archive, so it cannot be read in place")

// ReaderAt opens r's stored copy of artifact a for reading at any offset
// in place, by ranged Gets (a zip artifact's central directory, then each
// entry), without downloading it. It does not check the bytes: read the
// artifact through Open first. Call closeFn when done.
func (c *Catalog) ReaderAt(ctx context.Context, r Run, a report.Artifact) (ra io.ReaderAt, size int64, closeFn func(), err error) {
	s, ok := c.Sink(r.Sink)
	if !ok {
		return nil, 0, nil, fmt.Errorf("no sink named %q in this pipeline", r.Sink)
	}
	loc, err := r.Locate(a)
	if err != nil {
		return nil, 0, nil, err
	}
	if loc.Entry == "" {
		rr := newRangeReaderAt(ctx, s, loc.Path, a.Size)
		return rr, a.Size, func() { rr.close(true) }, nil
	}
	ar, err := c.archive(ctx, s, loc.Path)
	if err != nil {
		return nil, 0, nil, err
	}
	if ar.err != nil {
		return nil, 0, nil, &IntegrityError{Problem: Corrupt, Sink: r.Sink, Path: loc.Path, Entry: loc.Entry, ItemID: a.ItemID, Err: ar.err}
	}
	f, ok := ar.byName[loc.Entry]
	if !ok {
		return nil, 0, nil, &IntegrityError{Problem: Missing, Sink: r.Sink, Path: loc.Path, Entry: loc.Entry, ItemID: a.ItemID}
	}
	if f.Method != zip.Store {
		return nil, 0, nil, ErrNoRandomAccess
	}
	off, err := f.DataOffset()
	if err != nil {
		return nil, 0, nil, fmt.Errorf("sink %q: archive %s: entry %s: %w", r.Sink, loc.Path, loc.Entry, err)
	}
	n := int64(f.UncompressedSize64)
	return io.NewSectionReader(ar.ra, off, n), n, func() {}, nil
}

// maxResumes bounds how often one read of an object is resumed.
const maxResumes = 3

// resumeReader reads an object, and when the sink's stream breaks off in
// the middle (a reset connection, a body cut short: anything but the
// object missing, the read canceled or refused for its credentials) asks
// the sink again for the rest, from the byte where it broke, up to
// maxResumes times. One dropped connection does not fail the restore or
// verify of a multi-gigabyte artifact; the check around it (checkReader)
// still hashes every byte once, in order, so a resumed copy is proven
// whole like any other.
type resumeReader struct {
	ctx     context.Context
	rc      io.ReadCloser
	get     func(off int64) (io.ReadCloser, error)
	size    int64 // the manifest's
	off     int64
	resumes int
	// askedShort: the sink was asked once for more after a clean end
	// before size.
	askedShort bool
}

func (r *resumeReader) Read(p []byte) (int, error) {
	for {
		n, err := r.rc.Read(p)
		r.off += int64(n)
		// A clean end before the size is asked about once: a copy stored
		// short ends there again.
		short := err == io.EOF && r.off < r.size && !r.askedShort
		if err == nil || err == io.EOF && !short || !short && !resumable(err) || r.resumes >= maxResumes || r.ctx.Err() != nil {
			return n, err
		}
		r.askedShort = r.askedShort || short
		r.resumes++
		r.rc.Close()
		if serr := retry.Sleep(r.ctx, time.Duration(r.resumes)*250*time.Millisecond); serr != nil {
			return n, err
		}
		nrc, gerr := r.get(r.off)
		if gerr != nil {
			r.rc = errReadCloser{err}
			return n, err
		}
		r.rc = nrc
		if n > 0 {
			return n, nil
		}
	}
}

func (r *resumeReader) Close() error { return r.rc.Close() }

// resumable reports whether a read that broke off with err may be resumed.
func resumable(err error) bool {
	if _, ok := AsIntegrity(err); ok {
		return false
	}
	switch sdk.KindOf(err) {
	case sdk.KindCanceled, sdk.KindAuth, sdk.KindNotFound:
		return false
	}
	return true
}

type errReadCloser struct{ err error }

func (e errReadCloser) Read([]byte) (int, error) { return 0, e.err }
func (errReadCloser) Close() error               { return nil }
