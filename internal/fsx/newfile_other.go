//go:build !unix

package fsx

import (
	"io/fs"
	"os"
	"time"
)

// WriteNew creates the file path, which must not exist, holding data, with
// mode perm and the modification (and access) time mtime. See the Unix
// version.
func WriteNew(path string, data []byte, perm fs.FileMode, mtime time.Time) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm.Perm())
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close() // already failing; the partial file is the caller's to remove
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(path, mtime, mtime)
}
