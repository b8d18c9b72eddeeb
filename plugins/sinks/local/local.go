// Package local is the local-disk sink: it stores artifacts under a folder on
// a local disk, a mounted NAS or (on Windows) a UNC share path.
//
// Writes are atomic: each object is written to a temporary file in its
// target folder, flushed to disk, and renamed into place, so a reader never
// sees a half-written artifact and a failed or cancelled Put leaves nothing.
package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/version"
)

// tempPrefix marks files a Put is still writing. List skips them, and they
// are never renamed over by anything but their own Put.
const tempPrefix = ".agolpipe-tmp-"

// maxPath is the path length every OS agolpipe supports handles without
// special APIs (Windows MAX_PATH is 260; 240 leaves room for a temp suffix
// and for copying the backup somewhere slightly deeper).
const maxPath = 240

// Sink is the local-disk sink. The zero value is unconfigured; use New.
type Sink struct {
	root string // absolute, cleaned, OS form, without long-path prefix

	mu     sync.Mutex
	closed bool
}

// New returns an unconfigured local sink.
func New() sdk.Sink { return &Sink{} }

type config struct {
	Path string `cty:"path"`
}

// Info implements sdk.Sink.
func (s *Sink) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSink, Name: "local", Version: version.Version,
		Description: "Local disk, mounted NAS or UNC share path"}
}

// Schema implements sdk.Sink.
func (s *Sink) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{{
		Name: "path", Type: sdk.TypeString, Required: true,
		Description: `Folder that receives the run folders, e.g. "/mnt/gis-backups", "D:\\Backups" or "\\\\nas\\gis\\backups". Created when missing; never a drive or share root.`,
	}}}
}

// Configure implements sdk.Sink.
func (s *Sink) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	var c config
	if err := sdk.DecodeConfig(req.Config, &c); err != nil {
		return sdk.SinkConfigureResponse{}, diags.Errorf(sdk.ConfigErrorPath(err), "Invalid local sink configuration", "%v", err)
	}
	p := strings.TrimSpace(c.Path)
	if p == "" {
		return sdk.SinkConfigureResponse{}, diags.Errorf([]string{"path"}, "Empty path",
			`Set path to the folder that should receive the backups, for example path = "/mnt/gis-backups".`)
	}
	// A control character (NUL, newline, ...) is refused by the OS at the
	// first write, or worse, creates a name no one can type: say so now.
	if i := strings.IndexFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		return sdk.SinkConfigureResponse{}, diags.Errorf([]string{"path"}, "Control character in path",
			"%q has the control character %q at byte %d; folder names cannot hold it. Remove it (a \\n or \\0 written in the string, or a line break in a variable's value, puts one there).", p, p[i], i)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return sdk.SinkConfigureResponse{}, diags.Errorf([]string{"path"}, "Path cannot be resolved", "%q: %v", p, err)
	}
	if isRoot(abs, isWindows) {
		return sdk.SinkConfigureResponse{}, diags.Errorf([]string{"path"}, "Path is a filesystem or share root",
			"%q is the root of a drive or share. agolpipe writes one folder per run and its retention deletes old runs, so give it a folder of its own, for example %q.",
			abs, filepath.Join(abs, "agolpipe-backups"))
	}
	s.root = abs
	max := maxPath - len(abs) - 1
	if max < 40 {
		diags = diags.Errorf([]string{"path"}, "Path is too long",
			"%q leaves only %d characters for the file names of a backup (limit %d). Choose a shorter folder.", abs, max, maxPath)
	}
	return sdk.SinkConfigureResponse{Features: sdk.SinkFeatures{
		MaxPathLength: max,
		RangeGet:      true,
		Location:      abs,
	}}, diags
}

