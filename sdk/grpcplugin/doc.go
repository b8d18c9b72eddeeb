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
// Bytes always stream: Put and Export send chunks of at most ChunkSize with
// a trailer carrying the size and a CRC-32C, and the receiving side sees
// end of body only after the trailer matched, so a truncated or damaged
// stream is always an error. A Put trailer also carries the SHA-256 core
// computed once for the manifest (BodySHA256); the sink may record it and
// does not hash the bytes again. Chunks are
// received into reused buffers (see the chunk codec): a received body's
// WriteTo passes them to Write, which must not keep them (as io.Writer
// requires).
package grpcplugin
