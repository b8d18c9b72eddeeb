package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
	"github.com/hashicorp/go-hclog"
	"github.com/zclconf/go-cty/cty"
)

// Binaries built once by TestMain: the agolpipe binary (built-ins) and a
// third-party plugin serving the grpctest fakes.
var (
	agolpipeBin string
	fakeBin     string
	fakeSum     string
	builtins    grpcplugin.Description
)

func TestMain(m *testing.M) {
	if os.Getenv("PLUGINHOST_TEST_ORPHAN") != "" {
		orphanHelper()
		return
	}
	dir, err := os.MkdirTemp("", "pluginhost-test")
	if err != nil {
		panic(err)
	}
	agolpipeBin = filepath.Join(dir, "agolpipe")
	fakeBin = filepath.Join(dir, "fakeplugin")
	for out, pkg := range map[string]string{agolpipeBin: "github.com/agolpipe/agolpipe/cmd/agolpipe", fakeBin: "./testdata/fakeplugin"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building test binaries:", err)
			os.Exit(1)
		}
	}
	fakeSum = fileSum(fakeBin)
	// The built-ins are what the binary serves, as cmd hands them in.
	builtins, err = grpcplugin.DescribeBinary(context.Background(), agolpipeBin, "", "plugin")
	if err != nil {
		fmt.Fprintln(os.Stderr, "describing the built-ins:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func fileSum(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// syncBuffer is a log destination safe for go-plugin's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHost(t *testing.T, logs io.Writer, decls ...*pipeline.PluginDecl) *Host {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	h, err := New(context.Background(), Options{
		Logger:     hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace}),
		Executable: agolpipeBin,
		BuiltIns:   builtins,
		Plugins:    decls,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func fakeDecl() *pipeline.PluginDecl {
	return &pipeline.PluginDecl{Name: "fakes", Path: fakeBin, SHA256: fakeSum}
}

func TestComponentsAndSchemasWithoutProcesses(t *testing.T) {
	h := newHost(t, nil, fakeDecl())
	var local, fake *ComponentInfo
	for _, c := range h.Components() {
		switch {
		case c.Kind == sdk.KindSink && c.Name == "local":
			local = &c
		case c.Kind == sdk.KindSink && c.Name == "fake":
			fake = &c
		}
	}
	if local == nil || !local.BuiltIn || local.Protocol != sdk.ProtocolVersion {
		t.Fatalf("built-in local sink: %+v", local)
	}
	if fake == nil || fake.BuiltIn || fake.Path != fakeBin || fake.Plugin != "fakes" || fake.Version != "1.0.0" {
		t.Fatalf("third-party fake sink: %+v", fake)
	}
	s, err := h.Schema(sdk.KindSink, "fake")
	if err != nil || len(s.Attributes) != 2 || !s.Attributes[1].Sensitive {
		t.Fatalf("schema of a third-party sink: %v %+v", err, s)
	}
	if types := h.ItemTypes("fake"); len(types) != 1 || types[0] != "Feature Service" {
		t.Fatalf("item types: %v", types)
	}
	if _, err := h.Schema(sdk.KindSink, "nope"); err == nil || !strings.Contains(err.Error(), "local") {
		t.Fatalf("unknown component should list the choices: %v", err)
	}
	if len(h.procs) != 0 {
		t.Fatalf("%d processes started just to learn schemas", len(h.procs))
	}
}

