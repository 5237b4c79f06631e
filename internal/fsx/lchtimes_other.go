//go:build !unix

package fsx

import (
	"io/fs"
	"os"
	"time"
)

// Lchtimes sets the times of p to mtime. Without utimensat there is no
// portable way to set a symlink's own times, so symlinks keep theirs.
func Lchtimes(p string, mtime time.Time) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	return os.Chtimes(p, mtime, mtime)
}
