//go:build !windows

package local

import (
	"errors"
	"os"
	"syscall"
)

const isWindows = false

func osPath(p string) string { return p }

// syncDir flushes a directory so a rename survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		// Some network filesystems cannot flush a directory; the rename
		// already happened, so only real I/O errors count.
		return err
	}
	return nil
}

// isTransient reports faults of network filesystems (NFS, CIFS mounts) that
// usually heal on retry.
func isTransient(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, syscall.ESTALE) || errors.Is(err, syscall.EAGAIN)
}

// isNoSpace says whether err means the filesystem is full or the user's
// quota is reached.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
