package grpcplugin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	"github.com/zclconf/go-cty/cty"
)

func sinkConfig(token string) cty.Value {
	return cty.ObjectVal(map[string]cty.Value{"root": cty.StringVal("r"), "token": cty.StringVal(token)})
}

func TestSinkRoundTrip(t *testing.T) {
	ctx := context.Background()
	mem := grpctest.NewMemSink()
	s := grpctest.Sink(t, mem)
	if s.Info().Name != "fake" || len(s.Schema().Attributes) != 2 || !s.Schema().Attributes[1].Sensitive {
		t.Fatalf("describe did not survive the wire: %+v %+v", s.Info(), s.Schema())
	}
	resp, diags := s.Configure(ctx, sdk.ConfigureRequest{Config: sinkConfig("s3cr3t")})
	if diags.HasErrors() || resp.Features.Location != "memory:r" || !resp.Features.RangeGet {
		t.Fatalf("configure: %v %+v", diags.Err(), resp)
	}
	// Larger than several chunks and not a multiple of the chunk size.
	size := int64(3*grpcplugin.ChunkSize + 12345)
	want, _ := io.ReadAll(grpctest.Content("a", size))
	put, err := s.Put(ctx, sdk.PutRequest{Path: "run/a.bin", Size: size, Body: grpctest.Content("a", size)})
	if err != nil || put.Size != size {
		t.Fatalf("put: %v %+v", err, put)
	}
	got, _ := mem.Object("run/a.bin")
	if !bytes.Equal(got, want) {
		t.Fatalf("stored %d bytes, differ from the %d sent", len(got), len(want))
	}
	st, err := s.Stat(ctx, "run/a.bin")
	if err != nil || st.Size != size || st.Modified.IsZero() {
		t.Fatalf("stat: %v %+v", err, st)
	}
	for _, tc := range []struct {
		name           string
		offset, length int64
		want           []byte
	}{
		{"whole", 0, 0, want},
		{"range", 10, 100, want[10:110]},
		{"tail", size - 5, 0, want[size-5:]},
	} {
		t.Run("get/"+tc.name, func(t *testing.T) {
			rc, err := s.Get(ctx, sdk.GetRequest{Path: "run/a.bin", Offset: tc.offset, Length: tc.length})
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(b, tc.want) {
				t.Fatalf("get: %v, %d bytes, want %d", err, len(b), len(tc.want))
			}
		})
	}
	for i := 0; i < 300; i++ { // more than one List batch
		if _, err := s.Put(ctx, sdk.PutRequest{Path: fmt.Sprintf("run/many/%03d", i), Size: 1, Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	if err := s.List(ctx, sdk.ListRequest{Prefix: "run/many/"}, func(o sdk.ObjectInfo) error { seen[o.Path]++; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 300 {
		t.Fatalf("listed %d objects, want 300", len(seen))
	}
	for p, n := range seen {
		if n != 1 {
			t.Fatalf("%s listed %d times", p, n)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := s.List(ctx, sdk.ListRequest{Prefix: "run/"}, func(sdk.ObjectInfo) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List must stop at fn's error: %v after %d", err, n)
	}
	if err := s.Delete(ctx, "run/a.bin"); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"get":    func() error { _, err := s.Get(ctx, sdk.GetRequest{Path: "run/a.bin"}); return err },
		"stat":   func() error { _, err := s.Stat(ctx, "run/a.bin"); return err },
		"delete": func() error { return s.Delete(ctx, "run/a.bin") },
	} {
		if err := call(); !sdk.IsNotFound(err) || !strings.Contains(err.Error(), "run/a.bin") {
			t.Errorf("%s of a missing object: %v, want a not-found error naming it", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestSinkConfigureDiagnostics(t *testing.T) {
	s := grpctest.Sink(t, grpctest.NewMemSink())
	_, diags := s.Configure(context.Background(), sdk.ConfigureRequest{Config: sinkConfig("bad")})
	if !diags.HasErrors() || len(diags) != 1 || strings.Join(diags[0].Path, ".") != "token" || diags[0].Summary != "Token rejected" {
		t.Fatalf("diagnostics lost their path or text: %+v", diags)
	}
	// Marked values (the parser marks sensitive ones) still travel.
	_, diags = s.Configure(context.Background(), sdk.ConfigureRequest{Config: sinkConfig("ok").Mark("sensitive")})
	if diags.HasErrors() {
		t.Fatalf("marked config: %v", diags.Err())
	}
}

// failingReader fails after n bytes, like an export whose download breaks.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestPutBrokenBodyLeavesNothing(t *testing.T) {
	ctx := context.Background()
	mem := grpctest.NewMemSink()
	s := grpctest.Sink(t, mem)
	bodyErr := sdk.Retryable("download of item abc broke")
	_, err := s.Put(ctx, sdk.PutRequest{Path: "broken.bin", Size: -1, Body: &failingReader{r: grpctest.Content("b", 2*grpcplugin.ChunkSize+7), err: bodyErr}})
	if !errors.Is(err, bodyErr) {
		t.Fatalf("Put returned %v, want the body's own error", err)
	}
	waitFor(t, func() bool { mem.Len(); return true })
	if _, ok := mem.Object("broken.bin"); ok {
		t.Fatal("a Put whose body failed left an object behind")
	}
}

func TestPutCancelledLeavesNothing(t *testing.T) {
	mem := grpctest.NewMemSink()
	s := grpctest.Sink(t, mem)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.CopyN(pw, grpctest.Content("c", 1<<20), 1<<20)
		cancel() // the run is interrupted mid-upload
		time.Sleep(50 * time.Millisecond)
		_ = pw.CloseWithError(context.Canceled)
	}()
	_, err := s.Put(ctx, sdk.PutRequest{Path: "cancelled.bin", Size: 10 << 20, Body: pr})
	if err == nil {
		t.Fatal("cancelled Put succeeded")
	}
	time.Sleep(100 * time.Millisecond) // let the server side finish its Put
	if _, ok := mem.Object("cancelled.bin"); ok {
		t.Fatal("a cancelled Put left an object behind")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestErrorsKeepKindMessageAndRetryAfter(t *testing.T) {
	s := grpctest.Sink(t, grpctest.NewMemSink())
	_, err := s.Put(context.Background(), sdk.PutRequest{Path: "x/throttle", Size: 1, Body: strings.NewReader("x")})
	if sdk.KindOf(err) != sdk.KindRetryable || sdk.RetryAfterOf(err) != 7*time.Second || !strings.Contains(err.Error(), "throttled storing x/throttle") {
		t.Fatalf("got %v (kind %v, retry after %v)", err, sdk.KindOf(err), sdk.RetryAfterOf(err))
	}
}

// kindSink returns, from Stat, an error of the kind named by the path.
type kindSink struct{ *grpctest.MemSink }

func (k kindSink) Stat(_ context.Context, path string) (sdk.ObjectInfo, error) {
	switch path {
	case "retryable":
		return sdk.ObjectInfo{}, sdk.Retryable("busy")
	case "auth":
		return sdk.ObjectInfo{}, sdk.Auth("key expired")
	case "notfound":
		return sdk.ObjectInfo{}, sdk.NotFound("gone")
	case "canceled":
		return sdk.ObjectInfo{}, context.Canceled
	case "exhausted":
		spent := &sdk.Error{Kind: sdk.KindRetryable, Err: errors.New("503 (after 6 attempts)"), Reason: sdk.ReasonThrottled, Exhausted: true}
		return sdk.ObjectInfo{}, fmt.Errorf("stat: %w", spent)
	}
	var r int
	if _, err := fmt.Sscanf(path, "reason-%d", &r); err == nil {
		// A reason under a wrapper that re-classifies it, as a plugin's
		// own "where" wrappers do.
		inner := sdk.WithReason(sdk.KindRetryable, sdk.Reason(r), errors.New("the cause"))
		return sdk.ObjectInfo{}, &sdk.Error{Kind: sdk.KindPermanent, Err: fmt.Errorf("stat %s: %w", path, inner)}
	}
	return sdk.ObjectInfo{}, errors.New("disk on fire")
}

// TestReasonsRoundTrip: every reason crosses the plugin boundary, under a
// wrapper that re-classifies the error, with its kind and message.
func TestReasonsRoundTrip(t *testing.T) {
	s := grpctest.Sink(t, kindSink{grpctest.NewMemSink()})
	n := 0
	for r := sdk.ReasonNone + 1; r.String() != ""; r++ {
		n++
		_, err := s.Stat(context.Background(), fmt.Sprintf("reason-%d", r))
		if got := sdk.ReasonOf(err); got != r {
			t.Errorf("reason %v arrived as %v (%v)", r, got, err)
		}
		if sdk.KindOf(err) != sdk.KindPermanent || !strings.Contains(err.Error(), "the cause") {
			t.Errorf("reason %v: kind %v, message %q", r, sdk.KindOf(err), err)
		}
	}
	if n < 4 {
		t.Errorf("only %d reasons known", n)
	}
	if _, err := s.Stat(context.Background(), "retryable"); sdk.ReasonOf(err) != sdk.ReasonNone || sdk.IsExhausted(err) {
		t.Errorf("an error without a reason arrived with %v (exhausted %v)", sdk.ReasonOf(err), sdk.IsExhausted(err))
	}
	// A retry budget spent in the plugin is not spent again by the host.
	if _, err := s.Stat(context.Background(), "exhausted"); !sdk.IsExhausted(err) || sdk.KindOf(err) != sdk.KindRetryable || sdk.ReasonOf(err) != sdk.ReasonThrottled {
		t.Errorf("exhausted error arrived as %v (kind %v, reason %v, exhausted %v)", err, sdk.KindOf(err), sdk.ReasonOf(err), sdk.IsExhausted(err))
	}
}

func TestErrorKindsTable(t *testing.T) {
	s := grpctest.Sink(t, kindSink{grpctest.NewMemSink()})
	for _, tc := range []struct {
		path string
		kind sdk.ErrorKind
	}{
		{"retryable", sdk.KindRetryable},
		{"auth", sdk.KindAuth},
		{"notfound", sdk.KindNotFound},
		{"canceled", sdk.KindCanceled},
		{"other", sdk.KindPermanent},
	} {
		_, err := s.Stat(context.Background(), tc.path)
		if sdk.KindOf(err) != tc.kind {
			t.Errorf("%s: kind %v, want %v (%v)", tc.path, sdk.KindOf(err), tc.kind, err)
		}
		if tc.kind == sdk.KindCanceled && !errors.Is(err, context.Canceled) {
			t.Errorf("canceled error does not match context.Canceled: %v", err)
		}
		if errors.Is(err, grpcplugin.ErrUnreachable) {
			t.Errorf("%s: a component's own error must not look like a dead plugin", tc.path)
		}
	}
}

func TestSourceRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := grpctest.Source(t, &grpctest.FakeSource{})
	diags := s.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"items": cty.NumberIntVal(250), "password": cty.StringVal("pw")})})
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	org, err := s.Connect(ctx)
	if err != nil || org.OrgName != "Fake Org" || !org.IsAdmin || org.ItemCount != 250 {
		t.Fatalf("connect: %v %+v", err, org)
	}
	var items []sdk.ListedItem
	if err := s.ListItems(ctx, sdk.ListItemsRequest{Since: time.Now().Add(-time.Hour)}, func(it sdk.ListedItem) error { items = append(items, it); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(items) != 250 || items[249].Item.ID != "item-0249" || !items[9].Excluded || items[9].Reason == "" {
		t.Fatalf("listed %d items, last %+v", len(items), items[len(items)-1])
	}
	first := items[0].Item
	if !first.Created.Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) || string(first.Raw) != `{"id":"item-0000"}` || first.Size != 100 {
		t.Fatalf("item fields lost: %+v", first)
	}
	resp, err := s.Do(ctx, sdk.PortalRequest{Method: "GET", URL: "content/items/x", Query: map[string][]string{"q": {"owner:me"}}, Offset: 5})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var echo map[string]any
	_ = json.Unmarshal(body, &echo)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || echo["url"] != "content/items/x" || echo["q"] != "owner:me" || echo["offset"] != float64(5) {
		t.Fatalf("portal response: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if _, err := s.Do(ctx, sdk.PortalRequest{URL: "missing"}); !sdk.IsNotFound(err) {
		t.Fatalf("missing portal item: %v", err)
	}
}

// recordingHost is the host side of an export: it answers portal requests
// from a source and records progress and log lines.
type recordingHost struct {
	src sdk.Source
	mu  sync.Mutex
	log []string
}

func (h *recordingHost) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	return h.src.Do(ctx, req)
}

func (h *recordingHost) Progress(_ context.Context, p sdk.Progress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log = append(h.log, fmt.Sprintf("progress %s %s %.0f", p.ItemID, p.Stage, p.Percent))
}

func (h *recordingHost) Log(_ context.Context, level sdk.LogLevel, msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.log = append(h.log, string(level)+" "+msg)
}

// sinkWriter is the host's ArtifactWriter: it stores each artifact in a sink.
type sinkWriter struct {
	sink   sdk.Sink
	prefix string
	failOn string
}

func (w *sinkWriter) Write(ctx context.Context, a sdk.Artifact, body io.Reader) error {
	if a.Name == w.failOn {
		// Read a little, then fail like a sink whose disk filled up.
		_, _ = io.CopyN(io.Discard, body, 10)
		return sdk.Retryable("sink nas: disk full while writing %s", a.Name)
	}
	_, err := w.sink.Put(ctx, sdk.PutRequest{Path: w.prefix + a.Name, MediaType: a.MediaType, Size: a.Size, Body: body})
	return err
}

func TestExporterRoundTripWithHostThroughBroker(t *testing.T) {
	ctx := context.Background()
	e := grpctest.Exporter(t, &grpctest.FakeExporter{})
	if got := e.ItemTypes(); len(got) != 1 || got[0] != "Feature Service" {
		t.Fatalf("item types: %v", got)
	}
	if d := e.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"crash_on": cty.NullVal(cty.String)})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	mem := grpctest.NewMemSink()
	host := &recordingHost{src: &grpctest.FakeSource{}}
	item := sdk.Item{ID: "abc", Title: "Parcels", Size: 5*grpcplugin.ChunkSize + 3, URL: "content/items/abc/data"}
	res, err := e.Export(ctx, sdk.ExportRequest{Item: item, RunID: "run1", Resume: true, Timeout: 90 * time.Minute, Format: "File Geodatabase"}, host, &sinkWriter{sink: mem, prefix: "abc/"})
	if err != nil || res.Status != sdk.StatusExported {
		t.Fatalf("export: %v %+v", err, res)
	}
	want, _ := io.ReadAll(grpctest.Content("abc", item.Size))
	if got, _ := mem.Object("abc/data.bin"); !bytes.Equal(got, want) {
		t.Fatalf("data.bin: %d bytes stored, want %d identical", len(got), len(want))
	}
	portal, _ := mem.Object("abc/portal.json")
	if !strings.Contains(string(portal), `"url":"content/items/abc/data"`) {
		t.Fatalf("portal.json did not come through the host: %s", portal)
	}
	joined := strings.Join(host.log, "\n")
	for _, want := range []string{"progress abc exporting 0", "info exporting abc run1 resume=true timeout=1h30m0s format=File Geodatabase", "progress abc done 100"} {
		if !strings.Contains(joined, want) {
			t.Errorf("host did not receive %q; got:\n%s", want, joined)
		}
	}
}

func TestExporterSeesSinkErrorAndHostSeesBodyError(t *testing.T) {
	ctx := context.Background()
	e := grpctest.Exporter(t, &grpctest.FakeExporter{})
	host := &recordingHost{src: &grpctest.FakeSource{}}
	mem := grpctest.NewMemSink()
	item := sdk.Item{ID: "def", Size: 3 * grpcplugin.ChunkSize, URL: "u"}
	_, err := e.Export(ctx, sdk.ExportRequest{Item: item}, host, &sinkWriter{sink: mem, failOn: "data.bin"})
	if sdk.KindOf(err) != sdk.KindRetryable || !strings.Contains(err.Error(), "disk full while writing data.bin") {
		t.Fatalf("the sink's error did not reach the exporter's Write and back: %v", err)
	}
	if mem.Len() != 0 {
		t.Fatal("the exporter went on after its Write failed")
	}
	// The same exporter serves the next item after a failed one.
	if _, err := e.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: "ghi", Size: 10}}, host, &sinkWriter{sink: mem}); err != nil || mem.Len() != 1 {
		t.Fatalf("next export: %v, %d objects", err, mem.Len())
	}
	// A portal error inside the plugin comes back classified.
	_, err = e.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: "jkl", Size: 1, URL: "missing"}}, host, &sinkWriter{sink: mem})
	if !sdk.IsNotFound(err) {
		t.Fatalf("portal not-found through the broker: %v", err)
	}
}

