package smb

import (
	"testing"

	"github.com/agolpipe/agolpipe/internal/testservers"
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin/grpctest"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

// The same suite through the plugin protocol's real gRPC adapters, the road
// every run takes (configuration as msgpack, bodies on the data channel
// from 1 MiB up and as chunk streams below,
// errors with their kind on the wire).
func TestConformanceOverGRPC(t *testing.T) {
	srv := testservers.SMB(t)
	sinktest.Run(t, func(t *testing.T) sdk.Sink {
		return sinktest.Configured(t, grpctest.Sink(t, New()), baseAttrs(srv, srv.Port, "g/"+testservers.RandHex(6)))
	}, sinktest.Options{})
}
