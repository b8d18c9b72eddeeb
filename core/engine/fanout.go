package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/agolpipe/agolpipe/sdk"
)

// Fan-out tuning. Each sink, and the sha256, has a queue of sinkQueue
// chunks of chunkSize bytes, so one artifact in flight holds at most about
// (sinks+1) x (sinkQueue+1) x chunkSize bytes, whatever its size: a 50 GiB
// file geodatabase streams through a few MiB.
const (
	defaultChunkSize = 256 << 10
	defaultSinkQueue = 4
)

// chunk is one piece of an artifact, shared read-only by every sink's
// reader; the last reader to finish with it returns its buffer to the pool.
type chunk struct {
	buf  *[]byte
	n    int
	refs atomic.Int32
	pool *sync.Pool
}

func (c *chunk) release() {
	if c.refs.Add(-1) == 0 {
		c.pool.Put(c.buf)
	}
}

// target is one sink an artifact goes to, at its path in that sink.
type target struct {
	sink sdk.Sink
	path string
}

// fanoutResult is what happened to one artifact: its size and sha256 as
// read from the exporter, the source error that stopped the read (nil when
// the body was read to its end), and each target's Put error.
type fanoutResult struct {
	size   int64
	sha256 string
	srcErr error
	errs   []error
}

// fanout reads body once and streams it to every target concurrently. A
// target that fails stops receiving; the others go on. When the body fails
// (or its length disagrees with the declared size) every Put is made to
// fail too, so no sink publishes a truncated artifact. progress, when set,
// is told the size of each piece read (the run's progress line), so no
// reader of its own sits on the road for that.
func fanout(ctx context.Context, pool *sync.Pool, chunkSize, queue int, targets []target, a sdk.Artifact, body io.Reader, progress func(int64)) fanoutResult {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := fanoutResult{errs: make([]error, len(targets))}
	var failed atomic.Value // error: the source failure every reader reports
	queues := make([]chan *chunk, len(targets))
	var wg sync.WaitGroup
	var finished atomic.Int32
	// sum is the artifact's sha256, written before the queues close, so a
	// reader that saw the end of its queue may read it (SHA256).
	var sum []byte
	for i, t := range targets {
		q := make(chan *chunk, queue)
		queues[i] = q
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &chanReader{q: q, failed: &failed, sum: &sum}
			_, err := t.sink.Put(ctx, sdk.PutRequest{Path: t.path, MediaType: a.MediaType, Size: a.Size, Body: r})
			if err == nil && !r.eof {
				// A sink that returned before reading to the end stored
				// something other than the artifact.
				err = sdk.Permanent("sink returned before reading the whole artifact")
			}
			res.errs[i] = err
			finished.Add(1)
			r.drain()
		}()
	}

	// The sha256 is computed beside the sinks, as one more reader of every
	// chunk: reading the next chunk then overlaps hashing this one, which
	// matters because hashing is the largest cost core adds to each byte.
	h := sha256.New()
	hq := make(chan *chunk, queue)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for c := range hq {
			h.Write((*c.buf)[:c.n])
			c.release()
		}
	}()
	var srcErr error
	for {
		if int(finished.Load()) == len(targets) {
			break // every sink has given up; reading on is wasted work
		}
		bp := pool.Get().(*[]byte)
		// Only the body's own io.EOF is its end: io.ReadFull would turn a
		// body cut short (io.ErrUnexpectedEOF) into a clean end.
		n, err := sdk.FillChunk(body, (*bp)[:chunkSize])
		if n > 0 {
			res.size += int64(n)
			if progress != nil {
				progress(int64(n))
			}
			c := &chunk{buf: bp, n: n, pool: pool}
			c.refs.Store(int32(len(targets) + 1))
			hq <- c
			for _, q := range queues {
				select {
				case q <- c:
				case <-ctx.Done():
					c.release()
				}
			}
		} else {
			pool.Put(bp)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			srcErr = err
			break
		}
		if ctx.Err() != nil {
			srcErr = sdk.Classify(sdk.KindCanceled, ctx.Err())
			break
		}
	}
	if srcErr == nil && a.Size >= 0 && res.size != a.Size && int(finished.Load()) < len(targets) {
		srcErr = sdk.Retryable("artifact %q: the exporter announced %d bytes but sent %d", a.Name, a.Size, res.size)
	}
	if srcErr != nil {
		failed.Store(errBox{srcErr})
		cancel()
	}
	close(hq)
	<-hashed
	sum = h.Sum(nil)
	for _, q := range queues {
		close(q) // happens after failed.Store, so readers see the failure
	}
	wg.Wait()
	res.srcErr = srcErr
	res.sha256 = hex.EncodeToString(sum)
	return res
}

type errBox struct{ err error }

// chanReader is the io.Reader a sink's Put reads: chunks from its queue,
// then io.EOF only when the whole artifact went through, else the source's
// error.
type chanReader struct {
	q      chan *chunk
	cur    *chunk
	off    int
	eof    bool
	failed *atomic.Value
	sum    *[]byte
}

// SHA256 is the sha256 of the whole artifact, which fan-out computes anyway
// for the manifest; it is valid once the reader returned io.EOF. The gRPC
// Put client sends it in its trailer instead of hashing every byte again
// (grpcplugin.BodySHA256). The sink does not check it: it checks the hop
// with the trailer's CRC-32C, and may record this digest as the object's.
func (r *chanReader) SHA256() []byte {
	if !r.eof {
		return nil
	}
	return *r.sum
}

func (r *chanReader) Read(p []byte) (int, error) {
	if r.cur == nil {
		c, ok := <-r.q
		if !ok {
			if v := r.failed.Load(); v != nil {
				return 0, v.(errBox).err
			}
			r.eof = true
			return 0, io.EOF
		}
		r.cur, r.off = c, 0
	}
	n := copy(p, (*r.cur.buf)[r.off:r.cur.n])
	r.off += n
	if r.off == r.cur.n {
		r.cur.release()
		r.cur = nil
	}
	return n, nil
}

// WriteTo hands each chunk to w as it is, so a sink adapter that sends
// whatever it is given (the gRPC Put client) does not copy every byte once
// more into a buffer of its own. w must not keep the slices (the io.Writer
// contract): a chunk goes back to the pool when every sink is done with it.
func (r *chanReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if r.cur == nil {
			c, ok := <-r.q
			if !ok {
				if v := r.failed.Load(); v != nil {
					return total, v.(errBox).err
				}
				r.eof = true
				return total, nil
			}
			r.cur, r.off = c, 0
		}
		n, err := w.Write((*r.cur.buf)[r.off:r.cur.n])
		total += int64(n)
		r.off += n
		if r.off == r.cur.n {
			r.cur.release()
			r.cur = nil
		}
		if err != nil {
			return total, err
		}
	}
}

// drain releases what the sink did not read, so the producer never blocks
// on a sink that has stopped.
func (r *chanReader) drain() {
	if r.cur != nil {
		r.cur.release()
		r.cur = nil
	}
	for c := range r.q {
		c.release()
	}
}

// combine picks the error to return when no sink stored an artifact:
// retryable when any sink said so (a retry may succeed), else the first.
func combine(errs []error) error {
	var first error
	for _, e := range errs {
		if e == nil {
			continue
		}
		if first == nil {
			first = e
		}
		if sdk.KindOf(e) == sdk.KindRetryable {
			return e
		}
	}
	if first == nil {
		return errors.New("no sink")
	}
	return first
}
