package grpcplugin

import (
	"encoding/binary"
	"io"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// chunkCodec is the proto codec with a fast road for the messages that
// carry artifact bytes (a oneof holding only `bytes chunk = 2`): they are
// read into, and marshalled into, buffers of the one pool (bufpool.go)
// instead of a fresh allocation per message, and written without zeroing a
// buffer first. Every other message, and the same messages with any other
// content, go through the standard proto codec, so the wire format is
// exactly proto's and peers with the standard codec interoperate.
//
// Buffer ownership: a chunk a receiver got from Recv may be handed back with
// putChunk once nothing refers to it any more; one that is not handed back
// is simply garbage collected.
type chunkCodec struct{ std encoding.CodecV2 }

var codec = chunkCodec{std: encoding.GetCodecV2("proto")}

// chunkField is the field number of `bytes chunk` in the messages of
// chunkOf; tag is its key byte (wire type LEN).
const (
	chunkField = 2
	chunkTag   = chunkField<<3 | byte(protowire.BytesType)
)

func (chunkCodec) Name() string { return "proto" }

func (c chunkCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := chunkOf(v)
	if !ok || len(v.(proto.Message).ProtoReflect().GetUnknown()) > 0 {
		return c.std.Marshal(v)
	}
	size := 1 + protowire.SizeVarint(uint64(len(b))) + len(b)
	buf := wirePool.Get(size)
	out := append((*buf)[:0], chunkTag)
	out = protowire.AppendVarint(out, uint64(len(b)))
	out = append(out, b...)
	*buf = out
	return mem.BufferSlice{mem.NewBuffer(buf, wirePool)}, nil
}

func (c chunkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(proto.Message); ok && isChunkMessage(v) {
		if b, ok := loneChunk(data); ok {
			proto.Reset(m)
			setChunk(v, b)
			return nil
		}
	}
	return c.std.Unmarshal(data, v)
}

// chunkOf is the chunk a message carries when it is one of the messages
// of the fast road and its oneof holds the chunk (false otherwise). Every
// message whose bytes are artifact or HTTP body bytes is here: the
// export's and the sinks' (ExportResponse, PutRequest, GetResponse) and
// the restore's and portal's (ReadArtifactResponse, PortalUploadRequest,
// DoUploadRequest and the streamed responses), which went through the
// standard codec: a fresh 256 KiB allocation per chunk on every hop, most
// of a restore's garbage.
func chunkOf(v any) ([]byte, bool) {
	switch m := v.(type) {
	case *pluginv1.ExportResponse:
		_, ok := m.GetMsg().(*pluginv1.ExportResponse_Chunk)
		return m.GetChunk(), ok
	case *pluginv1.PutRequest:
		_, ok := m.GetMsg().(*pluginv1.PutRequest_Chunk)
		return m.GetChunk(), ok
	case *pluginv1.GetResponse:
		_, ok := m.GetMsg().(*pluginv1.GetResponse_Chunk)
		return m.GetChunk(), ok
	case *pluginv1.ReadArtifactResponse:
		_, ok := m.GetMsg().(*pluginv1.ReadArtifactResponse_Chunk)
		return m.GetChunk(), ok
	case *pluginv1.PortalUploadRequest:
		_, ok := m.GetMsg().(*pluginv1.PortalUploadRequest_Chunk)
		return m.GetChunk(), ok
	case *pluginv1.PortalUploadResponse:
		_, ok := m.GetMsg().(*pluginv1.PortalUploadResponse_Chunk)
		return m.GetChunk(), ok
	case *pluginv1.PortalResponse:
		_, ok := m.GetMsg().(*pluginv1.PortalResponse_Chunk)
		return m.GetChunk(), ok
	case *pluginv1.DoUploadRequest:
		_, ok := m.GetMsg().(*pluginv1.DoUploadRequest_Chunk)
		return m.GetChunk(), ok
	case *pluginv1.DoUploadResponse:
		_, ok := m.GetMsg().(*pluginv1.DoUploadResponse_Chunk)
		return m.GetChunk(), ok
	case *pluginv1.DoResponse:
		_, ok := m.GetMsg().(*pluginv1.DoResponse_Chunk)
		return m.GetChunk(), ok
	}
	return nil, false
}

// isChunkMessage says whether v is one of chunkOf's messages.
func isChunkMessage(v any) bool {
	switch v.(type) {
	case *pluginv1.ExportResponse, *pluginv1.PutRequest, *pluginv1.GetResponse, *pluginv1.ReadArtifactResponse,
		*pluginv1.PortalUploadRequest, *pluginv1.PortalUploadResponse, *pluginv1.PortalResponse,
		*pluginv1.DoUploadRequest, *pluginv1.DoUploadResponse, *pluginv1.DoResponse:
		return true
	}
	return false
}

// setChunk makes v (reset, one of chunkOf's messages) carry chunk b.
func setChunk(v any, b []byte) {
	switch m := v.(type) {
	case *pluginv1.ExportResponse:
		m.Msg = &pluginv1.ExportResponse_Chunk{Chunk: b}
	case *pluginv1.PutRequest:
		m.Msg = &pluginv1.PutRequest_Chunk{Chunk: b}
	case *pluginv1.GetResponse:
		m.Msg = &pluginv1.GetResponse_Chunk{Chunk: b}
	case *pluginv1.ReadArtifactResponse:
		m.Msg = &pluginv1.ReadArtifactResponse_Chunk{Chunk: b}
	case *pluginv1.PortalUploadRequest:
		m.Msg = &pluginv1.PortalUploadRequest_Chunk{Chunk: b}
	case *pluginv1.PortalUploadResponse:
		m.Msg = &pluginv1.PortalUploadResponse_Chunk{Chunk: b}
	case *pluginv1.PortalResponse:
		m.Msg = &pluginv1.PortalResponse_Chunk{Chunk: b}
	case *pluginv1.DoUploadRequest:
		m.Msg = &pluginv1.DoUploadRequest_Chunk{Chunk: b}
	case *pluginv1.DoUploadResponse:
		m.Msg = &pluginv1.DoUploadResponse_Chunk{Chunk: b}
	case *pluginv1.DoResponse:
		m.Msg = &pluginv1.DoResponse_Chunk{Chunk: b}
	}
}

// loneChunk returns a copy of the payload when data is exactly one
// `bytes chunk = 2` field, in a buffer from the chunk pool when it fits.
func loneChunk(data mem.BufferSlice) ([]byte, bool) {
	total := data.Len()
	var head [1 + binary.MaxVarintLen64]byte
	n := copyHead(data, head[:min(total, len(head))])
	if n < 2 || head[0] != chunkTag {
		return nil, false
	}
	l, k := protowire.ConsumeVarint(head[1:n])
	if k < 0 || uint64(total-1-k) != l {
		return nil, false
	}
	b := getChunk(int(l))
	r := data.Reader()
	defer r.Close()
	if _, err := r.Discard(1 + k); err != nil {
		return nil, false
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, false
	}
	return b, true
}

// copyHead copies the first len(dst) bytes of data into dst.
func copyHead(data mem.BufferSlice, dst []byte) int {
	n := 0
	for _, b := range data {
		if n == len(dst) {
			break
		}
		n += copy(dst[n:], b.ReadOnlyData())
	}
	return n
}
