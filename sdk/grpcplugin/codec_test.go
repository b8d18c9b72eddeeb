package grpcplugin

import (
	"bytes"
	"io"
	"testing"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// split cuts wire bytes into buffers of at most size bytes, as gRPC's
// transport hands a message over in frames.
func split(b []byte, size int) mem.BufferSlice {
	var out mem.BufferSlice
	for len(b) > 0 {
		k := min(size, len(b))
		out = append(out, mem.SliceBuffer(append([]byte(nil), b[:k]...)))
		b = b[k:]
	}
	return out
}

// TestCodecMatchesProto checks that the chunk codec writes exactly proto's
// bytes and reads back what proto reads, for chunk messages of every size
// class and for the messages it leaves to the standard codec, however the
// transport splits the bytes.
func TestCodecMatchesProto(t *testing.T) {
	cases := []struct {
		name string
		msg  func() proto.Message
		zero func() proto.Message
	}{
		{"export chunk empty", func() proto.Message {
			return &pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_Chunk{Chunk: []byte{}}}
		}, func() proto.Message { return &pluginv1.ExportResponse{} }},
		{"export chunk 1 byte", func() proto.Message {
			return &pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_Chunk{Chunk: pattern(1)}}
		}, func() proto.Message { return &pluginv1.ExportResponse{} }},
		{"export chunk full", func() proto.Message {
			return &pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_Chunk{Chunk: pattern(ChunkSize)}}
		}, func() proto.Message { return &pluginv1.ExportResponse{} }},
		{"export chunk larger than the pool", func() proto.Message {
			return &pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_Chunk{Chunk: pattern(ChunkSize + 1000)}}
		}, func() proto.Message { return &pluginv1.ExportResponse{} }},
		{"export artifact end", func() proto.Message {
			return &pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_ArtifactEnd{ArtifactEnd: &pluginv1.ArtifactEnd{Size: 5, Crc32C: pattern(4)}}}
		}, func() proto.Message { return &pluginv1.ExportResponse{} }},
		{"put chunk", func() proto.Message {
			return &pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Chunk{Chunk: pattern(70000)}}
		}, func() proto.Message { return &pluginv1.PutRequest{} }},
		{"put header", func() proto.Message {
			return &pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Header{Header: &pluginv1.PutHeader{Path: "a/b", Size: -1, TrailerCrc32C: true}}}
		}, func() proto.Message { return &pluginv1.PutRequest{} }},
		{"put trailer", func() proto.Message {
			return &pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Trailer{Trailer: &pluginv1.PutTrailer{Size: 3, Sha256: pattern(32), Crc32C: pattern(4)}}}
		}, func() proto.Message { return &pluginv1.PutRequest{} }},
		{"get chunk", func() proto.Message {
			return &pluginv1.GetResponse{Msg: &pluginv1.GetResponse_Chunk{Chunk: pattern(16385)}}
		}, func() proto.Message { return &pluginv1.GetResponse{} }},
		{"get opened", func() proto.Message {
			return &pluginv1.GetResponse{Msg: &pluginv1.GetResponse_Opened{Opened: &pluginv1.GetOpened{}}}
		}, func() proto.Message { return &pluginv1.GetResponse{} }},
		{"other message", func() proto.Message {
			return &pluginv1.StatRequest{Path: "x"}
		}, func() proto.Message { return &pluginv1.StatRequest{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(tc.msg())
			if err != nil {
				t.Fatal(err)
			}
			got, err := codec.Marshal(tc.msg())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Materialize(), want) {
				t.Fatalf("Marshal differs from proto: %d bytes, proto %d", got.Len(), len(want))
			}
			got.Free()
			for _, frame := range []int{1, 3, 16 << 10, len(want) + 1} {
				m := tc.zero()
				if err := codec.Unmarshal(split(want, frame), m); err != nil {
					t.Fatalf("frames of %d: %v", frame, err)
				}
				if !proto.Equal(m, tc.msg()) {
					t.Fatalf("frames of %d: read back %v", frame, m)
				}
			}
		})
	}
}

// TestCodecRefusesMalformedChunk checks that a chunk whose length does not
// match the message is left to proto, which reports it.
func TestCodecRefusesMalformedChunk(t *testing.T) {
	wire := []byte{chunkTag, 5, 1, 2, 3} // says 5 bytes, carries 3
	if err := codec.Unmarshal(split(wire, 2), &pluginv1.PutRequest{}); err == nil {
		t.Fatal("a truncated chunk was accepted")
	}
}

