package grpcplugin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/zclconf/go-cty/cty"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// hostChannel is a host's data channel for Puts of at least min bytes,
// closed when the test ends.
func hostChannel(t *testing.T, min int64) *grpcplugin.DataChannel {
	t.Helper()
	d := grpcplugin.NewDataChannel(min)
	if d == nil {
		t.Fatalf("no data channel (%s=off in the environment?)", grpcplugin.DataChannelEnv)
	}
	t.Cleanup(d.Close)
	return d
}

// configuredSink is a sink over gRPC, offered the data channel d, that
// went through Configure, where the server announces that it reads from
// the data channel.
func configuredSink(t *testing.T, impl sdk.Sink, d *grpcplugin.DataChannel) sdk.Sink {
	t.Helper()
	s := grpctest.SinkWithDataChannel(t, impl, d)
	if _, diags := s.Configure(context.Background(), sdk.ConfigureRequest{Config: sinkConfig("x")}); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	return s
}

// transfers runs fn and returns how many transfers took the data channel d.
func transfers(d *grpcplugin.DataChannel, fn func()) int64 {
	before := d.Transfers()
	fn()
	return d.Transfers() - before
}

func TestDataChannelPutRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int64
		announce int64
	}{
		{"one byte", 1, 1},
		{"several chunks", 3*grpcplugin.ChunkSize + 5, 3*grpcplugin.ChunkSize + 5},
		{"unknown size", 2*grpcplugin.ChunkSize + 9, -1},
		{"empty", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := &digestSink{MemSink: grpctest.NewMemSink()}
			d := hostChannel(t, 0)
			s := configuredSink(t, mem, d)
			content, _ := io.ReadAll(grpctest.Content(tc.name, tc.size))
			var put sdk.PutResponse
			var err error
			n := transfers(d, func() {
				put, err = s.Put(context.Background(), sdk.PutRequest{Path: "run/o.bin", Size: tc.announce, Body: bytes.NewReader(content)})
			})
			if err != nil || put.Size != tc.size {
				t.Fatalf("put: %v %+v", err, put)
			}
			if n != 1 {
				t.Fatalf("%d transfers took the data channel, want 1", n)
			}
			got, ok := mem.Object("run/o.bin")
			if !ok || !bytes.Equal(got, content) {
				t.Fatalf("stored %v, %d bytes, want %d identical", ok, len(got), len(content))
			}
			want := sha256.Sum256(content)
			if !bytes.Equal(mem.sum, want[:]) {
				t.Fatalf("the sink recorded sha256 %x, want %x", mem.sum, want)
			}
		})
	}
}

// TestDataChannelOnlyForLargeObjects: below DataChannelMin the bytes stay
// on the gRPC stream; unknown sizes take the channel.
func TestDataChannelOnlyForLargeObjects(t *testing.T) {
	d := hostChannel(t, 1<<20)
	s := configuredSink(t, grpctest.NewMemSink(), d)
	put := func(announce int64) int64 {
		return transfers(d, func() {
			if _, err := s.Put(context.Background(), sdk.PutRequest{Path: "o", Size: announce, Body: grpctest.Content("x", 10)}); err != nil && announce >= 0 {
				t.Fatal(err)
			}
		})
	}
	if n := put(10); n != 0 {
		t.Fatalf("a 10-byte object took the data channel (%d)", n)
	}
	// Announcing 2 MiB and sending 10 bytes takes the channel; the engine
	// (not the Put client) checks announced sizes, so this is stored.
	if n := put(2 << 20); n != 1 {
		t.Fatalf("a 2 MiB object did not take the data channel (%d)", n)
	}
	if n := put(-1); n != 1 {
		t.Fatalf("an object of unknown size did not take the data channel (%d)", n)
	}
}