func TestThirdPartyPluginOfEveryKindAsSubprocesses(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, nil, fakeDecl())
	src, err := h.Source(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if d := src.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"items": cty.NumberIntVal(120), "password": cty.StringVal("pw")})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	if _, err := src.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	var items []sdk.Item
	if err := src.ListItems(ctx, sdk.ListItemsRequest{}, func(it sdk.ListedItem) error { items = append(items, it.Item); return nil }); err != nil || len(items) != 120 {
		t.Fatalf("list: %v, %d items", err, len(items))
	}

	snk, err := h.Sink(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if _, d := snk.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"root": cty.StringVal("x"), "token": cty.NullVal(cty.String)})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	exp, err := h.Exporter(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if d := exp.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"crash_on": cty.NullVal(cty.String)})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	item := sdk.Item{ID: "abc", Title: "Parcels", Size: 700_000, URL: "content/items/abc/data"}
	host := &sourceHost{src: src}
	res, err := exp.Export(ctx, sdk.ExportRequest{Item: item, RunID: "r"}, host, &sinkWriter{sink: snk, prefix: "abc/"})
	if err != nil || res.Status != sdk.StatusExported {
		t.Fatalf("export: %v %+v", err, res)
	}
	want, _ := io.ReadAll(grpctest.Content("abc", item.Size))
	assertObject(t, snk, "abc/data.bin", want)
	rc, err := snk.Get(ctx, sdk.GetRequest{Path: "abc/portal.json"})
	if err != nil {
		t.Fatal(err)
	}
	portal, _ := io.ReadAll(rc)
	rc.Close()
	// The exporter's portal request went plugin -> broker -> host -> source plugin.
	if !strings.Contains(string(portal), `"url":"content/items/abc/data"`) {
		t.Fatalf("portal.json: %s", portal)
	}
	if got := host.calls(); got != 1 {
		t.Fatalf("host Portal calls: %d, want 1", got)
	}

	not, err := h.Notifier(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "notify.json")
	if d := not.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"out": cty.StringVal(out)})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	if err := not.Notify(ctx, sdk.NotifyRequest{RunID: "r", Status: "success", Results: "all good"}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), "all good") {
		t.Fatalf("notification: %v %s", err, b)
	}
	for _, c := range []io.Closer{src, snk, exp, not} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
	if len(h.procs) != 0 {
		t.Fatalf("%d plugin processes left after every component closed", len(h.procs))
	}
}

func assertObject(t *testing.T, s sdk.Sink, path string, want []byte) {
	t.Helper()
	rc, err := s.Get(context.Background(), sdk.GetRequest{Path: path})
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %v, %d bytes, want %d identical", path, err, len(got), len(want))
	}
}

// sourceHost is the engine's sdk.Host in miniature: portal requests go to
// the source.
type sourceHost struct {
	src sdk.Source
	mu  sync.Mutex
	n   int
}

func (h *sourceHost) Portal(ctx context.Context, req sdk.PortalRequest) (*sdk.PortalResponse, error) {
	h.mu.Lock()
	h.n++
	h.mu.Unlock()
	return h.src.Do(ctx, req)
}
func (h *sourceHost) calls() int                                { h.mu.Lock(); defer h.mu.Unlock(); return h.n }
func (h *sourceHost) Progress(context.Context, sdk.Progress)    {}
func (h *sourceHost) Log(context.Context, sdk.LogLevel, string) {}

type sinkWriter struct {
	sink   sdk.Sink
	prefix string
}

func (w *sinkWriter) Write(ctx context.Context, a sdk.Artifact, body io.Reader) error {
	_, err := w.sink.Put(ctx, sdk.PutRequest{Path: w.prefix + a.Name, MediaType: a.MediaType, Size: a.Size, Body: body})
	return err
}

func TestCrashMidExportIsNamedAndThePluginRestarts(t *testing.T) {
	ctx := context.Background()
	logs := &syncBuffer{}
	h := newHost(t, logs, fakeDecl())
	snk, err := h.Sink(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	snk.Configure(ctx, sdk.ConfigureRequest{Config: cty.NullVal(cty.EmptyObject)})
	exp, err := h.Exporter(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if d := exp.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"crash_on": cty.StringVal("boom")})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	crashItem := sdk.Item{ID: "boom", Title: "Storm Drains", Size: 2 << 20}
	_, err = exp.Export(ctx, sdk.ExportRequest{Item: crashItem}, &sourceHost{}, &sinkWriter{sink: snk})
	if err == nil {
		t.Fatal("export through a crashing plugin succeeded")
	}
	for _, want := range []string{`exporter plugin "fake"`, fakeBin, "boom", "Storm Drains", "restarted"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("crash error lacks %q: %v", want, err)
		}
	}
	if sdk.KindOf(err) != sdk.KindRetryable {
		t.Errorf("a crash should be retryable on the new process, got %v", sdk.KindOf(err))
	}
	if _, err := snk.Stat(ctx, "data.bin"); !sdk.IsNotFound(err) {
		t.Fatalf("the half-exported artifact reached the sink: %v", err)
	}
	if !strings.Contains(logs.String(), "plugin crashed; restarting it") {
		t.Errorf("the crash was not logged:\n%s", logs.String())
	}
	// The restarted plugin serves the next item...
	next := sdk.Item{ID: "calm", Title: "Hydrants", Size: 1000}
	if _, err := exp.Export(ctx, sdk.ExportRequest{Item: next}, &sourceHost{}, &sinkWriter{sink: snk, prefix: "calm/"}); err != nil {
		t.Fatalf("export after the restart: %v", err)
	}
	want, _ := io.ReadAll(grpctest.Content("calm", 1000))
	assertObject(t, snk, "calm/data.bin", want)
	// ...with its configuration replayed: it still crashes on "boom".
	if _, err := exp.Export(ctx, sdk.ExportRequest{Item: crashItem}, &sourceHost{}, &sinkWriter{sink: snk}); err == nil || !strings.Contains(err.Error(), "crashed") {
		t.Fatalf("restarted plugin lost its configuration: %v", err)
	}
}

