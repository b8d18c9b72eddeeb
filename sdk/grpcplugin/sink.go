package grpcplugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// GRPCServer registers the sink server adapter.
func (p *SinkPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterSinkServiceServer(s, &SinkServer{Impl: p.Impl})
	return nil
}

// GRPCClient returns an sdk.Sink that calls the plugin.
func (p *SinkPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewSinkClient(ctx, pluginv1.NewSinkServiceClient(c))
}

// SinkClient implements sdk.Sink by calling a SinkService. It is safe for
// concurrent use.
type SinkClient struct {
	c      pluginv1.SinkServiceClient
	info   sdk.Info
	schema sdk.Schema
	once   sync.Once
	// dataChannel: the server reads objects from the host's data channel
	// (it said so at Configure); noData: it could not reach it, so chunks
	// it is from then on.
	dataChannel, noData atomic.Bool
}

// NewSinkClient asks the plugin to describe itself and returns the adapter.
func NewSinkClient(ctx context.Context, c pluginv1.SinkServiceClient) (*SinkClient, error) {
	_, info, schema, err := describe(ctx, "sink", c.Describe, &pluginv1.SinkServiceDescribeRequest{})
	if err != nil {
		return nil, err
	}
	return &SinkClient{c: c, info: info, schema: schema}, nil
}

func (s *SinkClient) Info() sdk.Info     { return s.info }
func (s *SinkClient) Schema() sdk.Schema { return s.schema }

func (s *SinkClient) Configure(ctx context.Context, req sdk.ConfigureRequest) (sdk.SinkConfigureResponse, sdk.Diagnostics) {
	cfg, err := encodeConfig(req.Config, s.schema)
	if err != nil {
		return sdk.SinkConfigureResponse{}, diagsFromError("Invalid sink configuration", err)
	}
	resp, err := s.c.Configure(ctx, &pluginv1.SinkServiceConfigureRequest{Config: cfg})
	if err != nil {
		return sdk.SinkConfigureResponse{}, diagsFromError("Sink plugin failed to configure", fromStatus(err))
	}
	f := resp.GetFeatures()
	s.dataChannel.Store(f.GetDataChannel())
	return sdk.SinkConfigureResponse{Features: sdk.SinkFeatures{MaxPathLength: int(f.GetMaxPathLength()), RangeGet: f.GetRangeGet(), Location: f.GetLocation()}}, diagsFromProto(resp.GetDiagnostics())
}

func (s *SinkClient) Preflight(ctx context.Context) error {
	_, err := s.c.Preflight(ctx, &pluginv1.PreflightRequest{})
	return fromStatus(err)
}

