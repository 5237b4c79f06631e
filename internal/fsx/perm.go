package fsx

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"time"
)

var umask struct {
	once sync.Once
	mask fs.FileMode
}

// Umask is the process's file mode creation mask, read once: rezup never
// changes it, so the first answer stays right. It is 0 on Windows.
func Umask() fs.FileMode {
	umask.once.Do(func() { umask.mask = readUmask() & fs.ModePerm })
	return umask.mask
}

// Perm is mode as the kernel would give it to a file created now, with
// the umask applied: the mode a plain mkdir or cp would leave. Writers
// that chmod explicitly (a temp file renamed into place, an unpacked
// archive, a MkdirTemp staging dir being published) go through Perm, so
// that what rezup writes in shared roots follows the caller's umask
// (0644/0755 under 022, group-writable under 002, private under 077).
// Callers pass the widest mode they mean: 0o666 for data, 0o777 for
// executables and directories.
func Perm(mode fs.FileMode) fs.FileMode {
	return mode &^ Umask()
}

// CannotWrite reports whether err means the caller may not write there:
// no permission, or a read-only filesystem.
func CannotWrite(err error) bool {
	return errors.Is(err, fs.ErrPermission) || isReadOnlyFS(err)
}

// Touch sets path's mtime (and atime) to t. Setting a given time needs
// ownership of the file; a user who may only write it (a lock file in a
// group-shared root) gets the current time instead, which is what a
// use-stamp means anyway.
func Touch(path string, t time.Time) error {
	err := os.Chtimes(path, t, t)
	if errors.Is(err, fs.ErrPermission) {
		if nerr := touchNow(path); nerr == nil {
			return nil
		}
	}
	return err
}
