package pluginhosttest

import (
	"context"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/core/pluginhost"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
)

func TestInProcessUsesTheSameAdapters(t *testing.T) {
	ctx := context.Background()
	fakes := grpctest.FakeServeOpts()
	p, err := InProcess(t, fakes)(ctx, sdk.KindSink, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if s, err := p.Sink(); err != nil {
		t.Fatal(err)
	} else if _, ok := s.(*grpcplugin.SinkClient); !ok {
		t.Fatalf("in-process sink is %T, not the gRPC client adapter", s)
	}
	if _, err := p.Source(); err == nil {
		t.Fatal("a sink served as a source")
	}
	if _, err := InProcess(t, fakes)(ctx, sdk.KindSink, "nope"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("an unknown built-in: %v", err)
	}

	h, err := pluginhost.New(ctx, Options(t, fakes))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	s, err := h.Sink(ctx, "fake")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, sdk.PutRequest{Path: "a", Size: 1, Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	if o, err := s.Stat(ctx, "a"); err != nil || o.Size != 1 {
		t.Fatalf("stat: %v %+v", err, o)
	}
}
