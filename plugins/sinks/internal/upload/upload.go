// Package upload holds what the network sinks (azure_blob, s3, smb) share
// while they store one artifact.
package upload

import (
	"context"
	"fmt"
	"io"
)

// Body wraps the artifact's body as a sink's storage client reads it. It
// counts the bytes read, and keeps the body's own read error apart, so an
// exporter that failed mid-artifact is reported as itself rather than as
// whatever the storage client made of a broken stream.
//
// With Ctx set, Read fails with the context's error once it is done, which
// stops a plain copy loop; that error is not the body's. A Body is read by
// one goroutine at a time, as an io.Reader is.
type Body struct {
	R   io.Reader
	Ctx context.Context // optional

	n   int64
	err error
}

func (b *Body) Read(p []byte) (int, error) {
	if b.Ctx != nil {
		if err := b.Ctx.Err(); err != nil {
			return 0, err
		}
	}
	n, err := b.R.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// Size is the number of bytes read so far.
func (b *Body) Size() int64 { return b.n }

// ReadError is nil unless reading the body itself failed; then it says so
// for sink (its type, "s3") and the artifact's path, wrapping the body's
// error so its kind (sdk.KindOf) is kept. A failed Put checks it before
// classifying the storage client's error.
func (b *Body) ReadError(sink, path string) error {
	if b.err == nil {
		return nil
	}
	return fmt.Errorf("%s sink: reading the artifact for %q: %w", sink, path, b.err)
}
