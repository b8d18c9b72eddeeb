//go:build windows

package local

import (
	"errors"
	"syscall"
)

const isWindows = true

// osPath prefixes long paths so deep layouts under a long root still work.
func osPath(p string) string {
	if len(p) < 248 {
		return p
	}
	return longPath(p)
}

// syncDir is a no-op: Windows cannot open a directory for flushing, and NTFS
// journals the rename itself.
func syncDir(string) error { return nil }

// isTransient reports network-share faults that usually heal on retry.
func isTransient(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case 53, // ERROR_BAD_NETPATH
		59,         // ERROR_UNEXP_NET_ERR
		64,         // ERROR_NETNAME_DELETED
		121,        // ERROR_SEM_TIMEOUT
		1231, 1232: // network unreachable / host unreachable
		return true
	}
	return false
}

// isNoSpace says whether err means the disk is full or the user's quota is
// reached.
func isNoSpace(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case 39, // ERROR_HANDLE_DISK_FULL
		112,  // ERROR_DISK_FULL
		1295: // ERROR_DISK_QUOTA_EXCEEDED
		return true
	}
	return false
}
