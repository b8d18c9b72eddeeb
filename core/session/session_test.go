package session

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agolpipe/agolpipe/core/pipeline"
	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/core/pluginhost/pluginhosttest"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	"github.com/hashicorp/hcl/v2"
)

// launches counts the plugins a host starts and kills, by kind, around
// the in-process launcher.
type launches struct {
	mu      sync.Mutex
	started map[sdk.Kind]int
	alive   map[*counted]bool
}

type counted struct {
	pluginhost.Plugin
	l *launches
}

func (c *counted) Kill() {
	c.l.mu.Lock()
	delete(c.l.alive, c)
	c.l.mu.Unlock()
	c.Plugin.Kill()
}

func (l *launches) count(k sdk.Kind) int { l.mu.Lock(); defer l.mu.Unlock(); return l.started[k] }
func (l *launches) running() int         { l.mu.Lock(); defer l.mu.Unlock(); return len(l.alive) }

func fakeHost(t *testing.T) (pluginhost.Options, *launches) {
	fakes := grpctest.FakeServeOpts()
	opts := pluginhosttest.Options(t, fakes)
	l := &launches{started: map[sdk.Kind]int{}, alive: map[*counted]bool{}}
	inner := opts.Launch
	opts.Launch = func(ctx context.Context, kind sdk.Kind, name string) (pluginhost.Plugin, error) {
		p, err := inner(ctx, kind, name)
		if err != nil {
			return nil, err
		}
		c := &counted{Plugin: p, l: l}
		l.mu.Lock()
		l.started[kind]++
		l.alive[c] = true
		l.mu.Unlock()
		return c, nil
	}
	return opts, l
}