// TestReusedChunksKeepContent streams chunks through the pool: a chunk
// handed back and reused must not change bytes already delivered.
func TestReusedChunksKeepContent(t *testing.T) {
	var sent [][]byte
	for i := range 8 {
		b := pattern(ChunkSize)
		b[0] = byte(i)
		sent = append(sent, b)
	}
	i := 0
	r := &trailerReader{bodyEnd: bodyEnd{what: "x"}, h: newCRC(), recv: func() ([]byte, *trailer, error) {
		if i == len(sent) {
			h := newCRC()
			for _, b := range sent {
				h.Write(b)
			}
			return nil, &trailer{size: int64(len(sent) * ChunkSize), sum: h.Sum(nil)}, nil
		}
		wire, _ := proto.Marshal(&pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Chunk{Chunk: sent[i]}})
		i++
		var m pluginv1.PutRequest
		if err := codec.Unmarshal(split(wire, 16<<10), &m); err != nil {
			return nil, nil, err
		}
		return m.GetChunk(), nil, nil
	}}
	var got bytes.Buffer
	if _, err := io.Copy(&got, r); err != nil { // through WriteTo
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), bytes.Join(sent, nil)) {
		t.Fatal("bytes changed on the way through reused chunk buffers")
	}
}

// TestEveryChunkMessageTakesThePool checks that each message carrying
// artifact or body bytes (the restore's and the portal's as well as the
// export's and the sinks') is read into a pooled buffer and reads back
// what proto wrote: the restore road's went through the standard codec,
// one fresh 256 KiB allocation per chunk per hop.
func TestEveryChunkMessageTakesThePool(t *testing.T) {
	data := pattern(ChunkSize)
	msgs := []struct{ full, zero proto.Message }{
		{&pluginv1.ExportResponse{Msg: &pluginv1.ExportResponse_Chunk{Chunk: data}}, &pluginv1.ExportResponse{}},
		{&pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Chunk{Chunk: data}}, &pluginv1.PutRequest{}},
		{&pluginv1.GetResponse{Msg: &pluginv1.GetResponse_Chunk{Chunk: data}}, &pluginv1.GetResponse{}},
		{&pluginv1.ReadArtifactResponse{Msg: &pluginv1.ReadArtifactResponse_Chunk{Chunk: data}}, &pluginv1.ReadArtifactResponse{}},
		{&pluginv1.PortalUploadRequest{Msg: &pluginv1.PortalUploadRequest_Chunk{Chunk: data}}, &pluginv1.PortalUploadRequest{}},
		{&pluginv1.PortalUploadResponse{Msg: &pluginv1.PortalUploadResponse_Chunk{Chunk: data}}, &pluginv1.PortalUploadResponse{}},
		{&pluginv1.PortalResponse{Msg: &pluginv1.PortalResponse_Chunk{Chunk: data}}, &pluginv1.PortalResponse{}},
		{&pluginv1.DoUploadRequest{Msg: &pluginv1.DoUploadRequest_Chunk{Chunk: data}}, &pluginv1.DoUploadRequest{}},
		{&pluginv1.DoUploadResponse{Msg: &pluginv1.DoUploadResponse_Chunk{Chunk: data}}, &pluginv1.DoUploadResponse{}},
		{&pluginv1.DoResponse{Msg: &pluginv1.DoResponse_Chunk{Chunk: data}}, &pluginv1.DoResponse{}},
	}
	for _, m := range msgs {
		name := string(m.full.ProtoReflect().Descriptor().Name())
		want, err := proto.Marshal(m.full)
		if err != nil {
			t.Fatal(err)
		}
		got, err := codec.Marshal(m.full)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Materialize(), want) {
			t.Fatalf("%s: Marshal differs from proto", name)
		}
		got.Free()
		if err := codec.Unmarshal(split(want, 16<<10), m.zero); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !proto.Equal(m.zero, m.full) {
			t.Fatalf("%s: read back differs", name)
		}
		b, _ := chunkOf(m.zero)
		if cap(b) != bufCap {
			t.Fatalf("%s: chunk read into a buffer of cap %d, not the pool's (%d)", name, cap(b), bufCap)
		}
	}
}
