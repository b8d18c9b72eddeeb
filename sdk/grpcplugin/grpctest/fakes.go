package grpctest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
)

// The fakes below are small but honest components for tests of the plugin
// road (adapters, host, engine). Their behaviour is driven by configuration
// so that a test can steer them in a subprocess too.

// FakeServeOpts serves every fake under the name "fake".
func FakeServeOpts() grpcplugin.ServeOpts {
	return grpcplugin.ServeOpts{
		Sources:   map[string]func() sdk.Source{"fake": func() sdk.Source { return &FakeSource{} }},
		Exporters: map[string]func() sdk.Exporter{"fake": func() sdk.Exporter { return &FakeExporter{} }},
		Sinks:     map[string]func() sdk.Sink{"fake": func() sdk.Sink { return NewMemSink() }},
		Notifiers: map[string]func() sdk.Notifier{"fake": func() sdk.Notifier { return &FakeNotifier{} }},
	}
}

// MemSink keeps objects in memory. Put stores an object only once its body
// was read to a clean EOF, like a real sink's temp-file-and-rename.
type MemSink struct {
	mu      sync.Mutex
	objects map[string][]byte
	mod     map[string]time.Time
	cfg     struct {
		Root  *string `cty:"root"`
		Token *string `cty:"token"`
	}
	// Puts counts Put calls that reached the sink, stored or not.
	Puts   int
	closed bool
}

// NewMemSink returns an empty MemSink.
func NewMemSink() *MemSink {
	return &MemSink{objects: map[string][]byte{}, mod: map[string]time.Time{}}
}

func (s *MemSink) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSink, Name: "fake", Version: "1.0.0", Description: "in-memory sink for tests"}
}

func (s *MemSink) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "root", Type: sdk.TypeString, Description: "label only"},
		{Name: "token", Type: sdk.TypeString, Sensitive: true, Description: "a secret; \"bad\" fails Configure"},
	}}
}

func (s *MemSink) Configure(_ context.Context, req sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	var diags sdk.Diagnostics
	if err := sdk.DecodeConfig(req.Config, &s.cfg); err != nil {
		return sdk.SinkConfigureResponse{}, diags.Errorf(nil, "Invalid configuration", "%v", err)
	}
	if s.cfg.Token != nil && *s.cfg.Token == "bad" {
		diags = diags.Errorf([]string{"token"}, "Token rejected", "Use a token with write access.")
	}
	root := ""
	if s.cfg.Root != nil {
		root = *s.cfg.Root
	}
	return sdk.SinkConfigureResponse{Features: sdk.SinkFeatures{RangeGet: true, Location: "memory:" + root}}, diags
}

func (s *MemSink) Preflight(context.Context) error { return nil }

func (s *MemSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	s.mu.Lock()
	s.Puts++
	s.mu.Unlock()
	if strings.Contains(req.Path, "throttle") {
		return sdk.PutResponse{}, &sdk.Error{Kind: sdk.KindRetryable, Err: fmt.Errorf("throttled storing %s", req.Path), RetryAfter: 7 * time.Second}
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, req.Body); err != nil {
		return sdk.PutResponse{}, err
	}
	if err := ctx.Err(); err != nil {
		return sdk.PutResponse{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[req.Path] = buf.Bytes()
	s.mod[req.Path] = time.Now()
	return sdk.PutResponse{Size: int64(buf.Len())}, nil
}

// Object returns a stored object's bytes.
func (s *MemSink) Object(path string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[path]
	return b, ok
}

// Len is the number of stored objects.
func (s *MemSink) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.objects)
}

func (s *MemSink) Stat(_ context.Context, path string) (sdk.ObjectInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[path]
	if !ok {
		return sdk.ObjectInfo{}, sdk.NotFound("object %s not found", path)
	}
	return sdk.ObjectInfo{Path: path, Size: int64(len(b)), Modified: s.mod[path]}, nil
}