func writePipeline(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.hcl")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const basePipeline = `
source "fake" "org" {
  items = 4
}
sink "fake" "mem" {
  root = "a"
}
notify "fake" "log" {
  out = "%s"
}
`

func TestOpenStartsTheExporterOfATypeOnItsFirstItem(t *testing.T) {
	ctx := context.Background()
	host, l := fakeHost(t)
	file := writePipeline(t, strings.Replace(basePipeline, "%s", filepath.Join(t.TempDir(), "n.json"), 1))
	s, err := Open(ctx, Options{File: file, LogFormat: "text", Host: host})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ex, ok := s.Engine.Exporters["Feature Service"]
	if !ok || ex.Name != "fake" || ex.Timeout != DefaultExportTimeout || ex.Exporter == nil {
		t.Fatalf("Feature Service is mapped to %+v; want the fake exporter with the default timeout", ex)
	}
	if l.count(sdk.KindSource) != 1 || l.count(sdk.KindSink) != 1 || l.count(sdk.KindNotifier) != 1 {
		t.Fatalf("started %v; want one source, sink and notifier", l.started)
	}
	if n := l.count(sdk.KindExporter); n != 0 {
		t.Fatalf("%d exporters started before any item", n)
	}
	rep, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts.Exported != 4 {
		t.Fatalf("exported %d items, want 4: %+v", rep.Counts.Exported, rep.Counts)
	}
	if n := l.count(sdk.KindExporter); n != 1 {
		t.Fatalf("the exporter was started %d times for 4 items; want once", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := l.running(); n != 0 {
		t.Fatalf("%d plugins still running after Close", n)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var none *Session
	if err := none.Close(); err != nil {
		t.Fatalf("Close of a nil session: %v", err)
	}
}

func TestOpenRefusesAnExportBlockTheExporterRefuses(t *testing.T) {
	ctx := context.Background()
	host, l := fakeHost(t)
	file := writePipeline(t, strings.Replace(basePipeline, "%s", filepath.Join(t.TempDir(), "n.json"), 1)+`
export "Feature Service" {
  exporter = "fake"
  crash_on = ["not", "a", "string"]
}
`)
	var got hcl.Diagnostics
	s, err := Open(ctx, Options{File: file, LogFormat: "text", Host: host, Diagnostics: func(_ *pipeline.Pipeline, d hcl.Diagnostics) { got = append(got, d...) }})
	if s != nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open = %v, %v; want ErrInvalid", s, err)
	}
	if !got.HasErrors() || got[0].Subject == nil || !strings.HasSuffix(got[0].Subject.Filename, "p.hcl") {
		t.Fatalf("diagnostics %v; want an error pointing into the pipeline file", got)
	}
	if n := l.running(); n != 0 {
		t.Fatalf("%d plugins left running after Open failed", n)
	}
}

func TestOpenForAPlanStartsNoNotifierAndNoExporter(t *testing.T) {
	ctx := context.Background()
	host, l := fakeHost(t)
	file := writePipeline(t, strings.Replace(basePipeline, "%s", filepath.Join(t.TempDir(), "n.json"), 1)+`
export "Feature Service" {
  exporter = "fake"
}
`)
	s, err := Open(ctx, Options{File: file, LogFormat: "text", Host: host, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if l.count(sdk.KindNotifier) != 0 || l.count(sdk.KindExporter) != 0 || len(s.Engine.Notifiers) != 0 {
		t.Fatalf("a plan started %v", l.started)
	}
	if !s.Engine.DryRun || s.Engine.Exporters["Feature Service"].Exporter == nil {
		t.Fatalf("plan options: %+v", s.Engine)
	}
}

func TestOpenOnlySinks(t *testing.T) {
	ctx := context.Background()
	host, l := fakeHost(t)
	file := writePipeline(t, strings.Replace(basePipeline, "%s", filepath.Join(t.TempDir(), "n.json"), 1)+`
sink "fake" "other" {
  root = "b"
}
`)
	s, err := Open(ctx, Options{File: file, LogFormat: "text", Host: host, OnlySinks: func(b *pipeline.SinkBlock) bool { return b.Name == "other" }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(s.Engine.Sinks) != 1 || s.Engine.Sinks[0].Block.Name != "other" || s.Engine.Sinks[0].Features.Location != "memory:b" {
		t.Fatalf("sinks opened: %+v", s.Engine.Sinks)
	}
	if l.count(sdk.KindSource) != 0 || l.count(sdk.KindNotifier) != 0 || l.count(sdk.KindSink) != 1 {
		t.Fatalf("started %v; want the one sink only", l.started)
	}
}

// TestCheckSaysWhatOpenSays: validate's Check configures every component
// as Open does, so it reports the same problems (a sink's Configure
// refusing its token, two sinks on one location) at the same places,
// starts every component once and leaves none running.
func TestCheckSaysWhatOpenSays(t *testing.T) {
	ctx := context.Background()
	file := writePipeline(t, strings.Replace(basePipeline, "%s", filepath.Join(t.TempDir(), "n.json"), 1)+`
sink "fake" "other" {
  root  = "a"
  token = "bad"
}
export "Feature Service" {
  exporter = "fake"
}
`)
	host, _ := fakeHost(t)
	var fromOpen hcl.Diagnostics
	if _, err := Open(ctx, Options{File: file, LogFormat: "text", Host: host, Diagnostics: func(_ *pipeline.Pipeline, d hcl.Diagnostics) { fromOpen = append(fromOpen, d...) }}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Open: %v, want ErrInvalid", err)
	}

	opts, l := fakeHost(t)
	h, err := pluginhost.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p, diags := pipeline.Load(file, pipeline.LoadOptions{Schemas: h, Plugins: h.PipelinePlugins})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	checked := Check(ctx, h, p)
	// Open reports the file's own diagnostics (here: the token typed into
	// the file) before the components'.
	got := append(diags, checked...)
	if !checked.HasErrors() || len(got) != len(fromOpen) {
		t.Fatalf("Load and Check said %v; Open said %v", got, fromOpen)
	}
	for i := range got {
		g, o := got[i].Subject, fromOpen[i].Subject
		if got[i].Summary != fromOpen[i].Summary || (g == nil) != (o == nil) || (g != nil && *g != *o) {
			t.Errorf("diagnostic %d: Check %q at %v, Open %q at %v", i, got[i].Summary, got[i].Subject, fromOpen[i].Summary, fromOpen[i].Subject)
		}
	}
	if len(checked) != 2 {
		t.Errorf("Check said %d things, want the token refused and the overlap: %v", len(checked), checked)
	}
	want := map[sdk.Kind]int{sdk.KindSource: 1, sdk.KindSink: 2, sdk.KindNotifier: 1, sdk.KindExporter: 1}
	for k, w := range want {
		if n := l.count(k); n != w {
			t.Errorf("Check started %d of %s, want %d", n, k, w)
		}
	}
	if n := l.running(); n != 0 {
		t.Errorf("%d plugins left running after Check", n)
	}
}
