//go:build linux

package upload

import (
	"sync"
	"syscall"
)

// Part buffers are anonymous memory maps, outside the Go heap. A released
// buffer gives its pages back to the OS (MADV_DONTNEED) but stays mapped,
// kept for the next Upload: net/http may still read a request body after
// RoundTrip returned an error, and a read from an unmapped buffer would
// crash the plugin where a read from a released one reads zeros for a
// request that already failed.
var spare = struct {
	sync.Mutex
	bySize map[int][][]byte
}{bySize: map[int][][]byte{}}

func takeBuffer(size int) ([]byte, error) {
	spare.Lock()
	if l := spare.bySize[size]; len(l) > 0 {
		b := l[len(l)-1]
		spare.bySize[size] = l[:len(l)-1]
		spare.Unlock()
		return b, nil
	}
	spare.Unlock()
	return syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
}

func giveBuffer(b []byte) {
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
	spare.Lock()
	spare.bySize[len(b)] = append(spare.bySize[len(b)], b)
	spare.Unlock()
}