func TestDataChannelPutBrokenOrCancelledLeavesNothing(t *testing.T) {
	mem := grpctest.NewMemSink()
	s := configuredSink(t, mem, hostChannel(t, 0))
	bodyErr := sdk.Retryable("download of item abc broke")
	_, err := s.Put(context.Background(), sdk.PutRequest{Path: "broken.bin", Size: -1, Body: &failingReader{r: grpctest.Content("b", 2*grpcplugin.ChunkSize+7), err: bodyErr}})
	if !errors.Is(err, bodyErr) {
		t.Fatalf("Put returned %v, want the body's own error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.CopyN(pw, grpctest.Content("c", 1<<20), 1<<20)
		cancel() // the run is interrupted mid-upload
		time.Sleep(50 * time.Millisecond)
		_ = pw.CloseWithError(context.Canceled)
	}()
	if _, err := s.Put(ctx, sdk.PutRequest{Path: "cancelled.bin", Size: 10 << 20, Body: pr}); err == nil {
		t.Fatal("cancelled Put succeeded")
	}
	time.Sleep(100 * time.Millisecond) // let the server side finish its Put
	for _, p := range []string{"broken.bin", "cancelled.bin"} {
		if _, ok := mem.Object(p); ok {
			t.Fatalf("%s: a Put that did not end well left an object behind", p)
		}
	}
	// The channel is still good for the next object.
	if _, err := s.Put(context.Background(), sdk.PutRequest{Path: "next.bin", Size: 5, Body: strings.NewReader("after")}); err != nil {
		t.Fatal(err)
	}
}

// quittingSink reads part of a body and fails, like a bucket that refuses
// the upload half-way.
type quittingSink struct {
	*grpctest.MemSink
	after int64
}

func (s *quittingSink) Put(_ context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	if _, err := io.CopyN(io.Discard, req.Body, s.after); err != nil {
		return sdk.PutResponse{}, err
	}
	return sdk.PutResponse{}, sdk.Auth("sink s3: the session token expired while writing %s", req.Path)
}

// TestDataChannelSinkQuitsMidway: the host is blocked writing into the
// channel when the sink gives up; it must come back with the sink's error,
// not hang and not report a broken pipe.
func TestDataChannelSinkQuitsMidway(t *testing.T) {
	s := configuredSink(t, &quittingSink{MemSink: grpctest.NewMemSink(), after: 1 << 20}, hostChannel(t, 0))
	done := make(chan error, 1)
	go func() {
		_, err := s.Put(context.Background(), sdk.PutRequest{Path: "big.bin", Size: 64 << 20, Body: grpctest.Content("q", 64<<20)})
		done <- err
	}()
	select {
	case err := <-done:
		if sdk.KindOf(err) != sdk.KindAuth || !strings.Contains(err.Error(), "session token expired while writing big.bin") {
			t.Fatalf("Put returned %v, want the sink's auth error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Put hung after the sink gave up")
	}
}

// TestDataChannelFallsBackToChunks: a plugin that cannot reach the host's
// data channel gets the object in chunks, and the client stops offering it.
func TestDataChannelFallsBackToChunks(t *testing.T) {
	mem := grpctest.NewMemSink()
	d := hostChannel(t, 0)
	s := configuredSink(t, mem, d)
	restore := d.BreakAddress()
	defer restore()
	content, _ := io.ReadAll(grpctest.Content("f", 3*grpcplugin.ChunkSize))
	n := transfers(d, func() {
		if _, err := s.Put(context.Background(), sdk.PutRequest{Path: "f.bin", Size: int64(len(content)), Body: bytes.NewReader(content)}); err != nil {
			t.Fatal(err)
		}
	})
	if got, _ := mem.Object("f.bin"); n != 0 || !bytes.Equal(got, content) {
		t.Fatalf("fallback: %d data channel transfers, %d bytes stored of %d", n, len(got), len(content))
	}
	// The server refused the channel before calling the sink, so the sink
	// itself saw one Put: the one in chunks.
	if mem.Puts != 1 {
		t.Fatalf("the sink saw %d Puts, want 1", mem.Puts)
	}
}

func TestDataChannelExporter(t *testing.T) {
	ctx := context.Background()
	d := hostChannel(t, 0)
	e := grpctest.ExporterWithDataChannel(t, &grpctest.FakeExporter{}, d)
	if d := e.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"crash_on": cty.NullVal(cty.String)})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	mem := grpctest.NewMemSink()
	host := &recordingHost{src: &grpctest.FakeSource{}}
	item := sdk.Item{ID: "abc", Size: 5*grpcplugin.ChunkSize + 3, URL: "content/items/abc/data"}
	var res sdk.ExportResult
	var err error
	n := transfers(d, func() {
		res, err = e.Export(ctx, sdk.ExportRequest{Item: item}, host, &sinkWriter{sink: mem, prefix: "abc/"})
	})
	if err != nil || res.Status != sdk.StatusExported {
		t.Fatalf("export: %v %+v", err, res)
	}
	if n != 2 { // data.bin, and portal.json: of unknown size, which always takes it
		t.Fatalf("%d artifacts took the data channel, want 2", n)
	}
	want, _ := io.ReadAll(grpctest.Content("abc", item.Size))
	if got, _ := mem.Object("abc/data.bin"); !bytes.Equal(got, want) {
		t.Fatalf("data.bin: %d bytes stored, want %d identical", len(got), len(want))
	}
	if portal, _ := mem.Object("abc/portal.json"); !strings.Contains(string(portal), `"url":"content/items/abc/data"`) {
		t.Fatalf("portal.json: %s", portal)
	}

	// The host stops reading after 10 bytes (the sink failed): the plugin's
	// Write gets the sink's error, and the export stream stays in step.
	_, err = e.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: "def", Size: 8 << 20}}, host, &sinkWriter{sink: mem, failOn: "data.bin"})
	if sdk.KindOf(err) != sdk.KindRetryable || !strings.Contains(err.Error(), "disk full while writing data.bin") {
		t.Fatalf("the sink's error did not reach the exporter's Write and back: %v", err)
	}
	if _, err := e.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: "ghi", Size: 10}}, host, &sinkWriter{sink: mem}); err != nil {
		t.Fatalf("next export: %v", err)
	}
	if got, _ := mem.Object("data.bin"); int64(len(got)) != 10 {
		t.Fatalf("next export stored %d bytes, want 10", len(got))
	}
}

