// Command agolpipe-sink-checksum-dir is a complete third-party agolpipe
// plugin: a sink that writes artifacts into a folder and keeps a SHA256SUMS
// file beside them, so `sha256sum -c SHA256SUMS` verifies a backup without
// agolpipe. main only serves; the sink is in sink.go.
package main

import (
	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
)

func main() {
	grpcplugin.Serve(grpcplugin.ServeOpts{
		Sinks: map[string]func() sdk.Sink{"checksum-dir": New},
	})
}
