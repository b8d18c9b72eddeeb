package grpcplugin

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	"google.golang.org/grpc"
)

// putStream plays a sender's Put stream into a SinkServer, message by
// message, without a connection: the test controls every byte of the
// trailer.
type putStream struct {
	grpc.ServerStream
	msgs []*pluginv1.PutRequest
	resp *pluginv1.PutResponse
}

func (s *putStream) Context() context.Context { return context.Background() }

func (s *putStream) Recv() (*pluginv1.PutRequest, error) {
	if len(s.msgs) == 0 {
		return nil, io.EOF
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

func (s *putStream) SendAndClose(r *pluginv1.PutResponse) error {
	s.resp = r
	return nil
}

// recordingSink stores a body only when it read to a clean end, with the
// sha256 the body reported then, as a sink recording digests would.
type recordingSink struct {
	sdk.Sink
	stored []byte
	sum    []byte
}

func (s *recordingSink) Put(_ context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return sdk.PutResponse{}, err
	}
	s.stored = b
	s.sum = req.Body.(BodySHA256).SHA256()
	return sdk.PutResponse{Size: int64(len(b))}, nil
}

// TestPutServerChecksTrailer plays hand-made Put streams into a SinkServer:
// with the CRC-32C announced, the CRC and size decide and the sha256 is
// passed to the sink as sent; from a sender that did not announce it, the
// sha256 decides. Every stream that does not check out stores nothing.
func TestPutServerChecksTrailer(t *testing.T) {
	data := pattern(2*ChunkSize + 17)
	data[0], data[ChunkSize] = 1, 2 // pattern repeats: make the chunks differ
	chunks := [][]byte{data[:ChunkSize], data[ChunkSize : 2*ChunkSize], data[2*ChunkSize:]}
	crcOf := func(b []byte) []byte { return binary.BigEndian.AppendUint32(nil, crc32.Checksum(b, castagnoli)) }
	sum := sha256.Sum256(data)
	right, rightCRC := sum[:], crcOf(data)
	other := sha256.Sum256([]byte("other bytes"))
	flipped := append([]byte(nil), data...)
	flipped[ChunkSize+3] ^= 1

	cases := []struct {
		name    string
		crcMode bool
		chunks  [][]byte
		trailer *pluginv1.PutTrailer // nil: the stream ends without one
		stored  bool
		errHas  string
	}{
		{"crc matches", true, chunks, &pluginv1.PutTrailer{Size: int64(len(data)), Sha256: right, Crc32C: rightCRC}, true, ""},
		{"crc mismatch", true, chunks, &pluginv1.PutTrailer{Size: int64(len(data)), Sha256: right, Crc32C: crcOf(flipped)}, false, "arrived damaged"},
		{"crc missing", true, chunks, &pluginv1.PutTrailer{Size: int64(len(data)), Sha256: right}, false, "arrived damaged"},
		{"a chunk lost", true, [][]byte{chunks[0], chunks[2]}, &pluginv1.PutTrailer{Size: int64(len(data)), Sha256: right, Crc32C: rightCRC}, false, "arrived damaged"},
		{"chunks reordered", true, [][]byte{chunks[1], chunks[0], chunks[2]}, &pluginv1.PutTrailer{Size: int64(len(data)), Sha256: right, Crc32C: rightCRC}, false, "arrived damaged"},
		{"sha256 missing", true, chunks, &pluginv1.PutTrailer{Size: int64(len(data)), Crc32C: rightCRC}, false, "arrived damaged"},
		{"no trailer", true, chunks, nil, false, "without its trailer"},
		{"older sender, sha256 matches", false, chunks, &pluginv1.PutTrailer{Size: int64(len(data)), Sha256: right}, true, ""},
		{"older sender, sha256 differs", false, chunks, &pluginv1.PutTrailer{Size: int64(len(data)), Sha256: other[:]}, false, "arrived damaged"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msgs := []*pluginv1.PutRequest{{Msg: &pluginv1.PutRequest_Header{Header: &pluginv1.PutHeader{Path: "o.bin", Size: -1, TrailerCrc32C: tc.crcMode}}}}
			for _, c := range tc.chunks {
				msgs = append(msgs, &pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Chunk{Chunk: c}})
			}
			if tc.trailer != nil {
				msgs = append(msgs, &pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Trailer{Trailer: tc.trailer}})
			}
			sink := &recordingSink{}
			stream := &putStream{msgs: msgs}
			err := (&SinkServer{Impl: sink}).Put(stream)
			if tc.stored {
				if err != nil || stream.resp.GetSize() != int64(len(data)) || string(sink.stored) != string(data) {
					t.Fatalf("Put: %v, stored %d bytes, want all %d", err, len(sink.stored), len(data))
				}
				if string(sink.sum) != string(right) {
					t.Fatalf("the sink saw sha256 %x, want the sender's %x", sink.sum, right)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("Put returned %v, want an error saying %q", err, tc.errHas)
			}
			if sink.stored != nil {
				t.Fatalf("a stream that did not check out stored %d bytes", len(sink.stored))
			}
		})
	}
}