func (s *MemSink) Get(_ context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[req.Path]
	if !ok {
		return nil, sdk.NotFound("object %s not found", req.Path)
	}
	if req.Offset > int64(len(b)) {
		return nil, sdk.Permanent("offset %d beyond the end of %s", req.Offset, req.Path)
	}
	b = b[req.Offset:]
	if req.Length > 0 && req.Length < int64(len(b)) {
		b = b[:req.Length]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *MemSink) List(_ context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	s.mu.Lock()
	var infos []sdk.ObjectInfo
	for p, b := range s.objects {
		if strings.HasPrefix(p, req.Prefix) {
			infos = append(infos, sdk.ObjectInfo{Path: p, Size: int64(len(b)), Modified: s.mod[p]})
		}
	}
	s.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].Path < infos[j].Path })
	for _, o := range infos {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (s *MemSink) Delete(_ context.Context, path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[path]; !ok {
		return sdk.NotFound("object %s not found", path)
	}
	delete(s.objects, path)
	return nil
}

func (s *MemSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// FakeSource lists `items` items (ids item-0000...) and answers portal
// requests with a small JSON body naming the URL; URL "missing" is not
// found.
type FakeSource struct {
	cfg struct {
		Items    *int64  `cty:"items"`
		Password *string `cty:"password"`
	}
}

func (s *FakeSource) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindSource, Name: "fake", Version: "1.0.0", Description: "fake organization for tests"}
}

func (s *FakeSource) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{
		{Name: "items", Type: sdk.TypeNumber},
		{Name: "password", Type: sdk.TypeString, Sensitive: true},
	}}
}

func (s *FakeSource) Configure(_ context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	if err := sdk.DecodeConfig(req.Config, &s.cfg); err != nil {
		return sdk.Diagnostics{}.Errorf(nil, "Invalid configuration", "%v", err)
	}
	return nil
}

func (s *FakeSource) Connect(context.Context) (sdk.OrgInfo, error) {
	if s.cfg.Password != nil && *s.cfg.Password == "wrong" {
		return sdk.OrgInfo{}, sdk.Auth("sign-in refused for the configured user")
	}
	return sdk.OrgInfo{PortalURL: "https://fake.example/portal", OrgID: "org1", OrgName: "Fake Org", Mode: "online", Username: "admin", IsAdmin: true, ItemCount: s.count()}, nil
}

func (s *FakeSource) count() int64 {
	if s.cfg.Items == nil {
		return 3
	}
	return *s.cfg.Items
}

func (s *FakeSource) ListItems(ctx context.Context, _ sdk.ListItemsRequest, fn func(sdk.ListedItem) error) error {
	for i := int64(0); i < s.count(); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		it := sdk.ListedItem{Item: sdk.Item{ID: fmt.Sprintf("item-%04d", i), Title: fmt.Sprintf("Item %d", i), Type: "Feature Service", Owner: "admin", Size: 100 + i,
			Created: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Raw: json.RawMessage(fmt.Sprintf(`{"id":"item-%04d"}`, i))}}
		if i%10 == 9 {
			it.Excluded, it.Reason = true, "API keys are never backed up"
		}
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

func (s *FakeSource) Do(_ context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	if req.URL == "missing" {
		return nil, sdk.NotFound("item does not exist: %s", req.URL)
	}
	body, _ := json.Marshal(map[string]any{"url": req.URL, "q": req.Query.Get("q"), "offset": req.Offset})
	return &sdk.PortalResponse{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body))}, nil
}

func (s *FakeSource) Close() error { return nil }

// FakeExporter writes, per item, "data.bin" of item.Size deterministic
// bytes (see Content) and, when the item has a URL, "portal.json" fetched
// through the Host. With crash_on set to an item id, the plugin process
// exits half-way through that item's data: only use it in a subprocess.
type FakeExporter struct {
	cfg struct {
		CrashOn *string `cty:"crash_on"`
	}
}

func (e *FakeExporter) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindExporter, Name: "fake", Version: "1.0.0", Description: "fake exporter for tests"}
}

func (e *FakeExporter) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{{Name: "crash_on", Type: sdk.TypeString}}}
}

func (e *FakeExporter) ItemTypes() []string { return []string{"Feature Service"} }