func TestNotifierRoundTrip(t *testing.T) {
	fake := &grpctest.FakeNotifier{}
	n := grpctest.Notifier(t, fake)
	if d := n.Configure(context.Background(), sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"out": cty.NullVal(cty.String)})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	start := time.Date(2025, 3, 1, 2, 0, 0, 0, time.UTC)
	req := sdk.NotifyRequest{RunID: "r1", Pipeline: "nightly.hcl", Status: "partial", ExitCode: 1, Started: start, Finished: start.Add(time.Hour),
		Counts: map[string]int64{"exported": 10, "failed": 1}, Results: "Results\n", Locations: []string{"/mnt/x"}}
	if err := n.Notify(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := fake.Last
	if got == nil || got.RunID != "r1" || got.ExitCode != 1 || !got.Finished.Equal(req.Finished) || got.Counts["failed"] != 1 || got.Results != "Results\n" || got.Locations[0] != "/mnt/x" {
		t.Fatalf("notify request lost fields: %+v", got)
	}
}

func TestDescribe(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := grpcplugin.Run(grpctest.FakeServeOpts(), []string{"describe"}, &out, &errOut); code != 0 {
		t.Fatalf("describe exit %d: %s", code, errOut.String())
	}
	var d grpcplugin.Description
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if d.ProtocolVersion != sdk.ProtocolVersion || len(d.Components) != 4 {
		t.Fatalf("description: %+v", d)
	}
	kinds := map[sdk.Kind]grpcplugin.ComponentDescription{}
	for _, c := range d.Components {
		kinds[c.Kind] = c
	}
	if !kinds[sdk.KindSink].Schema.Attributes[1].Sensitive || kinds[sdk.KindExporter].ItemTypes[0] != "Feature Service" {
		t.Fatalf("schemas or item types lost: %+v", d)
	}
	errOut.Reset()
	if code := grpcplugin.Run(grpctest.FakeServeOpts(), []string{"serve", "sink", "nope"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), `no sink called "nope" (it serves: fake)`) {
		t.Fatalf("serving an unknown component: exit %d, %s", code, errOut.String())
	}
	errOut.Reset()
	if code := grpcplugin.Run(grpctest.FakeServeOpts(), []string{"serve", "sink", "fake"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "agolpipe starts it itself") {
		t.Fatalf("serving by hand must be refused: exit %d, %s", code, errOut.String())
	}
}

// digestBody is a body that brings its own sha256 (BodySHA256).
type digestBody struct {
	io.Reader
	sum []byte
	eof bool
}

func (d *digestBody) Read(p []byte) (int, error) {
	n, err := d.Reader.Read(p)
	if err == io.EOF {
		d.eof = true
	}
	return n, err
}

func (d *digestBody) SHA256() []byte {
	if !d.eof {
		return nil
	}
	return d.sum
}

// digestSink records the sha256 the body reported to the sink.
type digestSink struct {
	*grpctest.MemSink
	sum []byte
}

func (s *digestSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	resp, err := s.MemSink.Put(ctx, req)
	if err == nil {
		s.sum = req.Body.(grpcplugin.BodySHA256).SHA256()
	}
	return resp, err
}

// TestPutCarriesBodyDigest checks that a body's own sha256 goes in the
// trailer and reaches the sink unchanged (the sink checks the stream with
// the CRC-32C and does not re-hash), that a body without one gets it
// computed by the client, and that a body that ends without its digest
// stores nothing.
func TestPutCarriesBodyDigest(t *testing.T) {
	content, _ := io.ReadAll(grpctest.Content("d", 3*grpcplugin.ChunkSize+5))
	right := sha256.Sum256(content)
	other := sha256.Sum256([]byte("something else"))
	cases := []struct {
		name    string
		body    io.Reader
		stored  bool
		sinkSum []byte
	}{
		{"body brings its digest", &digestBody{Reader: bytes.NewReader(content), sum: right[:]}, true, right[:]},
		{"plain body: the client hashes", bytes.NewReader(content), true, right[:]},
		// core's digest is what the manifest records; the sink records the
		// same, it does not judge it.
		{"digest carried as core computed it", &digestBody{Reader: bytes.NewReader(content), sum: other[:]}, true, other[:]},
		{"body ends without its digest", &digestBody{Reader: bytes.NewReader(content)}, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := &digestSink{MemSink: grpctest.NewMemSink()}
			s := grpctest.Sink(t, mem)
			_, err := s.Put(context.Background(), sdk.PutRequest{Path: "o.bin", Size: int64(len(content)), Body: tc.body})
			if (err == nil) != tc.stored {
				t.Fatalf("Put returned %v", err)
			}
			waitFor(t, func() bool { mem.Len(); return true })
			got, ok := mem.Object("o.bin")
			if ok != tc.stored || (ok && !bytes.Equal(got, content)) {
				t.Fatalf("stored %v (%d bytes), want stored %v", ok, len(got), tc.stored)
			}
			if ok && !bytes.Equal(mem.sum, tc.sinkSum) {
				t.Fatalf("the sink saw sha256 %x, want %x", mem.sum, tc.sinkSum)
			}
		})
	}
}
