package grpcplugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/agolpipe/agolpipe/sdk"
)

// The receiving end of the byte road: a body that arrived from the other
// process, in chunk messages (trailerReader) or on a data channel
// (dataReader), ends in io.EOF only when the trailer on the gRPC stream
// matched what arrived; a sink's Get comes back as a chunkReader. See
// send.go for the sending end and put.go and artifact.go for the two hops
// that use both.

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

// bodyEnd is how a received body ended, shared by the two ways bytes
// arrive (chunks, data channel).
type bodyEnd struct {
	what string
	n    int64
	err  error
	// done: the trailer matched; ended: the trailer (matching or not, or
	// the sender's error) was consumed, so the stream is at a boundary.
	done, ended bool
	// sha256 is the trailer's digest to record, once done.
	sha256 []byte
}

// settle records the end of the body from the trailer (or the error that
// came instead of one); sumOK says whether the trailer's checksum matched
// what arrived.
func (e *bodyEnd) settle(t *trailer, err error, sumOK bool) {
	switch {
	case err == io.EOF:
		e.err = sdk.Classify(sdk.KindCanceled, fmt.Errorf("stream of %s ended after %d bytes without its trailer: %w", e.what, e.n, io.ErrUnexpectedEOF))
	case err != nil:
		e.err = fromStatus(err)
	case t == nil:
		e.err = sdk.Permanent("stream of %s: expected its trailer", e.what)
	case t.err != nil:
		e.err, e.ended = t.err, true
	default:
		e.ended = true
		if t.size != e.n || !sumOK {
			e.err = sdk.Permanent("stream of %s arrived damaged: got %d bytes, sender sent %d (or checksums differ)", e.what, e.n, t.size)
		} else {
			e.err, e.done, e.sha256 = io.EOF, true, t.sha256
		}
	}
}

// digest is the sender's sha256 of the body, nil until the body ended
// with a matching trailer.
func (e *bodyEnd) digest() []byte {
	if !e.done {
		return nil
	}
	return e.sha256
}

// complete says whether the body ended with a matching trailer.
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

// skip reads the rest of the chunks (the sinks stopped early).
func (r *trailerReader) skip() error {
	if !r.ended && r.err == nil {
		_, _ = io.Copy(io.Discard, r)
	}
	if !r.ended {
		return r.err
	}
	return nil
}

// dataReader is the receiving end of a data channel: the raw bytes until
// the sender closes the connection, then the trailer from the gRPC stream.
// Like trailerReader it returns io.EOF only when the trailer's size matched
// what arrived; any other end is an error.
type dataReader struct {
	bodyEnd
	conn net.Conn
	// trailer receives the trailer once the connection reached its end.
	trailer func() (*trailer, error)
	// accept, when set, checks the trailer beyond its size (the sink hop
	// needs the sha256 to record). No checksum is compared: a local stream
	// socket neither loses nor reorders bytes, and the size catches a
	// sender that stopped early.
	accept func(*trailer) bool
}

func (r *dataReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.conn.Read(p)
	r.n += int64(n)
	switch {
	case err == io.EOF:
		r.finish()
	case err != nil:
		r.err = sdk.Retryable("data channel of %s broke after %d bytes: %v", r.what, r.n, err)
	}
	if n > 0 {
		return n, nil
	}
	return 0, r.err
}

// WriteTo copies the channel to w. A writer that can take the bytes
// straight from the socket (io.ReaderFrom: a file, where Linux splices
// socket to page cache without passing them through this process) is
// given the connection; others get large pieces (the local sink writes
// each with one system call).
func (r *dataReader) WriteTo(w io.Writer) (int64, error) {
	if r.err != nil {
		return 0, noEOF(r.err)
	}
	if rf, ok := w.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r.conn)
		r.n += n
		if err != nil {
			if !channelBroke(err) {
				// The writer's own failure (splice reports both sides'
				// errors as one): a full disk must reach the sink as what
				// it is, for the sink to classify, not as a broken channel
				// that a retry would mend.
				r.err = err
				return n, err
			}
			r.err = sdk.Retryable("data channel of %s broke after %d bytes: %v", r.what, r.n, err)
			return n, r.err
		}
		r.finish()
		return n, noEOF(r.err)
	}
	buf := getBuf(ChunkSize)
	defer putBuf(buf)
	var total int64
	for {
		n, err := r.Read(*buf)
		if n > 0 {
			k, werr := w.Write((*buf)[:n])
			total += int64(k)
			if werr != nil {
				return total, werr
			}
		}
		if err != nil {
			return total, noEOF(err)
		}
	}
}

// channelBroke says whether an error of a copy from the data channel into
// a writer came from the channel (the socket was reset, closed or timed
// out) rather than from the writer. os.File.ReadFrom reports both as a
// "write" error of the file; the socket's side is recognised by its errors.
func channelBroke(err error) bool {
	var op *net.OpError
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &op) && op.Op == "read"
}

// noEOF is WriteTo's error for a reader's: nil at the (checked) end.
func noEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// finish receives the trailer after the connection's end and settles the
// body.
func (r *dataReader) finish() {
	r.conn.Close()
	t, err := r.trailer()
	r.settle(t, err, t != nil && (r.accept == nil || r.accept(t)))
}

// skip abandons the rest of the body: closing the connection makes the
// sender's writes fail, and the trailer it then sends is consumed so that
// the gRPC stream stays in step. It reports the error that broke the
// stream, if it did.
func (r *dataReader) skip() error {
	r.conn.Close()
	if !r.ended && r.err == nil {
		r.finish()
	}
	if !r.ended {
		return r.err
	}
	return nil
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
