package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"
)

// recorder is a Target that keeps what it was given and checks the order
// of the calls and how many parts are in flight.
type recorder struct {
	mu       sync.Mutex
	single   []byte
	begun    bool
	parts    map[int][]byte
	buffers  map[*byte]bool // distinct part buffers seen
	inFlight int
	peak     int
	commit   int
	failPart int // a Part with this number fails
	delay    time.Duration
	canceled int // Parts whose context was cancelled while they ran
}

var errPart = errors.New("part refused")

func (r *recorder) Single(_ context.Context, b []byte) error {
	r.single = bytes.Clone(b)
	return nil
}

func (r *recorder) Begin(context.Context) error {
	r.begun = true
	r.parts, r.buffers = map[int][]byte{}, map[*byte]bool{}
	return nil
}

func (r *recorder) Part(ctx context.Context, num int, b []byte) error {
	r.mu.Lock()
	r.inFlight++
	r.peak = max(r.peak, r.inFlight)
	r.parts[num] = bytes.Clone(b)
	r.buffers[unsafe.SliceData(b)] = true
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.inFlight--; r.mu.Unlock() }()
	if num == r.failPart {
		return errPart
	}
	select {
	case <-time.After(r.delay):
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		r.canceled++
		r.mu.Unlock()
		return ctx.Err()
	}
}

func (r *recorder) Commit(_ context.Context, n int) error {
	r.commit = n
	return nil
}

func (r *recorder) joined() []byte {
	var out []byte
	for i := 1; i <= len(r.parts); i++ {
		out = append(out, r.parts[i]...)
	}
	return out
}

func TestPartsUpload(t *testing.T) {
	const size = 64 << 10
	body := make([]byte, 20*size+123)
	_, _ = rand.Read(body)
	cases := []struct {
		name        string
		len         int
		concurrency int
		single      bool
		parts       int
	}{
		{"empty body is one single request", 0, 3, true, 0},
		{"body under one part is one single request", size - 1, 3, true, 0},
		{"body of exactly one part is a one-part upload", size, 3, false, 1},
		{"body ending on a part boundary", 4 * size, 3, false, 4},
		{"21 parts, 3 at once", 20*size + 123, 3, false, 21},
		{"21 parts, one at a time", 20*size + 123, 1, false, 21},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{delay: time.Millisecond}
			made := buffersMade.Load()
			// HalfReader: parts are filled by many short reads, as from a stream.
			err := Parts{Size: size, Concurrency: c.concurrency}.Upload(context.Background(), iotest.HalfReader(bytes.NewReader(body[:c.len])), r)
			if err != nil {
				t.Fatal(err)
			}
			if c.single {
				if r.begun || !bytes.Equal(r.single, body[:c.len]) {
					t.Fatalf("want one single request of %d bytes; begun=%v single=%d bytes", c.len, r.begun, len(r.single))
				}
				return
			}
			if r.commit != c.parts || len(r.parts) != c.parts {
				t.Fatalf("committed %d parts, stored %d, want %d", r.commit, len(r.parts), c.parts)
			}
			if !bytes.Equal(r.joined(), body[:c.len]) {
				t.Fatal("the parts joined are not the body")
			}
			// The memory bound: never more than Concurrency buffers, reused.
			if n := buffersMade.Load() - made; n > int64(c.concurrency) {
				t.Errorf("%d buffers taken for %d parts, want <= concurrency %d", n, c.parts, c.concurrency)
			}
			if len(r.buffers) > c.concurrency {
				t.Errorf("parts came in %d distinct buffers, want <= %d", len(r.buffers), c.concurrency)
			}
			if r.peak > c.concurrency {
				t.Errorf("%d parts in flight at once, want <= %d", r.peak, c.concurrency)
			}
		})
	}
}

func TestPartsUploadFailure(t *testing.T) {
	const size = 4 << 10
	body := bytes.Repeat([]byte("x"), 10*size)
	t.Run("a failed part stops the upload without commit, the parts in flight end", func(t *testing.T) {
		r := &recorder{failPart: 3, delay: 20 * time.Millisecond}
		err := Parts{Size: size, Concurrency: 2}.Upload(context.Background(), bytes.NewReader(body), r)
		if !errors.Is(err, errPart) {
			t.Fatalf("err %v, want %v", err, errPart)
		}
		if r.commit != 0 {
			t.Fatal("committed after a failed part")
		}
		if len(r.parts) == 10 {
			t.Error("every part was still sent after part 3 failed")
		}
		// A part cancelled mid-request may be stored after the abort.
		if r.canceled != 0 {
			t.Errorf("%d parts in flight were cancelled, want them left to end", r.canceled)
		}
	})
	t.Run("a body that breaks is the error, not committed", func(t *testing.T) {
		broke := errors.New("exporter stream broke")
		r := &recorder{}
		err := Parts{Size: size, Concurrency: 2}.Upload(context.Background(), io.MultiReader(bytes.NewReader(body[:3*size+5]), iotest.ErrReader(broke)), r)
		if !errors.Is(err, broke) || r.commit != 0 {
			t.Fatalf("err %v commit %d, want %v and no commit", err, r.commit, broke)
		}
	})
	t.Run("a cancelled context stops waiting for a buffer", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		r := &recorder{delay: time.Hour}
		time.AfterFunc(20*time.Millisecond, cancel)
		err := Parts{Size: size, Concurrency: 2}.Upload(ctx, bytes.NewReader(body), r)
		if !errors.Is(err, context.Canceled) || r.commit != 0 {
			t.Fatalf("err %v commit %d, want context.Canceled and no commit", err, r.commit)
		}
	})
}

// An object of known size never needs more parts than the store allows:
// S3 10,000 parts, Azure 50,000 blocks.
func TestPartSize(t *testing.T) {
	cases := []struct {
		configured int
		size       int64
		maxParts   int64
		want       int
	}{
		{8 << 20, -1, 10000, 8 << 20},            // size unknown
		{8 << 20, 0, 10000, 8 << 20},             // empty
		{8 << 20, 1 << 30, 10000, 8 << 20},       // 128 parts
		{8 << 20, 80_000 << 20, 10000, 8 << 20},  // exactly 10,000 parts
		{8 << 20, 80_001 << 20, 10000, 9 << 20},  // one more MiB: 9 MiB parts
		{5 << 20, 200 << 30, 10000, 21 << 20},    // 200 GiB
		{4 << 20, 1 << 30, 50000, 4 << 20},       // 256 blocks
		{4 << 20, 200_000 << 20, 50000, 4 << 20}, // exactly 50,000 blocks
		{4 << 20, 200_001 << 20, 50000, 5 << 20}, // one more MiB: 5 MiB blocks
	}
	for _, c := range cases {
		got := PartSize(c.configured, c.size, c.maxParts)
		if got != c.want {
			t.Errorf("PartSize(%d MiB, %d, %d) = %d, want %d", c.configured>>20, c.size, c.maxParts, got, c.want)
		}
		if c.size > 0 && (c.size+int64(got)-1)/int64(got) > c.maxParts {
			t.Errorf("PartSize(%d MiB, %d, %d) = %d needs more than %d parts", c.configured>>20, c.size, c.maxParts, got, c.maxParts)
		}
	}
}