func TestChecksumMismatchIsRefused(t *testing.T) {
	wrong := strings.Repeat("0", 64)
	_, err := New(context.Background(), Options{Executable: agolpipeBin, Plugins: []*pipeline.PluginDecl{{Name: "fakes", Path: fakeBin, SHA256: wrong}}})
	if !errors.Is(err, grpcplugin.ErrChecksumMismatch) || !strings.Contains(err.Error(), fakeBin) || !strings.Contains(err.Error(), "sha256sum") || !strings.Contains(err.Error(), `plugin "fakes"`) {
		t.Fatalf("describe of a mismatching binary: %v", err)
	}

	// The binary changes after the host learned it: go-plugin's
	// SecureConfig refuses to launch it, with the recorded checksum.
	bin := filepath.Join(t.TempDir(), "fakeplugin")
	b, _ := os.ReadFile(fakeBin)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHost(t, nil, &pipeline.PluginDecl{Name: "fakes", Path: bin, SHA256: fakeSum})
	f, _ := os.OpenFile(bin, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("tampered"))
	f.Close()
	_, err = h.Sink(context.Background(), "fake")
	if !errors.Is(err, grpcplugin.ErrChecksumMismatch) || !strings.Contains(err.Error(), bin) {
		t.Fatalf("launch of a changed binary: %v", err)
	}
}

// TestChangedBinaryIsRefusedOnceAndStopped: a third-party exporter crashes
// after its binary was replaced on disk. The restart is refused for the
// checksum, once: the error is permanent (the engine does not retry the
// item), says why and what to do, and later calls fail at once without
// starting the plugin again. It used to be retried as a crash, by every
// call, thousands of times in a run.
func TestChangedBinaryIsRefusedOnceAndStopped(t *testing.T) {
	ctx := context.Background()
	bin := filepath.Join(t.TempDir(), "fakeplugin")
	b, err := os.ReadFile(fakeBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	h := newHost(t, logs, &pipeline.PluginDecl{Name: "fakes", Path: bin, SHA256: fakeSum})
	snk, err := h.Sink(ctx, "local") // a built-in sink: it stays usable
	if err != nil {
		t.Fatal(err)
	}
	if _, d := snk.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(t.TempDir())})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	exp, err := h.Exporter(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if d := exp.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"crash_on": cty.StringVal("boom")})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	// Mid-run, someone replaces the plugin file (as an upgrade does: a new
	// file renamed over it; the running process keeps the old one).
	next := bin + ".new"
	if err := os.WriteFile(next, append(b, "tampered"...), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, bin); err != nil {
		t.Fatal(err)
	}
	_, err = exp.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: "boom", Title: "Storm Drains", Size: 2 << 20}}, &sourceHost{}, &sinkWriter{sink: snk})
	if !errors.Is(err, grpcplugin.ErrChecksumMismatch) || sdk.KindOf(err) != sdk.KindPermanent {
		t.Fatalf("crash with a changed binary: kind %v, %v", sdk.KindOf(err), err)
	}
	for _, want := range []string{`exporter plugin "fake"`, bin, "Storm Drains", "not restarted", "sha256sum"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q: %v", want, err)
		}
	}
	// Every later call: the same reason at once, no new process.
	for i := range 5 {
		start := time.Now()
		_, err := exp.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: fmt.Sprintf("calm%d", i), Title: "Hydrants", Size: 1000}}, &sourceHost{}, &sinkWriter{sink: snk})
		if !errors.Is(err, grpcplugin.ErrChecksumMismatch) || sdk.KindOf(err) != sdk.KindPermanent || !strings.Contains(err.Error(), "stopped for the rest of the run") {
			t.Fatalf("call %d after the refusal: kind %v, %v", i, sdk.KindOf(err), err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("call %d took %s to be refused", i, d)
		}
	}
	if n := strings.Count(logs.String(), "plugin crashed; restarting it: kind=exporter name=fake"); n != 1 {
		t.Errorf("%d restart attempts of the exporter, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "plugin restart refused") {
		t.Errorf("the refusal was not logged:\n%s", logs.String())
	}
}

