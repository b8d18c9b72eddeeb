package grpcplugin

import (
	"context"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ChunkSize is the size of the byte chunks streamed over gRPC: large enough
// to keep per-message overhead small, far below gRPC's 4 MiB message limit.
const ChunkSize = 256 << 10

// Handshake is the go-plugin handshake: a host refuses a plugin that speaks
// another protocol major (sdk.ProtocolVersion). The magic cookie only keeps a
// user from running a plugin binary by hand by mistake; it is not security.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  sdk.ProtocolVersion,
	MagicCookieKey:   "AGOLPIPE_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "8b1f0c2e-agolpipe-plugin-v1-5d7a9e34",
}

// PluginMap is the go-plugin plugin set a host dispenses from, keyed by
// kind; the exporters and sinks it dispenses offer data (nil: none).
func PluginMap(data *DataChannel) map[string]plugin.Plugin {
	return map[string]plugin.Plugin{
		string(sdk.KindSource):   &SourcePlugin{},
		string(sdk.KindExporter): &ExporterPlugin{Data: data},
		string(sdk.KindSink):     &SinkPlugin{Data: data},
		string(sdk.KindNotifier): &NotifierPlugin{},
	}
}

// SinkPlugin is the go-plugin plugin for sinks. Impl is set on the plugin
// side only, Data (the host's data channel, nil for none) on the host side
// only.
type SinkPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl sdk.Sink
	Data *DataChannel
}

// SourcePlugin is the go-plugin plugin for sources.
type SourcePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl sdk.Source
}

// ExporterPlugin is the go-plugin plugin for exporters; Impl and Data as
// in SinkPlugin.
type ExporterPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl sdk.Exporter
	Data *DataChannel
}

// NotifierPlugin is the go-plugin plugin for notifiers.
type NotifierPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl sdk.Notifier
}

var (
	_ plugin.GRPCPlugin = (*SinkPlugin)(nil)
	_ plugin.GRPCPlugin = (*SourcePlugin)(nil)
	_ plugin.GRPCPlugin = (*ExporterPlugin)(nil)
	_ plugin.GRPCPlugin = (*NotifierPlugin)(nil)
)

// describeCtx bounds the Describe call a client adapter makes when it is
// created, so a hung plugin cannot hang the host.
func describeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, describeTimeout)
}

const describeTimeout = 30 * time.Second

// streamWindow is the gRPC flow-control window of every stream and
// connection. A fixed window (instead of gRPC's bandwidth-delay estimate,
// which grows to 16 MiB) bounds the bytes in flight between two processes,
// so a slow sink pushes back on the exporter and memory stays flat.
const streamWindow = 1 << 20

// ioBuffer is the size of gRPC's socket read and write buffers: one chunk,
// so a chunk costs one write system call instead of eight.
const ioBuffer = ChunkSize + 64<<10

func dialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(streamWindow),
		grpc.WithReadBufferSize(ioBuffer),
		grpc.WithWriteBufferSize(ioBuffer),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(codec)),
	}
}

// newServer is the gRPC server of a plugin process.
func newServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts,
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(streamWindow),
		grpc.ReadBufferSize(ioBuffer),
		grpc.WriteBufferSize(ioBuffer),
		grpc.ForceServerCodecV2(codec),
	)...)
}