// failingExporter's artifact breaks half-way, like a download that drops.
type failingExporter struct{ grpctest.FakeExporter }

func (e *failingExporter) Export(ctx context.Context, req sdk.ExportRequest, _ sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	body := &failingReader{r: grpctest.Content("x", 3<<20), err: sdk.Retryable("replica download of %s broke", req.Item.ID)}
	if err := out.Write(ctx, sdk.Artifact{Name: "data.bin", Size: 6 << 20}, body); err != nil {
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{Status: sdk.StatusExported}, nil
}

func TestDataChannelExporterBodyFails(t *testing.T) {
	e := grpctest.ExporterWithDataChannel(t, &failingExporter{}, hostChannel(t, 0))
	mem := grpctest.NewMemSink()
	_, err := e.Export(context.Background(), sdk.ExportRequest{Item: sdk.Item{ID: "xyz"}}, &recordingHost{src: &grpctest.FakeSource{}}, &sinkWriter{sink: mem})
	if sdk.KindOf(err) != sdk.KindRetryable || !strings.Contains(err.Error(), "replica download of xyz broke") {
		t.Fatalf("export returned %v, want the body's retryable error", err)
	}
	if mem.Len() != 0 {
		t.Fatal("a broken artifact was stored")
	}
}

// fileExporter sends a file as its artifact (the kernel copies it to the
// data channel: sendfile on Linux) and reports what its Write returned.
type fileExporter struct {
	grpctest.FakeExporter
	path     string
	writeErr chan error
}

func (e *fileExporter) Export(ctx context.Context, _ sdk.ExportRequest, _ sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	f, err := os.Open(e.path)
	if err != nil {
		return sdk.ExportResult{}, err
	}
	defer f.Close()
	fi, _ := f.Stat()
	err = out.Write(ctx, sdk.Artifact{Name: "data.bin", Size: fi.Size()}, f)
	e.writeErr <- err
	if err != nil {
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{Status: sdk.StatusExported}, nil
}

// TestDataChannelExporterFileBody: a file body arrives whole, and when the
// host stops reading it half-way the plugin's Write gets the sinks' error
// (from the ack), not the broken pipe of its own copy.
func TestDataChannelExporterFileBody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.zip")
	content, _ := io.ReadAll(grpctest.Content("file", 8<<20))
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	impl := &fileExporter{path: path, writeErr: make(chan error, 2)}
	e := grpctest.ExporterWithDataChannel(t, impl, hostChannel(t, 0))
	host := &recordingHost{src: &grpctest.FakeSource{}}

	mem := grpctest.NewMemSink()
	if _, err := e.Export(context.Background(), sdk.ExportRequest{Item: sdk.Item{ID: "f1"}}, host, &sinkWriter{sink: mem}); err != nil {
		t.Fatal(err)
	}
	if got, _ := mem.Object("data.bin"); !bytes.Equal(got, content) {
		t.Fatalf("stored %d bytes, want the file's %d", len(got), len(content))
	}
	<-impl.writeErr

	_, err := e.Export(context.Background(), sdk.ExportRequest{Item: sdk.Item{ID: "f2"}}, host, &sinkWriter{sink: mem, failOn: "data.bin"})
	if !strings.Contains(fmt.Sprint(err), "disk full while writing data.bin") {
		t.Fatalf("host saw %v, want the sink's error", err)
	}
	if werr := <-impl.writeErr; sdk.KindOf(werr) != sdk.KindRetryable || !strings.Contains(werr.Error(), "disk full while writing data.bin") {
		t.Fatalf("the plugin's Write returned %v, want the sinks' retryable error from the ack", werr)
	}
}

// refusingSinkPlugin serves a sink whose server answers a Put that is
// offered the data channel with refusal, before connecting to it, as a
// plugin written against the protocol alone may; every other call, and
// every Put in chunks, goes to the real SinkServer.
type refusingSinkPlugin struct {
	grpcplugin.SinkPlugin
	refusal error
	refused atomic.Int32
}

func (p *refusingSinkPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterSinkServiceServer(s, &refusingSinkServer{SinkServer: &grpcplugin.SinkServer{Impl: p.Impl}, p: p})
	return nil
}

type refusingSinkServer struct {
	*grpcplugin.SinkServer
	p *refusingSinkPlugin
}

func (s *refusingSinkServer) Put(stream pluginv1.SinkService_PutServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if len(first.GetHeader().GetDataToken()) > 0 {
		s.p.refused.Add(1)
		return s.p.refusal
	}
	return s.SinkServer.Put(&replayedPut{SinkService_PutServer: stream, first: first})
}

// replayedPut hands the header the refusing server already read to the
// real server's Put.
type replayedPut struct {
	pluginv1.SinkService_PutServer
	first *pluginv1.PutRequest
}

func (r *replayedPut) Recv() (*pluginv1.PutRequest, error) {
	if m := r.first; m != nil {
		r.first = nil
		return m, nil
	}
	return r.SinkService_PutServer.Recv()
}

// refusal is a sink server's error as it travels: a gRPC status with the
// protocol's ErrorDetail.
func refusal(t *testing.T, code codes.Code, msg string, d *pluginv1.ErrorDetail) error {
	t.Helper()
	st, err := status.New(code, msg).WithDetails(d)
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

// TestDataChannelFallbackIsTyped: the host sends an object again in chunks
// only when the sink's answer carries the reason that says it could not
// reach the data channel (REASON_NO_DATA_CHANNEL), whatever its text; any
// other answer before the channel connected is the Put's own error, even
// one whose text reads like the old fallback message.
func TestDataChannelFallbackIsTyped(t *testing.T) {
	retryable := pluginv1.ErrorDetail_KIND_RETRYABLE
	for _, tc := range []struct {
		name     string
		refusal  func(t *testing.T) error
		fallBack bool
		reason   sdk.Reason
	}{
		{"typed reason, any text", func(t *testing.T) error {
			return refusal(t, codes.Unavailable, "the socket folder is outside this plugin's sandbox",
				&pluginv1.ErrorDetail{Kind: retryable, Reason: pluginv1.ErrorDetail_REASON_NO_DATA_CHANNEL})
		}, true, sdk.ReasonNoDataChannel},
		{"the old text without the reason", func(t *testing.T) error {
			return refusal(t, codes.Unavailable, "data channel unavailable: the bucket's session expired",
				&pluginv1.ErrorDetail{Kind: retryable})
		}, false, sdk.ReasonNone},
		{"another reason", func(t *testing.T) error {
			return refusal(t, codes.FailedPrecondition, "sink: quota of the share reached",
				&pluginv1.ErrorDetail{Kind: pluginv1.ErrorDetail_KIND_PERMANENT, Reason: pluginv1.ErrorDetail_REASON_NO_SPACE})
		}, false, sdk.ReasonNoSpace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := grpctest.NewMemSink()
			d := hostChannel(t, 0)
			p := &refusingSinkPlugin{SinkPlugin: grpcplugin.SinkPlugin{Impl: mem, Data: d}, refusal: tc.refusal(t)}
			client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{"sink": p})
			t.Cleanup(func() { _ = client.Close() })
			raw, err := client.Dispense("sink")
			if err != nil {
				t.Fatal(err)
			}
			s := raw.(sdk.Sink)
			if _, diags := s.Configure(context.Background(), sdk.ConfigureRequest{Config: sinkConfig("x")}); diags.HasErrors() {
				t.Fatal(diags.Err())
			}
			content, _ := io.ReadAll(grpctest.Content("t", 2*grpcplugin.ChunkSize+3))
			put := func(path string) error {
				_, err := s.Put(context.Background(), sdk.PutRequest{Path: path, Size: int64(len(content)), Body: bytes.NewReader(content)})
				return err
			}
			err = put("a.bin")
			got, stored := mem.Object("a.bin")
			if !tc.fallBack {
				if err == nil || stored || mem.Puts != 0 {
					t.Fatalf("Put returned %v, stored %v, the sink saw %d Puts: want the sink's error and no fallback to chunks", err, stored, mem.Puts)
				}
				if sdk.ReasonOf(err) != tc.reason {
					t.Fatalf("Put's error has reason %v, want %v: %v", sdk.ReasonOf(err), tc.reason, err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, content) || mem.Puts != 1 {
				t.Fatalf("Put returned %v, stored %d of %d bytes, the sink saw %d Puts: want the object sent again in chunks", err, len(got), len(content), mem.Puts)
			}
			// The host no longer offers this sink the channel.
			if err := put("b.bin"); err != nil || p.refused.Load() != 1 || d.Transfers() != 0 {
				t.Fatalf("second Put: %v; the sink refused the channel %d times, %d transfers took it; want 1 and 0", err, p.refused.Load(), d.Transfers())
			}
		})
	}
}
