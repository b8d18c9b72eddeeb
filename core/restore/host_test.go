package restore

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/agolpipe/agolpipe/core/catalog"
	"github.com/agolpipe/agolpipe/sdk"
)

// lastWithError returns its bytes, then err on the read after the last
// of them, as catalog's checked reader does when the underlying stream
// ends apart from its data and the copy then fails its check.
type lastWithError struct {
	b   []byte
	err error
}

func (l *lastWithError) Read(p []byte) (int, error) {
	if len(l.b) == 0 {
		return 0, l.err
	}
	n := copy(p, l.b[:min(len(l.b), 1000)])
	l.b = l.b[n:]
	return n, nil
}

func (l *lastWithError) Close() error { return nil }

func TestHoldBackNeverDeliversACorruptCopyWhole(t *testing.T) {
	body := bytes.Repeat([]byte("abcdefgh"), 50000)
	corrupt := &catalog.IntegrityError{Problem: catalog.Corrupt, Sink: "disk", Path: "x"}
	readers := []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, func(r io.Reader) io.Reader { return r }}
	for i, r := range readers {
		h := &holdBack{rc: &lastWithError{b: append([]byte(nil), body...), err: corrupt}, size: int64(len(body))}
		got, err := io.ReadAll(r(h))
		if err == nil || sdk.ReasonOf(err) != sdk.ReasonCorrupt {
			t.Fatalf("reader %d: error %v (reason %v), want a corrupt one", i, err, sdk.ReasonOf(err))
		}
		if len(got) >= len(body) {
			t.Fatalf("reader %d: %d of %d bytes delivered before the failed check", i, len(got), len(body))
		}
	}
	// A clean copy comes through whole, in reads of any size.
	for _, r := range readers {
		h := &holdBack{rc: &lastWithError{b: append([]byte(nil), body...), err: io.EOF}, size: int64(len(body))}
		got, err := io.ReadAll(r(h))
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("clean copy: %d bytes, %v", len(got), err)
		}
	}
	// A missing copy is not found, not corrupt.
	if err := classify(&catalog.IntegrityError{Problem: catalog.Missing}); !sdk.IsNotFound(err) {
		t.Fatalf("missing: %v", err)
	}
	if err := classify(errors.New("other")); sdk.ReasonOf(err) == sdk.ReasonCorrupt {
		t.Fatal("an unrelated error became corrupt")
	}
}
