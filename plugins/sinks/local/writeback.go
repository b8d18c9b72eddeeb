package local

import (
	"io"
	"os"
)

// writebackStep is how many bytes the local sink lets pile up in the page
// cache before it asks the kernel to start writing them to the disk.
const writebackStep = 8 << 20

// writeback is the temp file of a Put. It starts the disk writes of every
// writebackStep bytes as soon as they are written (Linux: sync_file_range,
// which does not wait), instead of leaving the whole artifact dirty in the
// page cache for the final fsync to write in one go. Why: the disk then
// works while the artifact is still streaming, so the fsync that makes the
// object durable only waits for the last few MiB, and a multi-GiB artifact
// never fills the page cache with dirty pages (which stalls every other
// writer on the machine when the kernel's dirty limit is reached).
type writeback struct {
	f       *os.File
	off     int64
	started int64
}

func (w *writeback) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.advance(n)
	return n, err
}

// ReadFrom keeps the file's own ReadFrom (splice from a socket on Linux)
// while cutting the copy into writebackStep pieces.
func (w *writeback) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		n, err := w.f.ReadFrom(&io.LimitedReader{R: r, N: writebackStep})
		total += n
		w.advance(int(n))
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (w *writeback) advance(n int) {
	w.off += int64(n)
	if w.off-w.started >= writebackStep {
		startWriteback(w.f, w.started, w.off-w.started)
		w.started = w.off
	}
}