// Put streams req.Body to the plugin, on the host's data channel when the
// plugin reads from one and the object is large enough, else in chunks.
func (s *SinkClient) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	if s.dataChannel.Load() && !s.noData.Load() && useDataChannel(req.Size) {
		if p := hostDataPort(); p != nil {
			resp, err, fallBack := s.putData(ctx, p, req)
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
func (s *SinkClient) putData(ctx context.Context, p *dataPort, req sdk.PutRequest) (_ sdk.PutResponse, _ error, fallBack bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.c.Put(ctx)
	if err != nil {
		return sdk.PutResponse{}, fromStatus(err), false
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
		return sdk.PutResponse{}, serverErr(), false
	}
	conn, err := p.claim(ctx, tok, answered)
	if errors.Is(err, errDataAborted) {
		err = serverErr()
		return sdk.PutResponse{}, err, strings.Contains(err.Error(), errNoDataChannel)
	}
	if err != nil {
		return sdk.PutResponse{}, err, false
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
		return sdk.PutResponse{}, serverErr(), false
	}
	if err != nil {
		cancel() // no trailer: the sink sees a broken stream and keeps nothing
		return sdk.PutResponse{}, err, false
	}
	// End of bytes; the sink now waits for the trailer.
	conn.Close()
	if hasDigest {
		sum = digest.SHA256()
	}
	if len(sum) != sha256.Size {
		cancel()
		return sdk.PutResponse{}, sdk.Permanent("the body of %s ended without its sha256", req.Path), false
	}
	if err := stream.Send(&pluginv1.PutRequest{Msg: &pluginv1.PutRequest_Trailer{Trailer: &pluginv1.PutTrailer{Size: n, Sha256: sum}}}); err != nil {
		return sdk.PutResponse{}, serverErr(), false
	}
	if err := stream.CloseSend(); err != nil {
		return sdk.PutResponse{}, serverErr(), false
	}
	<-answered
	if respErr != nil {
		return sdk.PutResponse{}, fromStatus(respErr), false
	}
	return sdk.PutResponse{Size: resp.GetSize()}, nil, false
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

// teeHash writes to two hashes and sums the first.
type teeHash struct {
	hash.Hash
	also hash.Hash
}

func (t teeHash) Write(p []byte) (int, error) {
	t.also.Write(p)
	return t.Hash.Write(p)
}

// errSend marks a failed Send, whose real cause the caller fetches from the
// stream.
var errSend = errors.New("send failed")

// nopHash is for streams that need no trailer (Get: a truncated stream
// already ends in an error, not EOF).
type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 1 }

// sendChunks reads r to EOF in pieces of at most ChunkSize, hashing with
// h, and hands each piece to send. A reader that writes itself out in large
// pieces (io.WriterTo, such as the body of an artifact arriving from an
// exporter plugin, which writes its chunks as they arrived) passes them
// straight through, saving a copy of every byte. Files are read instead:
// their WriteTo goes through 32 KiB buffers, and reading into the chunk
// buffer is the one copy a file needs. send must be done with the slice
// when it returns: gRPC serializes a message before Send returns. A read
// error is returned as is (see shortBody for io.ErrUnexpectedEOF); a send
// error as errSend.
//
// Only the reader's own io.EOF ends the bytes cleanly. io.ReadFull is not
// used: it reports a short last piece as io.ErrUnexpectedEOF, which made a
// body that really ended early (net/http's "shorter than its
// Content-Length") indistinguishable from a clean end, and truncated
// downloads were stored as good.
func sendChunks(r io.Reader, h hash.Hash, send func([]byte) error) (int64, []byte, error) {
	if wt, ok := r.(io.WriterTo); ok {
		if _, isFile := r.(*os.File); !isFile {
			return sendWriterTo(wt, h, send)
		}
	}
	buf := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(buf)
	var n int64
	for {
		k, err := sdk.FillChunk(r, *buf)
		if k > 0 {
			h.Write((*buf)[:k])
			n += int64(k)
			if serr := send((*buf)[:k]); serr != nil {
				return n, nil, errSend
			}
		}
		if err == io.EOF {
			return n, h.Sum(nil), nil
		}
		if err != nil {
			return n, nil, shortBody(err, n)
		}
	}
}

// shortBody classifies a body that ended before its end as retryable (the
// cause is a connection cut or a server that stopped early, which a new
// attempt usually gets past); an error already classified keeps its kind.
func shortBody(err error, n int64) error {
	if errors.Is(err, io.ErrUnexpectedEOF) && !isClassified(err) {
		return sdk.Classify(sdk.KindRetryable, fmt.Errorf("the body ended after %d bytes, before its announced end: %w", n, err))
	}
	return err
}

func sendWriterTo(wt io.WriterTo, h hash.Hash, send func([]byte) error) (int64, []byte, error) {
	w := &chunkSender{h: h, send: send}
	defer w.release()
	n, err := wt.WriteTo(w)
	if err == nil {
		err = w.flush()
	}
	switch {
	case w.failed:
		return n, nil, errSend
	case err != nil:
		return n, nil, shortBody(err, n)
	}
	return n, h.Sum(nil), nil
}

// directWrite is the smallest Write a chunkSender sends as it is; smaller
// ones are gathered into a chunk first, so a WriterTo that writes in small
// pieces does not turn into many small messages.
const directWrite = ChunkSize / 4

// chunkSender is the io.Writer sendChunks gives a WriterTo: large writes go
// out as chunks of at most ChunkSize without a copy, small ones are
// gathered. Every byte is hashed once, when it is sent.
type chunkSender struct {
	h      hash.Hash
	send   func([]byte) error
	buf    *[]byte
	n      int
	failed bool
}

func (w *chunkSender) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.n == 0 && len(p) >= directWrite {
			k := min(len(p), ChunkSize)
			if err := w.emit(p[:k]); err != nil {
				return written, err
			}
			written += k
			p = p[k:]
			continue
		}
		if w.buf == nil {
			w.buf = chunkPool.Get().(*[]byte)
		}
		k := copy((*w.buf)[w.n:], p)
		w.n += k
		written += k
		p = p[k:]
		if w.n == len(*w.buf) {
			if err := w.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// flush sends the gathered bytes, if any.
func (w *chunkSender) flush() error {
	if w.n == 0 {
		return nil
	}
	err := w.emit((*w.buf)[:w.n])
	w.n = 0
	return err
}

func (w *chunkSender) emit(b []byte) error {
	w.h.Write(b)
	if err := w.send(b); err != nil {
		w.failed = true
		return errSend
	}
	return nil
}

func (w *chunkSender) release() {
	if w.buf != nil {
		chunkPool.Put(w.buf)
		w.buf = nil
	}
}

var chunkPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

func (s *SinkClient) Stat(ctx context.Context, path string) (sdk.ObjectInfo, error) {
	resp, err := s.c.Stat(ctx, &pluginv1.StatRequest{Path: path})
	if err != nil {
		return sdk.ObjectInfo{}, fromStatus(err)
	}
	return objectFromProto(resp.GetObject()), nil
}

// Get returns once the sink has opened the object, so a missing object is
// an error of Get itself, not of the first Read.
func (s *SinkClient) Get(ctx context.Context, req sdk.GetRequest) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := s.c.Get(ctx, &pluginv1.GetRequest{Path: req.Path, Offset: req.Offset, Length: req.Length})
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	if first.GetOpened() == nil {
		cancel()
		return nil, sdk.Permanent("sink plugin broke the protocol: Get did not start with 'opened'")
	}
	return &chunkReader{recv: func() ([]byte, error) {
		m, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		return m.GetChunk(), nil
	}, cancel: cancel}, nil
}

// chunkReader reads a server stream of chunks; io.EOF only at the clean end
// of the stream. Close cancels the stream.
type chunkReader struct {
	recv   func() ([]byte, error)
	cancel context.CancelFunc
	buf    []byte
	chunk  []byte // the whole chunk buf is the end of; pooled when used up
	err    error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 && r.chunk != nil {
		putChunk(r.chunk)
		r.chunk = nil
	}
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		b, err := r.recv()
		if err == io.EOF {
			r.err = io.EOF
			continue
		}
		if err != nil {
			r.err = fromStatus(err)
			continue
		}
		r.buf, r.chunk = b, b
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *chunkReader) Close() error {
	r.cancel()
	return nil
}

func (s *SinkClient) List(ctx context.Context, req sdk.ListRequest, fn func(sdk.ObjectInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.c.List(ctx, &pluginv1.ListRequest{Prefix: req.Prefix})
	if err != nil {
		return fromStatus(err)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fromStatus(err)
		}
		for _, o := range m.GetObjects() {
			if err := fn(objectFromProto(o)); err != nil {
				return err
			}
		}
	}
}

// DeleteReport implements sdk.DeleteReporter: the plugin's answer says
// whether the bytes are really gone (typed fields, not text).
func (s *SinkClient) DeleteReport(ctx context.Context, path string) (sdk.DeleteResult, error) {
	resp, err := s.c.Delete(ctx, &pluginv1.DeleteRequest{Path: path})
	if err != nil {
		return sdk.DeleteResult{}, fromStatus(err)
	}
	r := sdk.DeleteResult{Retained: resp.GetRetained(), RetainedBytes: resp.GetRetainedBytes(), LegalHold: resp.GetLegalHold(), Reason: resp.GetReason()}
	if n := resp.GetRetainUntilUnixNano(); n != 0 {
		r.RetainUntil = time.Unix(0, n).UTC()
	}
	return r, nil
}

func (s *SinkClient) Delete(ctx context.Context, path string) error {
	_, err := s.c.Delete(ctx, &pluginv1.DeleteRequest{Path: path})
	return fromStatus(err)
}

// Close closes the component in the plugin once; the process itself is the
// launcher's to stop.
func (s *SinkClient) Close() error {
	return closeOnce(&s.once, s.c.Close, &pluginv1.SinkServiceCloseRequest{})
}

// SinkServer serves any sdk.Sink as a SinkService.
type SinkServer struct {
	pluginv1.UnimplementedSinkServiceServer
	Impl sdk.Sink
}

func (s *SinkServer) Describe(context.Context, *pluginv1.SinkServiceDescribeRequest) (*pluginv1.SinkServiceDescribeResponse, error) {
	return &pluginv1.SinkServiceDescribeResponse{Info: infoToProto(s.Impl.Info()), Schema: schemaToProto(s.Impl.Schema())}, nil
}

func (s *SinkServer) Configure(ctx context.Context, req *pluginv1.SinkServiceConfigureRequest) (*pluginv1.SinkServiceConfigureResponse, error) {
	v, err := decodeConfig(req.GetConfig(), s.Impl.Schema())
	if err != nil {
		return &pluginv1.SinkServiceConfigureResponse{Diagnostics: diagsToProto(diagsFromError("Invalid sink configuration", err))}, nil
	}
	resp, diags := s.Impl.Configure(ctx, sdk.ConfigureRequest{Config: v})
	f := resp.Features
	return &pluginv1.SinkServiceConfigureResponse{Diagnostics: diagsToProto(diags), Features: &pluginv1.SinkFeatures{MaxPathLength: int64(f.MaxPathLength), RangeGet: f.RangeGet, Location: f.Location,
		DataChannel: true}}, nil
}

func (s *SinkServer) Preflight(ctx context.Context, _ *pluginv1.PreflightRequest) (*pluginv1.PreflightResponse, error) {
	return &pluginv1.PreflightResponse{}, toStatus(s.Impl.Preflight(ctx))
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
			// The host falls back to chunks when it sees this.
			return toStatus(sdk.Retryable("%s: %v", errNoDataChannel, err))
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

// errNoDataChannel starts the error a sink server returns when it cannot
// reach the host's data channel; the host then sends the object in chunks.
const errNoDataChannel = "data channel unavailable"

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

// trailer ends a chunk stream: the sender's size and checksum, or err when
// the sender's own body failed mid-way. sha256 is the digest to record,
// when the sender sent one besides the checksum.
type trailer struct {
	size   int64
	sum    []byte
	sha256 []byte
	err    error
}

// receivedBody is a body that arrived from the other process, in chunks or
// on a data channel: it ends in io.EOF only when the trailer matched, and
// then knows the sender's sha256, if the sender sent one.
type receivedBody interface {
	io.Reader
	io.WriterTo
	complete() bool
	digest() []byte
}

// putBody is the body a SinkServer hands to its sink: it answers the
// sender's sha256 (BodySHA256) once the stream checked out. Only this body
// does: an exporter's artifact carries no sha256, core computes it.
type putBody struct{ receivedBody }

func (b putBody) SHA256() []byte { return b.digest() }

func (e *bodyEnd) complete() bool { return e.done }

// trailerReader turns a chunk stream closed by a trailer into an io.Reader
// that returns io.EOF only when the trailer matched what arrived. Any other
// end (cancellation, a broken connection, a stream closed early) is an
// error, so the component reading it never mistakes a truncated body for a
// whole one.
type trailerReader struct {
	bodyEnd
	recv func() ([]byte, *trailer, error)
	h    hash.Hash
	buf  []byte
	// chunk is the whole chunk buf is the unread end of; it goes back to
	// the pool when it is used up.
	chunk []byte
}

func (r *trailerReader) Read(p []byte) (int, error) {
	if len(r.buf) == 0 && !r.next() {
		return 0, r.err
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// WriteTo hands each chunk to w as it arrives, without copying it, and
// returns nil only when the trailer matched. w must not keep the slices
// (the io.Writer contract).
func (r *trailerReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.buf) == 0 && !r.next() {
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		n, err := w.Write(r.buf)
		total += int64(n)
		r.buf = r.buf[n:]
		if err != nil {
			return total, err
		}
	}
}

// next receives until it has a non-empty chunk in r.buf (true) or the
// stream ended, well or badly, in r.err (false).
func (r *trailerReader) next() bool {
	if r.chunk != nil {
		putChunk(r.chunk)
		r.chunk = nil
	}
	for len(r.buf) == 0 {
		if r.err != nil {
			return false
		}
		b, t, err := r.recv()
		if err != nil || t != nil {
			r.settle(t, err, t != nil && bytes.Equal(t.sum, r.h.Sum(nil)))
			continue
		}
		r.h.Write(b)
		r.n += int64(len(b))
		r.buf, r.chunk = b, b
	}
	return true
}

func (s *SinkServer) Stat(ctx context.Context, req *pluginv1.StatRequest) (*pluginv1.StatResponse, error) {
	o, err := s.Impl.Stat(ctx, req.GetPath())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pluginv1.StatResponse{Object: objectToProto(o)}, nil
}

func (s *SinkServer) Get(req *pluginv1.GetRequest, stream pluginv1.SinkService_GetServer) error {
	rc, err := s.Impl.Get(stream.Context(), sdk.GetRequest{Path: req.GetPath(), Offset: req.GetOffset(), Length: req.GetLength()})
	if err != nil {
		return toStatus(err)
	}
	defer rc.Close()
	if err := stream.Send(&pluginv1.GetResponse{Msg: &pluginv1.GetResponse_Opened{Opened: &pluginv1.GetOpened{}}}); err != nil {
		return err
	}
	_, _, err = sendChunks(rc, nopHash{}, func(b []byte) error {
		return stream.Send(&pluginv1.GetResponse{Msg: &pluginv1.GetResponse_Chunk{Chunk: b}})
	})
	if errors.Is(err, errSend) {
		// The reader went away; nobody hears this error.
		return toStatus(sdk.Classify(sdk.KindCanceled, fmt.Errorf("reader of %s went away", req.GetPath())))
	}
	return toStatus(err)
}

// listBatch is how many objects travel in one List message.
const listBatch = 256

func (s *SinkServer) List(req *pluginv1.ListRequest, stream pluginv1.SinkService_ListServer) error {
	var batch []*pluginv1.ObjectInfo
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := stream.Send(&pluginv1.ListResponse{Objects: batch})
		batch = nil
		return err
	}
	err := s.Impl.List(stream.Context(), sdk.ListRequest{Prefix: req.GetPrefix()}, func(o sdk.ObjectInfo) error {
		batch = append(batch, objectToProto(o))
		if len(batch) >= listBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return toStatus(err)
	}
	return toStatus(flush())
}

func (s *SinkServer) Delete(ctx context.Context, req *pluginv1.DeleteRequest) (*pluginv1.DeleteResponse, error) {
	dr, ok := s.Impl.(sdk.DeleteReporter)
	if !ok {
		return &pluginv1.DeleteResponse{}, toStatus(s.Impl.Delete(ctx, req.GetPath()))
	}
	r, err := dr.DeleteReport(ctx, req.GetPath())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pluginv1.DeleteResponse{Retained: r.Retained, RetainedBytes: r.RetainedBytes, LegalHold: r.LegalHold, Reason: r.Reason}
	if !r.RetainUntil.IsZero() {
		resp.RetainUntilUnixNano = r.RetainUntil.UnixNano()
	}
	return resp, nil
}

func (s *SinkServer) Close(context.Context, *pluginv1.SinkServiceCloseRequest) (*pluginv1.SinkServiceCloseResponse, error) {
	return &pluginv1.SinkServiceCloseResponse{}, toStatus(s.Impl.Close())
}
