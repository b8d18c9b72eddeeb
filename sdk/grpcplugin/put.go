package grpcplugin

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
)

// One Put, both ends: the host's SinkClient.Put sends an object's bytes on
// the data channel (putData) or in chunk messages (putChunks), the plugin's
// SinkServer.Put turns what arrives back into a body for the sink. Either
// way the trailer on the gRPC stream closes the bytes, and the sink's body
// ends in io.EOF only when the trailer matched (receive.go).

// BodySHA256 is an optional interface of a PutRequest.Body that knows the
// SHA-256 of the bytes it yields (core's fan-out computes it on the way
// through, for the manifest). SinkClient.Put then puts that digest in the
// trailer instead of hashing every byte a second time. SHA256 is called
// only after the body returned io.EOF and must return the digest of
// exactly the bytes it yielded.
//
// The body a SinkServer hands to its sink implements it too: after the
// body returned io.EOF (the trailer's size and CRC-32C matched what
// arrived), SHA256 returns the sender's digest, for a sink that records
// it. The sink does not re-hash: the digest is the one core recorded for
// these bytes, and the CRC-32C proved the sink received those bytes. The
// CRC covers the bytes from SinkClient.Put on; the digest covers them from
// where the sender computed it.
type BodySHA256 interface {
	SHA256() []byte
}

// Put streams req.Body to the plugin, on the host's data channel when the
// plugin reads from one and the object is large enough, else in chunks.
func (s *SinkClient) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	if s.dataChannel.Load() && !s.noData.Load() && s.data.use(req.Size) {
		if p := s.data.listener(); p != nil {
			resp, fallBack, err := s.putData(ctx, p, req)
			if !fallBack {
				return resp, err
			}
			s.noData.Store(true)
		}
	}
	return s.putChunks(ctx, req)
}

// putData streams req.Body on the data channel: the header carries a fresh
// token, the plugin connects and presents it, the bytes follow raw, and the
// trailer (size, sha256) closes the gRPC stream as in putChunks. fallBack
// is true when the plugin could not connect and nothing was read from the
// body: the caller then sends it in chunks.
func (s *SinkClient) putData(ctx context.Context, p *dataPort, req sdk.PutRequest) (_ sdk.PutResponse, fallBack bool, _ error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.c.Put(ctx)
	if err != nil {
		return sdk.PutResponse{}, false, fromStatus(err)
	}
	tok := newDataToken()
	// The server answers only at the end, or early when it fails; waiting
	// for it beside the transfer is what lets a failed sink stop the wait
	// for its connection and the writes.
	var resp pluginv1.PutResponse
	var respErr error
	answered := make(chan struct{})
	go func() {
		respErr = stream.RecvMsg(&resp)
		close(answered)
	}()
	serverErr := func() error {
		<-answered
		if respErr == nil {
			return sdk.Permanent("sink ended the upload of %s before it was complete", req.Path)
		}
		return fromStatus(respErr)
	}
	hdr := &pluginv1.PutHeader{Path: req.Path, MediaType: req.MediaType, Size: req.Size, DataAddress: p.addr, DataToken: tok}
	if err := stream.Send(&pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Header{Header: hdr}}); err != nil {
		return sdk.PutResponse{}, false, serverErr()
	}
	conn, err := p.claim(ctx, tok, answered)
	if errors.Is(err, errDataAborted) {
		// The sink answered before it connected: it could not (the typed
		// reason; the bytes are all still here), or the Put failed for a
		// reason of its own, which stays the Put's error.
		err = serverErr()
		return sdk.PutResponse{}, sdk.ReasonOf(err) == sdk.ReasonNoDataChannel, err
	}
	if err != nil {
		return sdk.PutResponse{}, false, err
	}
	defer conn.Close()
	defer closeOnDone(ctx, conn)()
	var h hash.Hash = nopHash{}
	digest, hasDigest := req.Body.(BodySHA256)
	if !hasDigest {
		h = sha256.New()
	}
	n, sum, err := sendData(conn, req.Body, h)
	if errors.Is(err, errSend) {
		return sdk.PutResponse{}, false, serverErr()
	}
	if err != nil {
		cancel() // no trailer: the sink sees a broken stream and keeps nothing
		return sdk.PutResponse{}, false, err
	}
	// End of bytes; the sink now waits for the trailer.
	conn.Close()
	if hasDigest {
		sum = digest.SHA256()
	}
	if len(sum) != sha256.Size {
		cancel()
		return sdk.PutResponse{}, false, sdk.Permanent("the body of %s ended without its sha256", req.Path)
	}
	if err := stream.Send(&pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Trailer{Trailer: &pluginv1.PutTrailer{Size: n, Sha256: sum}}}); err != nil {
		return sdk.PutResponse{}, false, serverErr()
	}
	if err := stream.CloseSend(); err != nil {
		return sdk.PutResponse{}, false, serverErr()
	}
	<-answered
	if respErr != nil {
		return sdk.PutResponse{}, false, fromStatus(respErr)
	}
	return sdk.PutResponse{Size: resp.GetSize()}, false, nil
}

