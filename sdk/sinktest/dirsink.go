package sinktest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agolpipe/agolpipe/sdk"
)

// DirTempPrefix starts the name of the temporary file a DirSink writes an
// object to before renaming it into place; a test may look for leftovers.
const DirTempPrefix = ".agolpipe-tmp-"

// DirSink is a correct sdk.Sink over a folder of the local filesystem, for
// tests of code that writes to sinks and then looks at the files (an engine
// run, zip, retention) without depending on a real sink plugin: an object
// is a file under Dir, written to a temporary file (DirTempPrefix) and
// renamed into place, its folders created on the way and removed by Delete
// once empty (never Dir itself, which Put creates when first needed). It is
// not the local sink (no Windows long paths, no disk-full classification,
// no flushing policy); Run passes it. Safe for concurrent use.
type DirSink struct {
	Dir string
	// MaxPathLength is reported in Configure's features (0: no limit), so
	// a test can exercise the host's shortening of long names.
	MaxPathLength int
}

// NewDirSink returns a sink over dir.
func NewDirSink(dir string) *DirSink { return &DirSink{Dir: dir} }

// Info implements sdk.Sink.
func (d *DirSink) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSink, Name: "dir", Version: "0", Description: "folder sink for tests"}
}

// Schema implements sdk.Sink; the folder is set on the value, not in HCL.
func (d *DirSink) Schema() sdk.Schema { return sdk.Schema{} }

// Configure implements sdk.Sink.
func (d *DirSink) Configure(context.Context, sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	abs, err := filepath.Abs(d.Dir)
	if err != nil {
		abs = d.Dir
	}
	return sdk.SinkConfigureResponse{Features: sdk.SinkFeatures{RangeGet: true, Location: abs, MaxPathLength: d.MaxPathLength}}, nil
}

// Preflight implements sdk.Sink: the folder must be creatable.
func (d *DirSink) Preflight(context.Context) error {
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return sdk.Permanent("dir sink: %v", err)
	}
	return nil
}

// file maps an object path to its file, refusing one that would leave Dir.
func (d *DirSink) file(path string) (string, error) {
	clean := filepath.ToSlash(filepath.Clean(filepath.FromSlash(path)))
	if path == "" || strings.HasPrefix(clean, "../") || clean == ".." || filepath.IsAbs(path) || clean != path {
		return "", sdk.Permanent("dir sink: %q is not a clean relative object path", path)
	}
	return filepath.Join(d.Dir, filepath.FromSlash(path)), nil
}

func notFoundOr(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return sdk.NotFound("dir sink: %q not found", path)
	}
	return sdk.Permanent("dir sink: %v", err)
}

// ctxReader stops reading once ctx ends, as a sink reading a stream does.
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

// Put implements sdk.Sink: temporary file, then rename.
func (d *DirSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	name, err := d.file(req.Path)
	if err != nil {
		return sdk.PutResponse{}, err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return sdk.PutResponse{}, sdk.Permanent("dir sink: %v", err)
	}
	f, err := os.CreateTemp(filepath.Dir(name), DirTempPrefix+"*")
	if err != nil {
		return sdk.PutResponse{}, sdk.Permanent("dir sink: %v", err)
	}
	n, err := io.Copy(f, ctxReader{ctx, req.Body})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = os.Remove(f.Name())
		if ctx.Err() != nil {
			return sdk.PutResponse{}, sdk.Classify(sdk.KindCanceled, ctx.Err())
		}
		return sdk.PutResponse{}, sdk.Permanent("dir sink: writing %q: %w", req.Path, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		_ = os.Remove(f.Name())
		return sdk.PutResponse{}, sdk.Permanent("dir sink: %v", err)
	}
	return sdk.PutResponse{Size: n}, nil
}

// Stat implements sdk.Sink.
func (d *DirSink) Stat(_ context.Context, path string) (sdk.ObjectInfo, error) {
	name, err := d.file(path)
	if err != nil {
		return sdk.ObjectInfo{}, err
	}
	fi, err := os.Stat(name)
	if err != nil {
		return sdk.ObjectInfo{}, notFoundOr(path, err)
	}
	if fi.IsDir() {
		return sdk.ObjectInfo{}, sdk.NotFound("dir sink: %q is a folder, not an object", path)
	}
	return sdk.ObjectInfo{Path: path, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

// Get implements sdk.Sink.
func (d *DirSink) Get(_ context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	name, err := d.file(req.Path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, notFoundOr(req.Path, err)
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		return nil, sdk.NotFound("dir sink: %q not found", req.Path)
	}
	if _, err := f.Seek(req.Offset, io.SeekStart); err != nil {
		f.Close()
		return nil, sdk.Permanent("dir sink: %v", err)
	}
	if req.Length > 0 {
		return struct {
			io.Reader
			io.Closer
		}{io.LimitReader(f, req.Length), f}, nil
	}
	return f, nil
}

// List implements sdk.Sink; it lists a snapshot, so fn may call the sink.
func (d *DirSink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	var infos []sdk.ObjectInfo
	err := filepath.WalkDir(d.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), DirTempPrefix) {
			return nil
		}
		rel, err := filepath.Rel(d.Dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, req.Prefix) {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		infos = append(infos, sdk.ObjectInfo{Path: rel, Size: fi.Size(), Modified: fi.ModTime()})
		return nil
	})
	if err != nil {
		return sdk.Permanent("dir sink: listing: %v", err)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return sdk.Classify(sdk.KindCanceled, err)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements sdk.Sink and removes the folders it leaves empty, up to
// but never including Dir.
func (d *DirSink) Delete(_ context.Context, path string) error {
	name, err := d.file(path)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(name); err != nil {
		return notFoundOr(path, err)
	} else if fi.IsDir() {
		return sdk.NotFound("dir sink: %q is a folder, not an object", path)
	}
	if err := os.Remove(name); err != nil {
		return notFoundOr(path, err)
	}
	root := filepath.Clean(d.Dir)
	for dir := filepath.Dir(name); dir != root && strings.HasPrefix(dir, root+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty (or gone): the folders above are not empty either
		}
	}
	return nil
}

// Close implements sdk.Sink; it is idempotent.
func (d *DirSink) Close() error { return nil }