func TestSensitiveValuesNeverLogged(t *testing.T) {
	ctx := context.Background()
	logs := &syncBuffer{}
	h := newHost(t, logs, fakeDecl())
	const token, password = "tok-SECRET-4711", "pw-SECRET-0815"
	snk, err := h.Sink(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if _, d := snk.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"root": cty.StringVal("r"), "token": cty.StringVal(token)})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	src, err := h.Source(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if d := src.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"items": cty.NumberIntVal(1), "password": cty.StringVal(password)})}); d.HasErrors() {
		t.Fatal(d.Err())
	}
	if _, err := src.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	// A rejected token: the diagnostic points at the attribute, not its value.
	_, d := snk.Configure(ctx, sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"root": cty.StringVal("r"), "token": cty.StringVal("bad")})})
	if !d.HasErrors() || strings.Join(d[0].Path, ".") != "token" {
		t.Fatalf("diagnostics: %+v", d)
	}
	h.Close()
	out := logs.String()
	if !strings.Contains(out, "plugin started") {
		t.Fatalf("nothing was logged, so the test proves nothing:\n%s", out)
	}
	for _, secret := range []string{token, password} {
		if strings.Contains(out, secret) {
			t.Fatalf("secret %q in the log:\n%s", secret, out)
		}
	}
}

func TestCloseKillsEveryPlugin(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, nil, fakeDecl())
	var pids []int
	for _, name := range []string{"local", "fake"} {
		if _, err := h.Sink(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	for p := range h.procs {
		pids = append(pids, p.(*grpcplugin.Client).Pid())
	}
	if len(pids) != 2 || pids[0] == 0 {
		t.Fatalf("pids: %v", pids)
	}
	h.Close()
	for _, pid := range pids {
		waitGone(t, pid)
	}
	if _, err := h.Sink(ctx, "local"); sdk.KindOf(err) != sdk.KindCanceled {
		t.Fatalf("a closed host must not start plugins: %v", err)
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin process %d still running", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// orphanHelper is a host that starts a plugin, prints its pid and waits to
// be killed without any chance to clean up.
func orphanHelper() {
	h, err := New(context.Background(), Options{Plugins: []*pipeline.PluginDecl{{Name: "fakes", Path: os.Getenv("FAKE_BIN"), SHA256: os.Getenv("FAKE_SUM")}}})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := h.Sink(context.Background(), "fake"); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for p := range h.procs {
		fmt.Println(p.(*grpcplugin.Client).Pid())
	}
	select {}
}

func TestPluginExitsWhenHostIsKilled(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PLUGINHOST_TEST_ORPHAN=1", "FAKE_BIN="+fakeBin, "FAKE_SUM="+fakeSum)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Fscan(out, &pid); err != nil || pid == 0 {
		cmd.Process.Kill()
		t.Fatalf("helper did not report a plugin pid: %v", err)
	}
	_ = cmd.Process.Kill() // SIGKILL: no deferred Close, no CleanupClients
	_ = cmd.Wait()
	waitGone(t, pid)
}

// TestLocalSinkConformanceOverGRPC runs the sink conformance suite against
// the built-in local sink served by a re-executed agolpipe binary.
func TestLocalSinkConformanceOverGRPC(t *testing.T) {
	h := newHost(t, nil)
	sinktest.RunLaunched(t, func(t *testing.T) sdk.Sink {
		s, err := h.Sink(context.Background(), "local")
		if err != nil {
			t.Fatal(err)
		}
		if _, d := s.Configure(context.Background(), sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"path": cty.StringVal(t.TempDir())})}); d.HasErrors() {
			t.Fatal(d.Err())
		}
		if err := s.Preflight(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s
	}, sinktest.Options{})
}