// Preflight creates the folder when it is missing and proves that a file can
// be written and deleted there.
func (s *Sink) Preflight(ctx context.Context) error {
	if err := s.ready(); err != nil {
		return err
	}
	if err := os.MkdirAll(osPath(s.root), 0o755); err != nil {
		return classify(err, "create folder "+s.root)
	}
	name := filepath.Join(s.root, tempPrefix+"preflight-"+randomHex())
	f, err := os.OpenFile(osPath(name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return classify(err, "test write in "+s.root)
	}
	_, werr := f.Write([]byte("agolpipe preflight\n"))
	serr := f.Sync()
	cerr := f.Close()
	rerr := os.Remove(osPath(name))
	if err := errors.Join(werr, serr, cerr); err != nil {
		return classify(err, "test write in "+s.root)
	}
	if rerr != nil {
		return classify(rerr, "delete test file in "+s.root)
	}
	return nil
}

// Put implements sdk.Sink with a temp file, fsync, rename and directory
// fsync, so the object appears whole or not at all, even after a power cut.
func (s *Sink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	target, err := s.objectPath(req.Path)
	if err != nil {
		return sdk.PutResponse{}, err
	}
	if err := ctx.Err(); err != nil {
		return sdk.PutResponse{}, sdk.Classify(sdk.KindCanceled, err)
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(osPath(dir), 0o755); err != nil {
		return sdk.PutResponse{}, classify(err, "create folder for "+req.Path)
	}
	removeOrphans(dir)
	tmp, err := os.CreateTemp(osPath(dir), tempPattern())
	if err != nil {
		return sdk.PutResponse{}, classify(err, "create temp file for "+req.Path)
	}
	tmpName := tmp.Name()
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	n, err := ctxReader{ctx: ctx, r: req.Body}.WriteTo(&writeback{f: tmp})
	if err != nil {
		if ctx.Err() != nil {
			return sdk.PutResponse{}, sdk.Classify(sdk.KindCanceled, ctx.Err())
		}
		return sdk.PutResponse{}, classify(err, "write "+req.Path)
	}
	if req.Size >= 0 && n != req.Size {
		return sdk.PutResponse{}, sdk.Retryable("write %s: got %d bytes, expected %d", req.Path, n, req.Size)
	}
	if err := tmp.Sync(); err != nil {
		return sdk.PutResponse{}, classify(err, "flush "+req.Path)
	}
	if err := tmp.Close(); err != nil {
		return sdk.PutResponse{}, classify(err, "close "+req.Path)
	}
	// A last check so a cancelled run does not publish an object after the
	// caller stopped waiting for it.
	if err := ctx.Err(); err != nil {
		return sdk.PutResponse{}, sdk.Classify(sdk.KindCanceled, err)
	}
	if err := os.Rename(tmpName, osPath(target)); err != nil {
		return sdk.PutResponse{}, classify(err, "rename into "+req.Path)
	}
	committed = true
	if err := syncDir(osPath(dir)); err != nil {
		return sdk.PutResponse{}, classify(err, "flush folder of "+req.Path)
	}
	return sdk.PutResponse{Size: n}, nil
}

// Stat implements sdk.Sink.
func (s *Sink) Stat(ctx context.Context, p string) (sdk.ObjectInfo, error) {
	target, err := s.objectPath(p)
	if err != nil {
		return sdk.ObjectInfo{}, err
	}
	fi, err := os.Stat(osPath(target))
	if err != nil {
		return sdk.ObjectInfo{}, classify(err, "stat "+p)
	}
	if !fi.Mode().IsRegular() {
		return sdk.ObjectInfo{}, sdk.NotFound("stat %s: not a file", p)
	}
	return sdk.ObjectInfo{Path: p, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// Get implements sdk.Sink; ranges seek, so they never read the whole file.
func (s *Sink) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	target, err := s.objectPath(req.Path)
	if err != nil {
		return nil, err
	}
	if req.Offset < 0 || req.Length < 0 {
		return nil, sdk.Permanent("get %s: negative offset or length", req.Path)
	}
	f, err := os.Open(osPath(target))
	if err != nil {
		return nil, classify(err, "open "+req.Path)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, classify(err, "stat "+req.Path)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, sdk.NotFound("get %s: not a file", req.Path)
	}
	if req.Offset > 0 {
		if _, err := f.Seek(req.Offset, io.SeekStart); err != nil {
			f.Close()
			return nil, classify(err, "seek "+req.Path)
		}
	}
	if req.Length > 0 {
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(f, req.Length), f}, nil
	}
	return f, nil
}

// List implements sdk.Sink. It walks only the folder the prefix points into.
func (s *Sink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	if err := s.ready(); err != nil {
		return err
	}
	start := s.root
	if i := strings.LastIndex(req.Prefix, "/"); i >= 0 {
		dir := req.Prefix[:i]
		if dir != "" {
			if err := checkObjectPath(dir); err != nil {
				return err
			}
			start = filepath.Join(s.root, filepath.FromSlash(dir))
		}
	}
	err := filepath.WalkDir(osPath(start), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a prefix with no objects, or a file deleted while walking
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return sdk.Classify(sdk.KindCanceled, cerr)
		}
		if d.IsDir() || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		rel, err := filepath.Rel(osPath(s.root), p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, req.Prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		return fn(sdk.ObjectInfo{Path: rel, Size: fi.Size(), Modified: fi.ModTime()})
	})
	var se *sdk.Error
	if err != nil && !errors.As(err, &se) {
		// Errors from fn are the caller's own and pass through unchanged;
		// filesystem errors are classified here.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return classify(err, "list "+req.Prefix)
		}
	}
	return err
}

