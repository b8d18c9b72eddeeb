package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

var t0 = time.Date(2025, 3, 7, 4, 5, 6, 0, time.UTC)

// fakeSource lists items; a title decides how the fake exporter behaves.
type fakeSource struct {
	items []sdk.ListedItem
}

func (s *fakeSource) Info() sdk.Info     { return sdk.Info{Kind: sdk.KindSource, Name: "fake"} }
func (s *fakeSource) Schema() sdk.Schema { return sdk.Schema{} }
func (s *fakeSource) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics {
	return nil
}
func (s *fakeSource) Connect(context.Context) (sdk.OrgInfo, error) {
	return sdk.OrgInfo{PortalURL: "https://example.maps.arcgis.com", OrgName: "City of Example", ItemCount: int64(len(s.items)), IsAdmin: true}, nil
}
func (s *fakeSource) ListItems(ctx context.Context, req sdk.ListItemsRequest, fn func(sdk.ListedItem) error) error {
	for _, it := range s.items {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}
func (s *fakeSource) Do(context.Context, sdk.PortalRequest) (*sdk.PortalResponse, error) {
	return nil, sdk.NotFound("fake portal has nothing")
}
func (s *fakeSource) Close() error { return nil }

func item(id, title, typ string) sdk.ListedItem {
	return sdk.ListedItem{Item: sdk.Item{ID: id, Title: title, Type: typ, Owner: "gis_admin", Access: "org", Size: 100,
		Created: t0.AddDate(-1, 0, 0), Modified: t0.AddDate(0, -1, 0)}}
}

// content is the deterministic body of an artifact.
func content(id, name string, size int) []byte {
	var b bytes.Buffer
	for b.Len() < size {
		fmt.Fprintf(&b, "%s/%s;", id, name)
	}
	return b.Bytes()[:size]
}

// fakeExporter behaves according to the item's title:
// "ok*" two artifacts; "partial*" one artifact and partial; "fail*" a
// permanent error; "panic*" panics; "flaky*" retryable errors for the first
// flakes attempts; "slow*" one artifact then waits for release or ctx;
// "deferred*" defers, then exports on resume; "truncated*" announces more
// bytes than it sends.
type fakeExporter struct {
	flakes   int
	size     int
	release  chan struct{}
	started  chan string
	attempts sync.Map // id -> *atomic.Int32
}

func (f *fakeExporter) Info() sdk.Info      { return sdk.Info{Kind: sdk.KindExporter, Name: "fakeexp"} }
func (f *fakeExporter) Schema() sdk.Schema  { return sdk.Schema{} }
func (f *fakeExporter) ItemTypes() []string { return []string{"Web Map"} }
func (f *fakeExporter) Close() error        { return nil }
func (f *fakeExporter) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics {
	return nil
}

func (f *fakeExporter) attempt(id string) int {
	v, _ := f.attempts.LoadOrStore(id, &atomic.Int32{})
	return int(v.(*atomic.Int32).Add(1))
}

func (f *fakeExporter) write(ctx context.Context, out sdk.ArtifactWriter, id, name string) error {
	size := f.size
	if size == 0 {
		size = 1000
	}
	return out.Write(ctx, sdk.Artifact{Name: name, MediaType: "application/octet-stream", Size: int64(size), Format: "JSON"}, bytes.NewReader(content(id, name, size)))
}

func (f *fakeExporter) Export(ctx context.Context, req sdk.ExportRequest, h sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	id, title := req.Item.ID, req.Item.Title
	n := f.attempt(id)
	h.Progress(ctx, sdk.Progress{ItemID: id, Stage: "exporting", Percent: 50})
	switch {
	case strings.HasPrefix(title, "ok"):
		for _, name := range []string{"data.json", "resources.zip"} {
			if err := f.write(ctx, out, id, name); err != nil {
				return sdk.ExportResult{}, err
			}
		}
		return sdk.ExportResult{Status: sdk.StatusExported}, nil
	case strings.HasPrefix(title, "partial"):
		if err := f.write(ctx, out, id, "data.json"); err != nil {
			return sdk.ExportResult{}, err
		}
		return sdk.ExportResult{Status: sdk.StatusPartial, Reason: "exported as JSON; the layer does not allow File Geodatabase export", Warnings: []string{"no attachments"}}, nil
	case strings.HasPrefix(title, "fail"):
		return sdk.ExportResult{}, sdk.Permanent("export is turned off for this layer")
	case strings.HasPrefix(title, "panic"):
		panic("fake exporter: panicking on purpose")
	case strings.HasPrefix(title, "flaky"):
		// Write one artifact first, so a retry has something to replace.
		if err := f.write(ctx, out, id, fmt.Sprintf("attempt%d.json", n)); err != nil {
			return sdk.ExportResult{}, err
		}
		if n <= f.flakes {
			return sdk.ExportResult{}, sdk.Retryable("503 Service Unavailable")
		}
		return sdk.ExportResult{Status: sdk.StatusExported}, nil
	case strings.HasPrefix(title, "slow"):
		if err := f.write(ctx, out, id, "data.json"); err != nil {
			return sdk.ExportResult{}, err
		}
		if f.started != nil {
			f.started <- id
		}
		select {
		case <-ctx.Done():
			return sdk.ExportResult{}, ctx.Err()
		case <-f.release:
		}
		return sdk.ExportResult{Status: sdk.StatusExported}, nil
	case strings.HasPrefix(title, "deferred"):
		if !req.Resume {
			return sdk.ExportResult{Status: sdk.StatusDeferred, Reason: "job still running"}, nil
		}
		if err := f.write(ctx, out, id, "data.json"); err != nil {
			return sdk.ExportResult{}, err
		}
		return sdk.ExportResult{Status: sdk.StatusExported}, nil
	case strings.HasPrefix(title, "truncated"):
		err := out.Write(ctx, sdk.Artifact{Name: "data.json", Size: 5000}, bytes.NewReader(content(id, "data.json", 100)))
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{}, fmt.Errorf("fake exporter: unknown title %q", title)
}

// badSink is a local sink whose Puts fail after reading part of the body.
type badSink struct {
	sdk.Sink
	kind      sdk.ErrorKind
	preflight error
	puts      atomic.Int32
	// failFirst > 0 fails only the first failFirst Puts.
	failFirst int32
}

func (b *badSink) Preflight(ctx context.Context) error {
	if b.preflight != nil {
		return b.preflight
	}
	return b.Sink.Preflight(ctx)
}

func (b *badSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	n := b.puts.Add(1)
	if b.failFirst > 0 && n > b.failFirst {
		return b.Sink.Put(ctx, req)
	}
	io.CopyN(io.Discard, req.Body, 10)
	return sdk.PutResponse{}, &sdk.Error{Kind: b.kind, Err: fmt.Errorf("disk on fire")}
}

// localSink is a sink over the folder dir (sinktest.DirSink, not the local
// sink plugin: core never imports plugins), reporting the path budget the
// local sink reports for the same folder, so the engine shortens names as
// it would there.
func localSink(t testing.TB, dir string) (sdk.Sink, sdk.SinkFeatures) {
	t.Helper()
	s := sinktest.NewDirSink(dir)
	if abs, err := filepath.Abs(dir); err == nil {
		s.MaxPathLength = localMaxPath - len(abs) - 1
	}
	resp, diags := s.Configure(context.Background(), sdk.ConfigureRequest{})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	t.Cleanup(func() { s.Close() })
	return s, resp.Features
}

// localMaxPath is the local sink's limit on a whole path (see
// plugins/sinks/local), which its features turn into a budget per folder.
const localMaxPath = 240

func sinkBlock(name string, required bool) *pipeline.SinkBlock {
	return &pipeline.SinkBlock{Component: pipeline.Component{Type: "local", Name: name}, Required: required, Layout: "type"}
}

func testPipeline(retries int) *pipeline.Pipeline {
	return &pipeline.Pipeline{Filename: "nightly.hcl", Hash: "feedface",
		Source:    &pipeline.Component{Type: "fake", Name: "prod"},
		Run:       pipeline.Run{Prefix: "PROD", Concurrency: 3, Retries: retries},
		Sensitive: []string{"s3cr3t-password"}}
}

// noSleep makes retries instant and records their number.
func noSleep(count *atomic.Int32) func(context.Context, time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		if count != nil {
			count.Add(1)
		}
		return ctx.Err()
	}
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return fmt.Sprintf("%x", h)
}

type fakeNotifier struct {
	mu  sync.Mutex
	got []sdk.NotifyRequest
}

func (n *fakeNotifier) Info() sdk.Info     { return sdk.Info{Kind: sdk.KindNotifier, Name: "fake"} }
func (n *fakeNotifier) Schema() sdk.Schema { return sdk.Schema{} }
func (n *fakeNotifier) Configure(context.Context, sdk.ConfigureRequest) sdk.Diagnostics {
	return nil
}
func (n *fakeNotifier) Notify(ctx context.Context, req sdk.NotifyRequest) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, req)
	return nil
}
func (n *fakeNotifier) Close() error { return nil }

func notifierBlock(name string, on ...string) *pipeline.NotifierBlock {
	return &pipeline.NotifierBlock{Component: pipeline.Component{Type: "fake", Name: name}, On: on}
}
