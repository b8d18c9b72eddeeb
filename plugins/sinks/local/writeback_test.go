package local

import (
	"bytes"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestWritebackKeepsEveryByteAndStartsWrites checks both roads into the
// temp file (ReadFrom, cut into writebackStep pieces, and Write) store the
// bytes unchanged and start the disk writes as they go, not at the end.
func TestWritebackKeepsEveryByteAndStartsWrites(t *testing.T) {
	data := make([]byte, 2*writebackStep+12345)
	rand.New(rand.NewSource(1)).Read(data)
	for _, road := range []string{"ReadFrom", "Write"} {
		t.Run(road, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "o"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w := &writeback{f: f}
			var n int64
			if road == "ReadFrom" {
				// A plain reader (no WriterTo) so the pieces are ours to cut.
				n, err = w.ReadFrom(struct{ io.Reader }{bytes.NewReader(data)})
			} else {
				for off := 0; off < len(data); off += 1 << 20 {
					k, werr := w.Write(data[off:min(off+1<<20, len(data))])
					n += int64(k)
					if werr != nil {
						t.Fatal(werr)
					}
				}
			}
			if err != nil || n != int64(len(data)) {
				t.Fatalf("copied %d of %d bytes: %v", n, len(data), err)
			}
			if w.off != int64(len(data)) || w.started != 2*writebackStep {
				t.Fatalf("offset %d, writes started up to %d; want %d and %d", w.off, w.started, len(data), 2*writebackStep)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("file differs from what was written (%d bytes, %v)", len(got), err)
			}
		})
	}
}
