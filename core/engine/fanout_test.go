package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

// patternReader yields n deterministic bytes without holding them.
type patternReader struct {
	n, off int64
	err    error // returned instead of EOF when set
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		if p.err != nil {
			return 0, p.err
		}
		return 0, io.EOF
	}
	k := int64(len(b))
	if rest := p.n - p.off; rest < k {
		k = rest
	}
	for i := int64(0); i < k; i++ {
		b[i] = byte((p.off + i) * 7)
	}
	p.off += k
	return int(k), nil
}

// discardSink hashes what it is given and stores nothing.
type discardSink struct {
	sinktest.MemSink
	delay time.Duration
	fail  int64 // fail after this many bytes when > 0
	sum   string
	n     int64
}

func (d *discardSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	h := sha256.New()
	buf := make([]byte, 32<<10)
	for {
		if d.fail > 0 && d.n >= d.fail {
			return sdk.PutResponse{}, sdk.Permanent("bucket full")
		}
		k, err := req.Body.Read(buf)
		h.Write(buf[:k])
		d.n += int64(k)
		if d.delay > 0 && k > 0 {
			time.Sleep(d.delay)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return sdk.PutResponse{}, err
		}
	}
	d.sum = hex.EncodeToString(h.Sum(nil))
	return sdk.PutResponse{Size: d.n}, nil
}

func newPool(size int) *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, size); return &b }}
}

func TestFanoutSlowAndFailingSinks(t *testing.T) {
	const size = 5<<20 + 123
	want := sha256.New()
	io.Copy(want, &patternReader{n: size})
	wantSum := hex.EncodeToString(want.Sum(nil))

	fast, slow, failing := &discardSink{}, &discardSink{delay: 50 * time.Microsecond}, &discardSink{fail: 1 << 20}
	targets := []target{{fast, "a"}, {slow, "a"}, {failing, "a"}}
	var progressed int64 // the run's progress line is told every byte read
	r := fanout(context.Background(), newPool(64<<10), 64<<10, 2, targets, sdk.Artifact{Name: "a", Size: size}, &patternReader{n: size}, func(n int64) { progressed += n })
	if r.srcErr != nil || r.size != size || r.sha256 != wantSum {
		t.Fatalf("result %+v", r)
	}
	if progressed != size {
		t.Fatalf("progress told of %d bytes, want %d", progressed, size)
	}
	if r.errs[0] != nil || r.errs[1] != nil || r.errs[2] == nil {
		t.Fatalf("errs %v", r.errs)
	}
	if fast.sum != wantSum || slow.sum != wantSum {
		t.Fatal("a healthy sink got different bytes")
	}
}

func TestFanoutSourceErrorFailsEveryPut(t *testing.T) {
	boom := sdk.Retryable("connection reset by portal")
	a, b := &discardSink{}, &discardSink{}
	r := fanout(context.Background(), newPool(64<<10), 64<<10, 2, []target{{a, "x"}, {b, "x"}}, sdk.Artifact{Name: "x", Size: -1}, &patternReader{n: 300 << 10, err: boom}, nil)
	if !errors.Is(r.srcErr, boom) {
		t.Fatalf("srcErr %v", r.srcErr)
	}
	for i, err := range r.errs {
		if err == nil || a.sum != "" || b.sum != "" {
			t.Errorf("sink %d stored a truncated artifact (err %v)", i, err)
		}
	}
	// Declared size that the body does not meet is a failure too.
	r = fanout(context.Background(), newPool(64<<10), 64<<10, 2, []target{{&discardSink{}, "x"}}, sdk.Artifact{Name: "x", Size: 1000}, &patternReader{n: 999}, nil)
	if sdk.KindOf(r.srcErr) != sdk.KindRetryable || r.errs[0] == nil {
		t.Fatalf("short body: %+v", r)
	}
}