func (e *FakeExporter) Configure(_ context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	if err := sdk.DecodeConfig(req.Config, &e.cfg); err != nil {
		return sdk.Diagnostics{}.Errorf(nil, "Invalid configuration", "%v", err)
	}
	return nil
}

func (e *FakeExporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	host.Progress(ctx, sdk.Progress{ItemID: req.Item.ID, Stage: "exporting", Percent: 0})
	host.Log(ctx, sdk.LogInfo, fmt.Sprintf("exporting %s %s resume=%v timeout=%v format=%s", req.Item.ID, req.RunID, req.Resume, req.Timeout, req.Format))
	var body io.Reader = Content(req.Item.ID, req.Item.Size)
	if e.cfg.CrashOn != nil && *e.cfg.CrashOn == req.Item.ID {
		body = io.MultiReader(io.LimitReader(body, req.Item.Size/2), crashReader{})
	}
	if err := out.Write(ctx, sdk.Artifact{Name: "data.bin", MediaType: "application/octet-stream", Size: req.Item.Size, Format: "Binary"}, body); err != nil {
		return sdk.ExportResult{}, err
	}
	if req.Item.URL != "" {
		resp, err := host.Portal(ctx, sdk.PortalRequest{Method: "GET", URL: req.Item.URL})
		if err != nil {
			return sdk.ExportResult{}, err
		}
		defer resp.Body.Close()
		if err := out.Write(ctx, sdk.Artifact{Name: "portal.json", MediaType: "application/json", Size: -1, Format: "JSON"}, resp.Body); err != nil {
			return sdk.ExportResult{}, err
		}
	}
	host.Progress(ctx, sdk.Progress{ItemID: req.Item.ID, Stage: "done", Percent: 100})
	return sdk.ExportResult{Status: sdk.StatusExported}, nil
}

func (e *FakeExporter) Close() error { return nil }

type crashReader struct{}

func (crashReader) Read([]byte) (int, error) {
	os.Exit(3)
	return 0, nil
}

// Content returns size deterministic bytes derived from seed, generated as
// they are read (never held whole in memory).
func Content(seed string, size int64) io.Reader {
	var x uint64 = 1469598103934665603
	for _, c := range []byte(seed) {
		x = (x ^ uint64(c)) * 1099511628211
	}
	return io.LimitReader(&xorshift{x: x | 1}, size)
}

type xorshift struct{ x uint64 }

func (r *xorshift) Read(p []byte) (int, error) {
	for i := range p {
		r.x ^= r.x << 13
		r.x ^= r.x >> 7
		r.x ^= r.x << 17
		p[i] = byte(r.x)
	}
	return len(p), nil
}

// FakeNotifier writes each NotifyRequest as JSON to the file at `out`.
type FakeNotifier struct {
	cfg struct {
		Out *string `cty:"out"`
	}
	// Last is the last request, for in-process tests.
	Last *sdk.NotifyRequest
}

func (n *FakeNotifier) Info() sdk.Info {
	return sdk.Info{Kind: sdk.KindNotifier, Name: "fake", Version: "1.0.0", Description: "fake notifier for tests"}
}

func (n *FakeNotifier) Schema() sdk.Schema {
	return sdk.Schema{Attributes: []sdk.Attribute{{Name: "out", Type: sdk.TypeString}}}
}

func (n *FakeNotifier) Configure(_ context.Context, req sdk.ConfigureRequest) sdk.Diagnostics {
	if err := sdk.DecodeConfig(req.Config, &n.cfg); err != nil {
		return sdk.Diagnostics{}.Errorf(nil, "Invalid configuration", "%v", err)
	}
	return nil
}

func (n *FakeNotifier) Notify(_ context.Context, req sdk.NotifyRequest) error {
	n.Last = &req
	if n.cfg.Out == nil {
		return nil
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return os.WriteFile(*n.cfg.Out, b, 0o600)
}

func (n *FakeNotifier) Close() error { return nil }

// ServeFakes is the main of a plugin binary serving the fakes.
func ServeFakes() { grpcplugin.Serve(FakeServeOpts()) }
