package sinktest

import (
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
)

// MemSink is a correct in-memory sdk.Sink: the reference implementation of
// the contract that Run checks, and a convenient sink for unit tests of code
// that writes to sinks (engine, zip, retention). It holds every object in
// memory, so it is for tests only. The zero value is not usable; call
// NewMemSink. Safe for concurrent use.
type MemSink struct {
	mu      sync.Mutex
	objects map[string]memObject
	closed  bool
	// PutHook, when set, is called after Put has read the whole body and
	// before the object becomes visible; an error from it fails the Put.
	// Tests use it to inject faults.
	PutHook func(path string) error
}

type memObject struct {
	data     []byte
	modified time.Time
}

// NewMemSink returns an empty in-memory sink.
func NewMemSink() *MemSink { return &MemSink{objects: map[string]memObject{}} }

// Info implements sdk.Sink.
func (m *MemSink) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSink, Name: "memory", Version: "0", Description: "in-memory sink for tests"}
}

// Schema implements sdk.Sink; the memory sink has no settings.
func (m *MemSink) Schema() sdk.Schema { return sdk.Schema{} }

// Configure implements sdk.Sink.
func (m *MemSink) Configure(context.Context, sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	return sdk.SinkConfigureResponse{Features: sdk.SinkFeatures{RangeGet: true, Location: "memory"}}, nil
}

// Preflight implements sdk.Sink.
func (m *MemSink) Preflight(context.Context) error { return nil }

// Put implements sdk.Sink: the body is read whole, then published at once.
func (m *MemSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, req.Body); err != nil {
		return sdk.PutResponse{}, sdk.Permanent("memory sink: reading body of %q: %w", req.Path, err)
	}
	if err := ctx.Err(); err != nil {
		return sdk.PutResponse{}, sdk.Classify(sdk.KindCanceled, err)
	}
	if m.PutHook != nil {
		if err := m.PutHook(req.Path); err != nil {
			return sdk.PutResponse{}, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[req.Path] = memObject{data: buf.Bytes(), modified: time.Now()}
	return sdk.PutResponse{Size: int64(buf.Len())}, nil
}

// Stat implements sdk.Sink.
func (m *MemSink) Stat(_ context.Context, path string) (sdk.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[path]
	if !ok {
		return sdk.ObjectInfo{}, sdk.NotFound("memory sink: %q not found", path)
	}
	return sdk.ObjectInfo{Path: path, Size: int64(len(o.data)), Modified: o.modified}, nil
}

// Get implements sdk.Sink.
func (m *MemSink) Get(_ context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[req.Path]
	if !ok {
		return nil, sdk.NotFound("memory sink: %q not found", req.Path)
	}
	d := o.data
	if req.Offset > int64(len(d)) {
		return nil, sdk.Permanent("memory sink: offset %d beyond the end of %q (%d bytes)", req.Offset, req.Path, len(d))
	}
	d = d[req.Offset:]
	if req.Length > 0 && req.Length < int64(len(d)) {
		d = d[:req.Length]
	}
	return io.NopCloser(bytes.NewReader(d)), nil
}

// List implements sdk.Sink; it lists a snapshot, so fn may call the sink.
func (m *MemSink) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	m.mu.Lock()
	var infos []sdk.ObjectInfo
	for p, o := range m.objects {
		if strings.HasPrefix(p, req.Prefix) {
			infos = append(infos, sdk.ObjectInfo{Path: p, Size: int64(len(o.data)), Modified: o.modified})
		}
	}
	m.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	for _, info := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements sdk.Sink.
func (m *MemSink) Delete(_ context.Context, path string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objects[path]; !ok {
		return sdk.NotFound("memory sink: %q not found", path)
	}
	delete(m.objects, path)
	return nil
}

// Close implements sdk.Sink; it is idempotent and keeps the objects, so a
// test can inspect them after the code under test closed the sink.
func (m *MemSink) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

// Paths returns the stored paths, sorted.
func (m *MemSink) Paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for p := range m.objects {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
