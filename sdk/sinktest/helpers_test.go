package sinktest_test

import (
	"context"
	"errors"
	"io"
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
