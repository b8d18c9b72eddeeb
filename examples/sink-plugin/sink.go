package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/agolpipe/agolpipe/sdk"
)

// sumsFile sits at the sink's root; objects live under dataDir so that the
// checksum file is never mistaken for an artifact.
const (
	sumsFile = "SHA256SUMS"
	dataDir  = "data"
	tmpMark  = ".agolpipe-tmp-"
)

// Sink stores objects as files under <path>/data and records the SHA-256 of
// each in <path>/SHA256SUMS (format of `sha256sum`). Writes are atomic: a
// temp file in the target folder, fsync, rename; then the sums file is
// rewritten the same way. Methods are safe for concurrent use.
type Sink struct {
	root string

	mu   sync.Mutex // guards sums and the sums file
	sums map[string]string
}

// New returns an unconfigured sink.
func New() sdk.Sink { return &Sink{} }

func (s *Sink) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSink, Name: "checksum-dir", Version: "1.0.0",
		Description: "A folder with a SHA256SUMS file, verifiable with sha256sum -c"}
}

func (s *Sink) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{{
		Name: "path", Type: sdk.TypeString, Required: true,
		Description: `Folder that receives data/ and SHA256SUMS, e.g. "/mnt/backups/agol".`,
	}}}
}

func (s *Sink) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	var cfg struct {
		Path string `cty:"path"`
	}
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return sdk.SinkConfigureResponse{}, diags.Errorf(nil, "Invalid checksum-dir configuration", "%v", err)
	}
	if strings.TrimSpace(cfg.Path) == "" {
		return sdk.SinkConfigureResponse{}, diags.Errorf([]string{"path"}, "Empty path", `Set path to a folder, for example path = "/mnt/backups/agol".`)
	}
	abs, err := filepath.Abs(cfg.Path)
	if err != nil {
		return sdk.SinkConfigureResponse{}, diags.Errorf([]string{"path"}, "Path cannot be resolved", "%v", err)
	}
	s.root = abs
	return sdk.SinkConfigureResponse{Features: sdk.SinkFeatures{RangeGet: true, Location: abs}}, nil
}

// Preflight creates the folder, makes a test write and loads SHA256SUMS.
func (s *Sink) Preflight(context.Context) error {
	if s.root == "" {
		return sdk.Permanent("checksum-dir: not configured")
	}
	if err := os.MkdirAll(filepath.Join(s.root, dataDir), 0o755); err != nil {
		return sdk.Permanent("checksum-dir: creating %s: %v", s.root, err)
	}
	probe, err := os.CreateTemp(s.root, tmpMark+"preflight-")
	if err != nil {
		return sdk.Permanent("checksum-dir: %s is not writable: %v", s.root, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadSums()
}

func (s *Sink) loadSums() error {
	s.sums = map[string]string{}
	f, err := os.Open(filepath.Join(s.root, sumsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return sdk.Permanent("checksum-dir: reading %s: %v", sumsFile, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if ok {
			s.sums[strings.TrimPrefix(name, dataDir+"/")] = sum
		}
	}
	return sc.Err()
}

// file maps an object path onto the disk, refusing anything that could
// escape the folder.
func (s *Sink) file(p string) (string, error) {
	if s.root == "" {
		return "", sdk.Permanent("checksum-dir: not configured")
	}
	clean := path.Clean(p)
	if p == "" || clean != p || strings.HasPrefix(p, "/") || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(p, `\`) || strings.Contains(path.Base(p), tmpMark) {
		return "", sdk.Permanent("checksum-dir: object path %q is not a clean relative path", p)
	}
	return filepath.Join(s.root, dataDir, filepath.FromSlash(p)), nil
}

func (s *Sink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	dst, err := s.file(req.Path)
	if err != nil {
		return sdk.PutResponse{}, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return sdk.PutResponse{}, sdk.Permanent("checksum-dir: %v", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), tmpMark+"*")
	if err != nil {
		return sdk.PutResponse{}, sdk.Permanent("checksum-dir: %v", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), req.Body)
	if err != nil {
		return sdk.PutResponse{}, err // the body's error, already classified by its source
	}
	if err := ctx.Err(); err != nil {
		return sdk.PutResponse{}, err
	}
	if err := tmp.Sync(); err != nil {
		return sdk.PutResponse{}, sdk.Retryable("checksum-dir: fsync %s: %v", req.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return sdk.PutResponse{}, sdk.Retryable("checksum-dir: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return sdk.PutResponse{}, sdk.Retryable("checksum-dir: %v", err)
	}
	done = true
	if s.sums == nil {
		if err := s.loadSums(); err != nil {
			return sdk.PutResponse{}, err
		}
	}
	s.sums[req.Path] = hex.EncodeToString(h.Sum(nil))
	return sdk.PutResponse{Size: n}, s.writeSums()
}

// writeSums rewrites SHA256SUMS atomically, sorted, with paths relative to
// the root so `sha256sum -c SHA256SUMS` works from there.
func (s *Sink) writeSums() error {
	names := make([]string, 0, len(s.sums))
	for n := range s.sums {
		names = append(names, n)
	}
	sort.Strings(names)
	tmp, err := os.CreateTemp(s.root, tmpMark+"sums-")
	if err != nil {
		return sdk.Retryable("checksum-dir: %v", err)
	}
	w := bufio.NewWriter(tmp)
	for _, n := range names {
		fmt.Fprintf(w, "%s  %s/%s\n", s.sums[n], dataDir, n)
	}
	err = errors.Join(w.Flush(), tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(s.root, sumsFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return sdk.Retryable("checksum-dir: writing %s: %v", sumsFile, err)
	}
	return nil
}

func notFound(p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return sdk.NotFound("checksum-dir: %s not found", p)
	}
	return sdk.Permanent("checksum-dir: %s: %v", p, err)
}

func (s *Sink) Stat(_ context.Context, p string) (sdk.ObjectInfo, error) {
	f, err := s.file(p)
	if err != nil {
		return sdk.ObjectInfo{}, err
	}
	fi, err := os.Stat(f)
	if err != nil || fi.IsDir() {
		if err == nil {
			err = fs.ErrNotExist
		}
		return sdk.ObjectInfo{}, notFound(p, err)
	}
	return sdk.ObjectInfo{Path: p, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

func (s *Sink) Get(_ context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	name, err := s.file(req.Path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, notFound(req.Path, err)
	}
	if fi, err := f.Stat(); err != nil || fi.IsDir() {
		f.Close()
		return nil, notFound(req.Path, fs.ErrNotExist)
	}
	if req.Offset > 0 {
		if _, err := f.Seek(req.Offset, io.SeekStart); err != nil {
			f.Close()
			return nil, sdk.Permanent("checksum-dir: %v", err)
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

func (s *Sink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	if s.root == "" {
		return sdk.Permanent("checksum-dir: not configured")
	}
	base := filepath.Join(s.root, dataDir)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.Contains(d.Name(), tmpMark) {
			return nil
		}
		rel, err := filepath.Rel(base, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, req.Prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		return fn(sdk.ObjectInfo{Path: rel, Size: fi.Size(), Modified: fi.ModTime()})
	})
	return err
}

func (s *Sink) Delete(_ context.Context, p string) error {
	f, err := s.file(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(f); err != nil {
		return notFound(p, err)
	}
	if s.sums == nil {
		if err := s.loadSums(); err != nil {
			return err
		}
	}
	delete(s.sums, p)
	return s.writeSums()
}

func (s *Sink) Close() error { return nil }