func TestFanoutAllSinksFailStopsReading(t *testing.T) {
	src := &patternReader{n: 1 << 30}
	r := fanout(context.Background(), newPool(64<<10), 64<<10, 2, []target{{&discardSink{fail: 1}, "x"}, {&discardSink{fail: 1}, "x"}}, sdk.Artifact{Name: "x", Size: -1}, src, nil)
	if r.errs[0] == nil || r.errs[1] == nil {
		t.Fatal("sinks did not fail")
	}
	if src.off > 16<<20 {
		t.Errorf("read %d bytes after every sink had failed", src.off)
	}
}

// BenchmarkFanout streams a 256 MiB artifact to three sinks and reports the
// peak heap in use: it stays a few MiB whatever the artifact's size,
// because each sink buffers at most SinkQueue chunks.
func BenchmarkFanout(b *testing.B) {
	const size = 256 << 20
	pool := newPool(defaultChunkSize)
	b.SetBytes(size)
	b.ReportAllocs()
	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			default:
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for b.Loop() {
		targets := []target{{&discardSink{}, "x"}, {&discardSink{}, "x"}, {&discardSink{}, "x"}}
		r := fanout(context.Background(), pool, defaultChunkSize, defaultSinkQueue, targets, sdk.Artifact{Name: "x", Size: size}, &patternReader{n: size}, nil)
		if r.srcErr != nil || r.size != size {
			b.Fatal(r.srcErr)
		}
	}
	close(stop)
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
}

// copySink reads its body with io.Copy, which takes the chunks through
// chanReader.WriteTo, as the gRPC Put client does.
type copySink struct {
	sinktest.MemSink
	fail int64 // the writer refuses bytes past this many when > 0
	sum  string
	// bodySum is the sha256 the body itself reported after EOF (what the
	// gRPC Put client sends in its trailer).
	bodySum string
}

type limitedHash struct {
	h    io.Writer
	n    int64
	fail int64
}

func (l *limitedHash) Write(p []byte) (int, error) {
	if l.fail > 0 && l.n+int64(len(p)) > l.fail {
		return 0, sdk.Permanent("bucket full")
	}
	l.n += int64(len(p))
	return l.h.Write(p)
}

func (c *copySink) Put(_ context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	h := sha256.New()
	n, err := io.Copy(&limitedHash{h: h, fail: c.fail}, req.Body)
	if err != nil {
		return sdk.PutResponse{}, err
	}
	c.sum = hex.EncodeToString(h.Sum(nil))
	if d, ok := req.Body.(interface{ SHA256() []byte }); ok {
		c.bodySum = hex.EncodeToString(d.SHA256())
	}
	return sdk.PutResponse{Size: n}, nil
}

func TestFanoutWriteToSinks(t *testing.T) {
	const size = 3<<20 + 77
	want := sha256.New()
	io.Copy(want, &patternReader{n: size})
	wantSum := hex.EncodeToString(want.Sum(nil))

	ok, failing, reader := &copySink{}, &copySink{fail: 1 << 20}, &discardSink{}
	r := fanout(context.Background(), newPool(64<<10), 64<<10, 2, []target{{ok, "a"}, {failing, "a"}, {reader, "a"}}, sdk.Artifact{Name: "a", Size: size}, &patternReader{n: size}, nil)
	if r.srcErr != nil || r.sha256 != wantSum || r.errs[0] != nil || r.errs[1] == nil || r.errs[2] != nil {
		t.Fatalf("result %+v", r)
	}
	if ok.sum != wantSum || reader.sum != wantSum {
		t.Fatal("a sink reading through WriteTo got different bytes")
	}
	if ok.bodySum != wantSum {
		t.Fatalf("the body reported sha256 %q after EOF, want %s", ok.bodySum, wantSum)
	}

	boom := sdk.Retryable("connection reset by portal")
	cut := &copySink{}
	r = fanout(context.Background(), newPool(64<<10), 64<<10, 2, []target{{cut, "x"}}, sdk.Artifact{Name: "x", Size: -1}, &patternReader{n: 300 << 10, err: boom}, nil)
	if !errors.Is(r.errs[0], boom) || cut.sum != "" {
		t.Fatalf("a WriteTo sink stored a truncated artifact: %v", r.errs[0])
	}
}
