package sdk

import "io"

// FillChunk reads from r into buf until buf is full or r returns an error,
// and returns that error unchanged: io.EOF only when r itself ended
// cleanly. Use it instead of io.ReadFull to cut a stream into pieces:
// io.ReadFull reports a short last piece as io.ErrUnexpectedEOF, the same
// error net/http returns for a body shorter than its Content-Length, so a
// loop that treats io.ErrUnexpectedEOF as the end stores truncated bytes as
// complete. A reader stuck returning 0, nil fails with io.ErrNoProgress.
func FillChunk(r io.Reader, buf []byte) (int, error) {
	k, idle := 0, 0
	for k < len(buf) {
		m, err := r.Read(buf[k:])
		k += m
		if err != nil {
			return k, err
		}
		if m > 0 {
			idle = 0
		} else if idle++; idle >= 100 { // as bufio does
			return k, io.ErrNoProgress
		}
	}
	return k, nil
}