func TestExporterOnDemandStartsAtFirstExportOnce(t *testing.T) {
	ctx := context.Background()
	logs := &syncBuffer{}
	h := newHost(t, logs, fakeDecl())
	snk, err := h.Sink(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	snk.Configure(ctx, sdk.ConfigureRequest{Config: cty.NullVal(cty.EmptyObject)})
	procs := func() int { h.mu.Lock(); defer h.mu.Unlock(); return len(h.procs) }

	exp, err := h.ExporterOnDemand(ctx, "fake", sdk.ConfigureRequest{Config: cty.ObjectVal(map[string]cty.Value{"crash_on": cty.StringVal("boom")})})
	if err != nil {
		t.Fatal(err)
	}
	if info := exp.Info(); info.Name != "fake" || info.Version != "1.0.0" || len(exp.ItemTypes()) != 1 || len(exp.Schema().Attributes) != 1 {
		t.Fatalf("what the host knows of the exporter: %+v %v %+v", info, exp.ItemTypes(), exp.Schema())
	}
	if n := procs(); n != 1 {
		t.Fatalf("%d processes before the first export; want only the sink's", n)
	}
	item := sdk.Item{ID: "calm", Title: "Hydrants", Size: 1000}
	if _, err := exp.Export(ctx, sdk.ExportRequest{Item: item}, &sourceHost{}, &sinkWriter{sink: snk, prefix: "calm/"}); err != nil {
		t.Fatalf("first export: %v", err)
	}
	if _, err := exp.Export(ctx, sdk.ExportRequest{Item: item}, &sourceHost{}, &sinkWriter{sink: snk, prefix: "again/"}); err != nil {
		t.Fatalf("second export: %v", err)
	}
	if n := procs(); n != 2 {
		t.Fatalf("%d processes after two exports; want the sink's and one exporter's", n)
	}
	// It was configured with the request: it crashes on "boom".
	if _, err := exp.Export(ctx, sdk.ExportRequest{Item: sdk.Item{ID: "boom", Title: "Storm Drains", Size: 2 << 20}}, &sourceHost{}, &sinkWriter{sink: snk}); err == nil || !strings.Contains(err.Error(), "crashed") {
		t.Fatalf("the exporter did not get its configuration: %v", err)
	}

	// An exporter never used starts nothing and closes cleanly.
	unused, err := h.ExporterOnDemand(ctx, "fake", sdk.ConfigureRequest{Config: cty.NullVal(cty.EmptyObject)})
	if err != nil {
		t.Fatal(err)
	}
	before := procs()
	if err := unused.Close(); err != nil || procs() != before {
		t.Fatalf("closing an exporter never started: %v, %d -> %d processes", err, before, procs())
	}
	if _, err := unused.Export(ctx, sdk.ExportRequest{Item: item}, &sourceHost{}, &sinkWriter{sink: snk}); err == nil || procs() != before {
		t.Fatalf("an exporter closed before its first use started: %v", err)
	}
}

func TestExporterOnDemandBadConfigurationFailsEveryExport(t *testing.T) {
	ctx := context.Background()
	logs := &syncBuffer{}
	h := newHost(t, logs, fakeDecl())
	bad := cty.ObjectVal(map[string]cty.Value{"crash_on": cty.ListVal([]cty.Value{cty.StringVal("x")})})
	exp, err := h.ExporterOnDemand(ctx, "fake", sdk.ConfigureRequest{Config: bad})
	if err != nil {
		t.Fatal(err)
	}
	item := sdk.Item{ID: "calm", Title: "Hydrants", Size: 10}
	for i := range 2 {
		_, err := exp.Export(ctx, sdk.ExportRequest{Item: item}, &sourceHost{}, &sinkWriter{})
		if err == nil || sdk.KindOf(err) != sdk.KindPermanent || !strings.Contains(err.Error(), `exporter "fake"`) {
			t.Fatalf("export %d with a configuration the exporter refuses: %v (kind %v)", i+1, err, sdk.KindOf(err))
		}
	}
	if n := strings.Count(logs.String(), "plugin started: kind=exporter"); n != 1 {
		t.Fatalf("the exporter was started %d times; a refused configuration is not retried\n%s", n, logs.String())
	}
	h.mu.Lock()
	n := len(h.procs)
	h.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d processes left after the refused configuration", n)
	}
}
