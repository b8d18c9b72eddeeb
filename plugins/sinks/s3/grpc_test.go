package s3

import (
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
	testservers.EachS3(t, func(t *testing.T, srv testservers.S3Server) {
		sinktest.Run(t, func(t *testing.T) sdk.Sink {
			return sinktest.Configured(t, grpctest.Sink(t, New()), baseAttrs(t, srv, srv.Endpoint))
		}, sinktest.Options{
			// Client and server share this process here, so the live heap holds
			// both the gRPC stream's buffers (about 30 MiB measured with
			// azure_blob, whose own buffers are off-heap) and the S3 parts
			// (5 MiB x (3+1)); 64 MiB written is still far from buffered.
			MaxHeapGrowth: 64 << 20,
		})
	})
}
