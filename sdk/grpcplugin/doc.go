// Package grpcplugin carries the sdk interfaces between the agolpipe host
// and plugin processes over gRPC (hashicorp/go-plugin, protocol
// agolpipe.plugin.v1).
//
// For every kind there is a client adapter, which implements the sdk
// interface by calling a plugin, and a server adapter, which wraps any
// implementation of it. A plugin author only writes main:
//
//	func main() {
//		grpcplugin.Serve(grpcplugin.ServeOpts{
//			Sinks: map[string]func() sdk.Sink{"checksum-dir": newSink},
//		})
//	}
//
// One binary may serve several components, Packer-style: `<bin> describe`
// prints JSON of what it serves (with schemas) and `<bin> serve <kind>
// <name>` serves one. The host launches plugins with Launch.
//
// Bytes always stream, on one of two roads, chosen per artifact by the
// adapters (a plugin author sees an io.Reader either way):
//
//   - the data channel (datachannel.go): for artifacts of at least
//     DataChannelMin bytes or of unknown size, the host offers a Unix
//     socket in a directory only its user can reach; the plugin connects,
//     presents a one-time 32-byte token it received (or sent) over the
//     mTLS gRPC stream, and the bytes flow raw, with one kernel copy per
//     side and no TLS record per 16 KiB. It is how artifacts move at disk
//     speed on a small machine (bench/stream). AGOLPIPE_DATA_CHANNEL=off
//     switches it off; a sink that cannot connect says so with a typed
//     reason (sdk.ReasonNoDataChannel) and the host sends it chunks.
//   - chunk messages on the gRPC stream, of at most ChunkSize, for small
//     artifacts and as the fallback.
//
// Either way a trailer on the gRPC stream closes the bytes with their size
// (and, for chunks, a CRC-32C), and the receiving side sees end of body
// only after the trailer matched, so a truncated or damaged stream is
// always an error. A Put trailer also carries the SHA-256 core computed
// once for the manifest (BodySHA256); the sink may record it and does not
// hash the bytes again. Chunks are received into reused buffers (see the
// chunk codec): a received body's WriteTo passes them to Write, which must
// not keep them (as io.Writer requires).
//
// Where the bytes are handled: send.go (the sending end, either road),
// receive.go (the receiving end: trailer checked before io.EOF), put.go
// (the host -> sink hop, both sides), artifact.go (the exporter -> host
// hop, both sides), datachannel.go (the socket and its tokens) and
// bufpool.go (the one pool of chunk buffers). The adapters of each kind
// (sink.go, exporter.go, ...) only translate calls.
package grpcplugin