// Delete implements sdk.Sink and removes folders it leaves empty, up to (not
// including) the sink's root, so retention leaves no husks of old runs.
func (s *Sink) Delete(ctx context.Context, p string) error {
	target, err := s.objectPath(p)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(osPath(target))
	if err != nil {
		return classify(err, "delete "+p)
	}
	if fi.IsDir() {
		return sdk.NotFound("delete %s: not a file", p)
	}
	if err := os.Remove(osPath(target)); err != nil {
		return classify(err, "delete "+p)
	}
	for dir := filepath.Dir(target); dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
		if os.Remove(osPath(dir)) != nil {
			break // not empty, or someone else's: stop quietly
		}
	}
	return nil
}

// Close implements sdk.Sink; it is idempotent.
func (s *Sink) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *Sink) ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return sdk.Permanent("local sink: used after Close")
	}
	if s.root == "" {
		return sdk.Permanent("local sink: used before Configure")
	}
	return nil
}

// objectPath maps a slash-separated object path to a file under the root,
// refusing anything that could escape it.
func (s *Sink) objectPath(p string) (string, error) {
	if err := s.ready(); err != nil {
		return "", err
	}
	if err := checkObjectPath(p); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(p)), nil
}

func checkObjectPath(p string) error {
	if p == "" {
		return sdk.Permanent("object path is empty")
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || strings.Contains(p, ":") || path.Clean(p) != p {
		return sdk.Permanent("object path %q is not a clean relative slash-separated path", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return sdk.Permanent("object path %q leaves the sink's folder", p)
		}
		if strings.HasPrefix(seg, tempPrefix) {
			return sdk.Permanent("object path %q uses the reserved prefix %s", p, tempPrefix)
		}
	}
	return nil
}

// classify turns a filesystem error into a classified error with a hint.
func classify(err error, what string) error {
	var se *sdk.Error
	if errors.As(err, &se) {
		// Already classified where it was understood (a body that failed).
		return &sdk.Error{Kind: se.Kind, Err: fmt.Errorf("%s: %w", what, err), RetryAfter: se.RetryAfter}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return sdk.Classify(sdk.KindNotFound, fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, fs.ErrPermission):
		return sdk.Permanent("%s: %v (the account running agolpipe needs write permission on this folder; check the folder's permissions or run agolpipe as an account that has them)", what, err)
	case isNoSpace(err):
		// The whole sink is full, not this object: the engine stops sending
		// to it (the reason says so across the plugin boundary).
		return sdk.WithReason(sdk.KindPermanent, sdk.ReasonNoSpace,
			fmt.Errorf("%s: %w (the disk is full or the quota is reached; free space or point the sink at a larger disk)", what, err))
	case errors.Is(err, os.ErrDeadlineExceeded), isTransient(err):
		return sdk.Classify(sdk.KindRetryable, fmt.Errorf("%s: %w", what, err))
	}
	return sdk.Classify(sdk.KindPermanent, fmt.Errorf("%s: %w", what, err))
}

// ctxReader stops a copy as soon as the run is cancelled. It passes a
// body's own chunks straight to the file when the body can write itself out
// (the gRPC adapter's bodies can), so each chunk is one write(2) and no
// copy; other bodies go through a buffer of copyBuffer bytes, larger than
// io.Copy's 32 KiB, for the same reason.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c ctxReader) WriteTo(w io.Writer) (int64, error) {
	if wt, ok := c.r.(io.WriterTo); ok {
		return wt.WriteTo(ctxWriter{ctx: c.ctx, w: w})
	}
	buf := make([]byte, copyBuffer)
	var n int64
	for {
		k, err := sdk.FillChunk(c, buf) // not io.ReadFull: a cut body is not an end
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n += int64(m)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// copyBuffer is the write size for bodies that hand out bytes only through
// Read: the protocol's chunk size.
const copyBuffer = 256 << 10

// ctxWriter is the file side of ctxReader.WriteTo; it checks for
// cancellation before every write.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// ReadFrom lets a body that can move its bytes into the file without
// passing them through this process do so: the data channel from the host
// is a socket, which Linux splices into the page cache. Cancellation still
// stops it: the channel is closed when the Put's context ends.
func (c ctxWriter) ReadFrom(r io.Reader) (int64, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if rf, ok := c.w.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c}, r)
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
