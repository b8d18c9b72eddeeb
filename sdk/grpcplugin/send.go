package grpcplugin

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/agolpipe/agolpipe/sdk"
)

// The sending end of the byte road: a body is read once, in pieces of at
// most ChunkSize in buffers from the one pool (bufpool.go), hashed on the
// way, and handed to a gRPC Send (chunk messages) or written to a data
// channel connection (sendData). receive.go is the other end.

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
	buf := getBuf(ChunkSize)
	defer putBuf(buf)
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
			w.buf = getBuf(ChunkSize)
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
		putBuf(w.buf)
		w.buf = nil
	}
}

// sendData sends body on a data channel and returns the bytes sent and
// h's sum of them (errSend when the receiver went away). A file is copied
// by the kernel (sendfile(2) on Linux) when nothing needs to see its bytes;
// anything else takes sendChunks' road, the same pieces chunk messages
// carry, written to the socket instead of sent as messages.
func sendData(conn net.Conn, body io.Reader, h hash.Hash) (int64, []byte, error) {
	if f, isFile := body.(*os.File); isFile {
		if _, noHash := h.(nopHash); noHash {
			n, err := io.Copy(conn, f)
			if err != nil && isPeerGone(err) {
				return n, nil, errSend
			}
			return n, nil, err
		}
	}
	return sendChunks(body, h, func(b []byte) error {
		_, err := conn.Write(b)
		return err
	})
}

// isPeerGone says whether a write failed because the other end closed the
// channel (as opposed to the body failing). Linux's sendfile reports EPIPE
// or ECONNRESET; elsewhere the copy goes through the connection's Write,
// whose errors are *net.OpError "write" (Windows has its own errno values).
func isPeerGone(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &op) && op.Op == "write"
}