// putChunks streams req.Body to the plugin in chunks and closes the stream
// with a trailer of size, CRC-32C (which the sink checks) and sha256 (which
// the sink may record: the body's own when it is a BodySHA256, else
// computed here). If Body fails, the stream is cancelled without a
// trailer, so the sink stores nothing; the error is Body's.
func (s *SinkClient) putChunks(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.c.Put(ctx)
	if err != nil {
		return sdk.PutResponse{}, fromStatus(err)
	}
	// serverErr collects the sink's own error when it stops the stream
	// early (Send then only reports io.EOF).
	serverErr := func() error {
		_, err := stream.CloseAndRecv()
		if err == nil {
			err = sdk.Permanent("sink ended the upload of %s before it was complete", req.Path)
		}
		return fromStatus(err)
	}
	if err := stream.Send(&pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Header{Header: &pluginv1.PutHeader{Path: req.Path, MediaType: req.MediaType, Size: req.Size, TrailerCrc32C: true}}}); err != nil {
		return sdk.PutResponse{}, serverErr()
	}
	// The CRC-32C checks the hop; the sha256 is computed here only when the
	// body does not bring its own (core's fan-out does, for the manifest).
	crc := newCRC()
	var h hash.Hash = crc
	var own hash.Hash
	digest, hasDigest := req.Body.(BodySHA256)
	if !hasDigest {
		own = sha256.New()
		h = teeHash{crc, own}
	}
	n, crcSum, err := sendChunks(req.Body, h, func(b []byte) error {
		return stream.Send(&pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Chunk{Chunk: b}})
	})
	var sum []byte
	if err == nil {
		if hasDigest {
			sum = digest.SHA256()
		} else {
			sum = own.Sum(nil)
		}
		if len(sum) != sha256.Size {
			cancel() // no trailer: the sink keeps nothing
			return sdk.PutResponse{}, sdk.Permanent("the body of %s ended without its sha256", req.Path)
		}
	}
	if errors.Is(err, errSend) {
		return sdk.PutResponse{}, serverErr()
	}
	if err != nil {
		cancel() // no trailer: the sink sees a broken stream and keeps nothing
		return sdk.PutResponse{}, err
	}
	if err := stream.Send(&pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Trailer{Trailer: &pluginv1.PutTrailer{Size: n, Sha256: sum, Crc32C: crcSum}}}); err != nil {
		return sdk.PutResponse{}, serverErr()
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return sdk.PutResponse{}, fromStatus(err)
	}
	return sdk.PutResponse{Size: resp.GetSize()}, nil
}

func (s *SinkServer) Put(stream pluginv1.SinkService_PutServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hdr := first.GetHeader()
	if hdr == nil {
		return toStatus(sdk.Permanent("Put stream did not start with a header"))
	}
	var body receivedBody
	if tok := hdr.GetDataToken(); len(tok) > 0 {
		conn, err := dialData(stream.Context(), hdr.GetDataAddress(), tok)
		if err != nil {
			// The host sends the object again in chunks on this reason.
			return toStatus(sdk.WithReason(sdk.KindRetryable, sdk.ReasonNoDataChannel, fmt.Errorf("%s: %w", noDataChannelText, err)))
		}
		defer conn.Close()
		defer closeOnDone(stream.Context(), conn)()
		body = &dataReader{bodyEnd: bodyEnd{what: hdr.GetPath()}, conn: conn, trailer: func() (*trailer, error) {
			m, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			t := m.GetTrailer()
			if t == nil {
				return nil, sdk.Permanent("host broke the protocol: a chunk of %s arrived on the gRPC stream while the data channel was open", hdr.GetPath())
			}
			return &trailer{size: t.GetSize(), sha256: t.GetSha256()}, nil
		}, accept: func(t *trailer) bool { return len(t.sha256) == sha256.Size }}
	} else {
		body = s.chunkBody(stream, hdr)
	}
	resp, err := s.Impl.Put(stream.Context(), sdk.PutRequest{Path: hdr.GetPath(), MediaType: hdr.GetMediaType(), Size: hdr.GetSize(), Body: putBody{body}})
	if err != nil {
		return toStatus(err)
	}
	if !body.complete() {
		// The sink did not read to the end: a sink bug, and the object it
		// stored is not the one that was sent.
		return toStatus(sdk.Permanent("sink returned from Put of %s before reading the whole body", hdr.GetPath()))
	}
	return stream.SendAndClose(&pluginv1.PutResponse{Size: resp.Size})
}

// noDataChannelText starts the message of a sink server that cannot reach
// the host's data channel. The host decides on the error's reason
// (ReasonNoDataChannel), never on this text; hosts before that reason
// existed matched the text, so it stays the same for them.
const noDataChannelText = "data channel unavailable"

// chunkBody is the body of a Put whose bytes come in chunk messages.
func (s *SinkServer) chunkBody(stream pluginv1.SinkService_PutServer, hdr *pluginv1.PutHeader) *trailerReader {
	// Check the hop with the CRC-32C when the sender announced it, else
	// (an older sender) with the sha256, which then has to be computed.
	useCRC := hdr.GetTrailerCrc32C()
	var h hash.Hash = sha256.New()
	if useCRC {
		h = newCRC()
	}
	return &trailerReader{bodyEnd: bodyEnd{what: hdr.GetPath()}, h: h, recv: func() ([]byte, *trailer, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, nil, err
		}
		if t := m.GetTrailer(); t != nil {
			tr := &trailer{size: t.GetSize(), sum: t.GetSha256(), sha256: t.GetSha256()}
			if useCRC {
				tr.sum = t.GetCrc32C()
				if len(tr.sha256) != sha256.Size {
					// Nothing to record: refuse it like a damaged stream.
					tr.sum = nil
				}
			}
			return nil, tr, nil
		}
		return m.GetChunk(), nil, nil
	}}
}

// putBody is the body a SinkServer hands to its sink: it answers the
// sender's sha256 (BodySHA256) once the stream checked out. Only this body
// does: an exporter's artifact carries no sha256, core computes it.
type putBody struct{ receivedBody }

func (b putBody) SHA256() []byte { return b.digest() }
