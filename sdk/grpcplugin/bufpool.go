package grpcplugin

import "sync"

// One pool holds the buffers every byte of an artifact passes through in
// this process: the chunks a sender fills (sendChunks, chunkSender), the
// chunks the codec receives into (getChunk), the marshalled chunk messages
// (the codec's wirePool) and the copy buffer of a data channel read. A
// fresh 256 KiB allocation per chunk cost more than all the copies around
// it (zeroing, page faults and GC for every byte, in every process it
// crosses); one pool instead of one per use lets a buffer freed on one
// road serve the next chunk on another.
//
// Buffers are not zeroed: every user overwrites what it reads.

// bufCap is the capacity of a pooled buffer: one ChunkSize chunk, or one
// marshalled chunk message (the chunk with its field key and length).
const bufCap = ChunkSize + 16

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, bufCap); return &b }}

// getBuf returns a buffer of length n, pooled when n fits one.
func getBuf(n int) *[]byte {
	if n > bufCap {
		b := make([]byte, n)
		return &b
	}
	b := bufs.Get().(*[]byte)
	*b = (*b)[:n]
	return b
}

// putBuf hands a buffer from getBuf back. The caller must not touch it
// (or anything sliced from it) afterwards.
func putBuf(b *[]byte) {
	if cap(*b) == bufCap {
		bufs.Put(b)
	}
}

// getChunk returns a buffer of length n for a received chunk, which
// travels as the []byte of its message rather than as a *[]byte.
func getChunk(n int) []byte {
	if n == 0 || n > ChunkSize {
		return make([]byte, n)
	}
	return *getBuf(n)
}

// putChunk hands a received chunk back for reuse once nothing refers to it
// any more; one that is not handed back is simply garbage collected. The
// caller must not touch b (or anything sliced from it) afterwards.
func putChunk(b []byte) {
	if cap(b) == bufCap {
		putBuf(&b)
	}
}

// wireBufs is the mem.BufferPool of the marshalled chunk messages. Unlike
// gRPC's default pool it does not zero a buffer it hands out: Marshal
// overwrites every byte.
type wireBufs struct{}

var wirePool wireBufs

func (wireBufs) Get(size int) *[]byte { return getBuf(size) }
func (wireBufs) Put(b *[]byte)        { putBuf(b) }
