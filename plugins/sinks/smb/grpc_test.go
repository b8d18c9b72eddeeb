package smb

import (
	"context"
	"testing"

	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

// The same suite through the plugin protocol's real gRPC adapters, the road
// every run takes (configuration as msgpack, bodies as chunk streams,
// errors with their kind on the wire).
func TestConformanceOverGRPC(t *testing.T) {
	srv := testservers.SMB(t)
	sinktest.Run(t, func(t *testing.T) sdk.Sink {
		s := grpctest.Sink(t, New())
		if _, diags := s.Configure(context.Background(), sdk.ConfigureRequest{Config: cfgVal(baseAttrs(srv, srv.Port, "g/"+randHex(6)))}); diags.HasErrors() {
			t.Fatalf("Configure: %v", diags.Err())
		}
		if err := s.Preflight(context.Background()); err != nil {
			t.Fatalf("Preflight: %v", err)
		}
		return s
	}, sinktest.Options{})
}
