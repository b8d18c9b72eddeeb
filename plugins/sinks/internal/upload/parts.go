package upload

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/agolpipe/agolpipe/sdk"
)

// Parts splits a body into parts for a multipart (S3) or block (Azure)
// upload and stores up to Concurrency of them at once.
//
// Its part buffers are what a streamed upload costs in memory: at most
// Concurrency buffers of Size bytes per Upload, taken only as the body
// needs them and reused part after part. On Linux they are mapped outside
// the Go heap, so they neither raise the garbage collector's heap target
// (with GOGC=50, heap buffers let half their size again in garbage pile
// up) nor stay resident after Upload returns.
type Parts struct {
	Size        int // bytes per part; the last part may be shorter
	Concurrency int // parts stored at once, and buffers held
}

// PartSize is the configured part size, or larger (in whole MiB) when an
// object of known size would need more than maxParts parts with it: S3
// takes at most 10,000 parts per upload, Azure 50,000 blocks per blob.
// size < 0 means unknown.
func PartSize(configured int, size int64, maxParts int64) int {
	if need := (size + maxParts - 1) / maxParts; need > int64(configured) {
		return int((need + 1<<20 - 1) &^ (1<<20 - 1))
	}
	return configured
}

// Target is where one Upload stores its parts. Upload calls Single, or
// Begin, then Part for every part, then Commit; nothing after the first
// error. Part runs on up to Concurrency goroutines at once and must not
// keep body after it returns.
type Target interface {
	// Single stores a body shorter than one part (maybe empty) in one request.
	Single(ctx context.Context, body []byte) error
	// Begin starts a multipart upload, before the first Part.
	Begin(ctx context.Context) error
	// Part stores part num (1, 2, ...), Size bytes except the last.
	Part(ctx context.Context, num int, body []byte) error
	// Commit makes the parts 1..n one object.
	Commit(ctx context.Context, n int) error
}

// Upload reads r to its end and stores it through t. It returns the first
// error of reading r or of t. It does not clean up a failed multipart
// upload: that is the caller's, once Begin has succeeded.
func (p Parts) Upload(ctx context.Context, r io.Reader, t Target) error {
	pool := newBufferPool(p.Size, max(p.Concurrency, 1))
	defer pool.release()
	buf, err := pool.get(ctx) // the pool is empty: no wait
	if err != nil {
		return err
	}
	n, last, err := fill(r, buf)
	if err != nil {
		return err
	}
	if last && n < len(buf) {
		return t.Single(ctx, buf[:n])
	}
	if err := t.Begin(ctx); err != nil {
		return err
	}

	// A failure stops the reading of new parts but lets the parts in flight
	// end on their own: a request cancelled mid-body can still be stored by
	// the server after the caller's abort (S3 documents it), leaving parts
	// behind.
	stop, stopReading := context.WithCancel(ctx)
	defer stopReading()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	fail := func(err error) {
		if err != nil {
			once.Do(func() { first = err; stopReading() })
		}
	}
	num := 0
	for {
		num++
		wg.Add(1)
		go func(num int, buf []byte, n int) {
			defer wg.Done()
			if err := t.Part(ctx, num, buf[:n]); err != nil {
				fail(err)
			}
			pool.put(buf)
		}(num, buf, n)
		if last {
			break
		}
		// Waits for a part to be stored once Concurrency are in flight.
		if buf, err = pool.get(stop); err != nil || stop.Err() != nil {
			if err == nil {
				pool.put(buf)
			}
			fail(ctx.Err()) // nil, and ignored, when a part failed
			break
		}
		if n, last, err = fill(r, buf); err != nil {
			pool.put(buf)
			fail(err)
			break
		}
		if n == 0 { // the body ended on a part boundary
			pool.put(buf)
			break
		}
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return t.Commit(ctx, num)
}

// fill reads r until buf is full or r ends; last says r ended.
func fill(r io.Reader, buf []byte) (n int, last bool, err error) {
	// Not io.ReadFull: its io.ErrUnexpectedEOF for a short last part is
	// also what a body cut short returns, and that must fail the upload.
	n, err = sdk.FillChunk(r, buf)
	if err == io.EOF {
		return n, true, nil
	}
	return n, false, err
}

// bufferPool hands out up to max buffers of one size to one Upload, making
// them as they are first needed.
type bufferPool struct {
	size  int
	free  chan []byte
	quota chan struct{} // one token per buffer not made yet
	made  [][]byte
	mu    sync.Mutex
}

// buffersMade counts the buffers every Upload has taken, for the test
// that bounds them.
var buffersMade atomic.Int64

func newBufferPool(size, max int) *bufferPool {
	p := &bufferPool{size: size, free: make(chan []byte, max), quota: make(chan struct{}, max)}
	for range max {
		p.quota <- struct{}{}
	}
	return p
}

// get returns a free buffer, makes one while under max, or waits for one
// to be put back.
func (p *bufferPool) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.free:
		return b, nil
	default:
	}
	select {
	case b := <-p.free:
		return b, nil
	case <-p.quota:
		b, err := takeBuffer(p.size)
		if err != nil {
			p.quota <- struct{}{}
			return nil, fmt.Errorf("allocating a %d MiB part buffer: %w", p.size>>20, err)
		}
		buffersMade.Add(1)
		p.mu.Lock()
		p.made = append(p.made, b)
		p.mu.Unlock()
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *bufferPool) put(b []byte) { p.free <- b }

// release hands every buffer made back for other Uploads, once no part
// holds one.
func (p *bufferPool) release() {
	for _, b := range p.made {
		giveBuffer(b)
	}
	p.made = nil
}
