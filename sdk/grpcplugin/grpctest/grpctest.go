// Package grpctest connects a component to its gRPC client adapter inside
// one test process, through the real adapters and go-plugin's broker, so a
// unit test exercises the same wire road as a plugin subprocess.
package grpctest

import (
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/grpcplugin"
	plugin "github.com/hashicorp/go-plugin"
)

func dispense(t testing.TB, kind sdk.Kind, p plugin.Plugin) any {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{string(kind): p})
	// Closing the client shuts the server down through go-plugin's
	// controller; stopping it here as well would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(string(kind))
	if err != nil {
		t.Fatalf("dispensing %s over gRPC: %v", kind, err)
	}
	return raw
}

// dataChannel is the data channel of one test's adapter, as a host makes
// it; it closes when the test ends.
func dataChannel(t testing.TB) *grpcplugin.DataChannel {
	d := grpcplugin.NewDataChannel(grpcplugin.DataChannelMin)
	t.Cleanup(d.Close)
	return d
}

// Sink serves impl over gRPC and returns the client adapter, which offers
// the plugin a data channel of its own as a host does.
func Sink(t testing.TB, impl sdk.Sink) sdk.Sink {
	return SinkWithDataChannel(t, impl, dataChannel(t))
}

// SinkWithDataChannel is Sink with the host's data channel given (nil:
// every byte in chunks); the caller closes it.
func SinkWithDataChannel(t testing.TB, impl sdk.Sink, d *grpcplugin.DataChannel) sdk.Sink {
	return dispense(t, sdk.KindSink, &grpcplugin.SinkPlugin{Impl: impl, Data: d}).(sdk.Sink)
}

// Source serves impl over gRPC and returns the client adapter.
func Source(t testing.TB, impl sdk.Source) sdk.Source {
	return dispense(t, sdk.KindSource, &grpcplugin.SourcePlugin{Impl: impl}).(sdk.Source)
}

// Exporter serves impl over gRPC and returns the client adapter; the Host
// passed to Export travels over go-plugin's broker, and the artifacts'
// bytes on a data channel of the adapter's own, as with a host.
func Exporter(t testing.TB, impl sdk.Exporter) sdk.Exporter {
	return ExporterWithDataChannel(t, impl, dataChannel(t))
}

// ExporterWithDataChannel is Exporter with the host's data channel given
// (nil: every byte in chunks); the caller closes it.
func ExporterWithDataChannel(t testing.TB, impl sdk.Exporter, d *grpcplugin.DataChannel) sdk.Exporter {
	return dispense(t, sdk.KindExporter, &grpcplugin.ExporterPlugin{Impl: impl, Data: d}).(sdk.Exporter)
}

// Notifier serves impl over gRPC and returns the client adapter.
func Notifier(t testing.TB, impl sdk.Notifier) sdk.Notifier {
	return dispense(t, sdk.KindNotifier, &grpcplugin.NotifierPlugin{Impl: impl}).(sdk.Notifier)
}
