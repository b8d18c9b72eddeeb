package sinktest_test

import (
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/agolpipe/agolpipe/sdk"
	"github.com/agolpipe/agolpipe/sdk/sinktest"
)

func TestCutAfter(t *testing.T) {
	cuts, readAtCut := 0, 0
	var read int
	r := sinktest.CutAfter(strings.NewReader(strings.Repeat("x", 100)), 30, func() { cuts++; readAtCut = read })
	buf := make([]byte, 7)
	for {
		n, err := r.Read(buf)
		read += n
		if err == io.EOF {
			break
		}
	}
	if read != 100 {
		t.Errorf("read %d bytes, want all 100", read)
	}
	// The cut comes inside the read that crosses byte 30: 5 reads of 7.
	if cuts != 1 || readAtCut != 28 {
		t.Errorf("cut %d times, after %d bytes were counted; want once, during the read of bytes 29-35", cuts, readAtCut)
	}
}

// cutSink fails a Put the way a network sink does when its server goes
// away: retryable once the cut happened, after reading the whole body.
type cutSink struct {
	*sinktest.MemSink
	cut  bool
	kind sdk.ErrorKind
}

func (c *cutSink) Put(ctx context.Context, req sdk.PutRequest) (sdk.PutResponse, error) {
	if _, err := io.Copy(io.Discard, req.Body); err != nil {
		return sdk.PutResponse{}, err
	}
	if c.cut {
		return sdk.PutResponse{}, sdk.Classify(c.kind, errors.New("connection reset by peer"))
	}
	return sdk.PutResponse{Size: req.Size}, nil
}

func TestPutCut(t *testing.T) {
	s := &cutSink{MemSink: sinktest.NewMemSink(), kind: sdk.KindRetryable}
	sinktest.PutCut(t, s, "run/big.bin", 3<<20, 1<<20, func() { s.cut = true })
	if !s.cut {
		t.Error("PutCut did not cut")
	}
}

func TestWantError(t *testing.T) {
	// A fake testing.TB records what WantError reports.
	cases := []struct {
		name  string
		err   error
		fails bool
	}{
		{"right kind, says what to fix", sdk.Auth("s3 sink: the credentials were refused; check access_key_id"), false},
		{"no error", nil, true},
		{"wrong kind", sdk.Retryable("s3 sink: check access_key_id"), true},
		{"does not say what to fix", sdk.Auth("s3 sink: refused"), true},
		{"shows the secret", sdk.Auth("s3 sink: check access_key_id (secret s3cr3t)"), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recordTB{TB: t}
			done := make(chan struct{})
			go func() { // Fatalf ends the goroutine, as it ends a test
				defer close(done)
				sinktest.WantError(rec, c.err, sdk.KindAuth, "access_key_id", "", "s3cr3t")
			}()
			<-done
			if rec.failed != c.fails {
				t.Errorf("WantError failed = %v, want %v", rec.failed, c.fails)
			}
		})
	}
}

type recordTB struct {
	testing.TB
	failed bool
}

func (r *recordTB) Helper()               {}
func (r *recordTB) Errorf(string, ...any) { r.failed = true }
func (r *recordTB) Fatalf(string, ...any) { r.failed = true; runtime.Goexit() }
