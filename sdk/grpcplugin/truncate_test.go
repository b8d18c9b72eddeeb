package grpcplugin_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

// cutBody is a body that stops after n of its bytes with a bare
// io.ErrUnexpectedEOF, exactly as net/http's body does when the connection
// closes before the announced Content-Length. Its first n bytes are those
// of grpctest.Content(seed, ...).
// It offers only Read, as net/http's body does (a reader with WriteTo
// takes another road in the adapters; cutWriterTo covers that one).
func cutBody(seed string, n int64) io.Reader {
	return readOnly{io.MultiReader(io.LimitReader(grpctest.Content(seed, n), n), errAfter{io.ErrUnexpectedEOF})}
}

type readOnly struct{ r io.Reader }

func (r readOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

// cutWriterTo is cutBody as an io.WriterTo (io.MultiReader is one).
func cutWriterTo(seed string, n int64) io.Reader {
	return io.MultiReader(io.LimitReader(grpctest.Content(seed, n), n), errAfter{io.ErrUnexpectedEOF})
}

type errAfter struct{ err error }

func (e errAfter) Read([]byte) (int, error) { return 0, e.err }

// wantShortBody checks that err is a retryable failure caused by the cut,
// never a success (which would store the stub as the whole).
func wantShortBody(t *testing.T, hop string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: a body cut short went through as complete", hop)
		return
	}
	if sdk.KindOf(err) != sdk.KindRetryable {
		t.Errorf("%s: a cut body is %v (%v), want retryable so the engine tries the item again", hop, sdk.KindOf(err), err)
	}
}

// TestCutBodyFailsEveryHop: a body that ends in io.ErrUnexpectedEOF is an
// error, not an end, on each road bytes take between processes: the host
// to a sink (chunks and data channel), an exporter to the host (chunks and
// data channel), and a portal response from the source and through the
// host to an exporter. Cuts land on a chunk boundary, inside a chunk and
// before the first byte.
func TestCutBodyFailsEveryHop(t *testing.T) {
	ctx := context.Background()
	cuts := []int64{0, 17, grpcplugin.ChunkSize, 2*grpcplugin.ChunkSize + 5}
	for _, channel := range []bool{false, true} {
		// The chunk road: a host that offers no data channel at all (a
		// minimum size alone would still send bodies of unknown size on it).
		var d *grpcplugin.DataChannel
		if channel {
			d = hostChannel(t, 0)
		}
		road := map[bool]string{false: "chunks", true: "data channel"}[channel]

		mem := grpctest.NewMemSink()
		s := configuredSink(t, mem, d)
		for _, cut := range cuts {
			for i, size := range []int64{-1, 3 * grpcplugin.ChunkSize} {
				p := fmt.Sprintf("cut-%d-%d.bin", cut, size)
				body := cutBody("s", cut)
				if i == 1 {
					body = cutWriterTo("s", cut)
				}
				_, err := s.Put(ctx, sdk.PutRequest{Path: p, Size: size, Body: body})
				wantShortBody(t, "host -> sink ("+road+") "+p, err)
				if _, ok := mem.Object(p); ok {
					t.Fatalf("host -> sink (%s): %s was stored from a cut body", road, p)
				}
			}
		}

		e := grpctest.ExporterWithDataChannel(t, &cutExporter{}, d)
		for _, cut := range cuts {
			mem := grpctest.NewMemSink()
			_, err := e.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: "cut", Size: cut}}, &recordingHost{src: &grpctest.FakeSource{}}, &sinkWriter{sink: mem})
			wantShortBody(t, fmt.Sprintf("exporter -> host (%s), cut at %d", road, cut), err)
			if mem.Len() != 0 {
				t.Fatalf("exporter -> host (%s): a cut artifact was stored", road)
			}
		}
		if channel && d.Transfers() == 0 {
			t.Fatal("no cut body took the data channel")
		}
	}

	// Portal responses: source plugin -> host (Source.Do), and host ->
	// exporter plugin (Host.Portal, through the exporter's own reads).
	src := grpctest.Source(t, &cutSource{})
	for _, cut := range cuts {
		resp, err := src.Do(ctx, sdk.PortalRequest{Method: "GET", URL: fmt.Sprint(cut)})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantShortBody(t, fmt.Sprintf("source -> host, cut at %d (read %d bytes)", cut, len(got)), err)
	}
	e := grpctest.Exporter(t, &portalReadingExporter{})
	for _, cut := range cuts {
		_, err := e.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: fmt.Sprint(cut)}}, &recordingHost{src: &cutSource{}}, &sinkWriter{sink: grpctest.NewMemSink()})
		wantShortBody(t, fmt.Sprintf("host -> exporter portal response, cut at %d", cut), err)
		if err == nil || !strings.Contains(err.Error(), "before its announced end") {
			t.Fatalf("host -> exporter: the error does not say the body was cut: %v", err)
		}
	}
}

// cutExporter writes one artifact whose body is cut at the item's Size
// bytes, announcing more (as a download with a Content-Length would) or
// nothing.
type cutExporter struct{ grpctest.FakeExporter }

func (e *cutExporter) Export(ctx context.Context, req sdk.ExportRequest, _ sdk.Host, out sdk.ArtifactWriter) (sdk.ExportResult, error) {
	if err := out.Write(ctx, sdk.Artifact{Name: "data.bin", Size: -1}, cutBody("x", req.Item.Size)); err != nil {
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{Status: sdk.StatusExported}, nil
}

// cutSource answers every portal request with a body cut at the number in
// its URL.
type cutSource struct{ grpctest.FakeSource }

func (s *cutSource) Do(_ context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	var n int64
	fmt.Sscan(req.URL, &n)
	return &sdk.PortalResponse{StatusCode: 200, Header: map[string][]string{"Content-Length": {fmt.Sprint(n + 100)}}, Body: io.NopCloser(cutBody("p", n))}, nil
}

// portalReadingExporter downloads content/items/<id> through the host and
// fails with the read's error, as exportkit does.
type portalReadingExporter struct{ grpctest.FakeExporter }

func (e *portalReadingExporter) Export(ctx context.Context, req sdk.ExportRequest, host sdk.Host, _ sdk.ArtifactWriter) (sdk.ExportResult, error) {
	resp, err := host.Portal(ctx, sdk.PortalRequest{Method: "GET", URL: req.Item.ID})
	if err != nil {
		return sdk.ExportResult{}, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return sdk.ExportResult{}, err
	}
	return sdk.ExportResult{Status: sdk.StatusExported}, nil
}
