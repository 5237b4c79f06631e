//go:build unix

package fsx

import (
	"io/fs"
	"time"

	"golang.org/x/sys/unix"
)

// WriteNew creates the file path, which must not exist, holding data, with
// mode perm (the umask applies, as for WriteFile) and the modification
// (and access) time mtime. It never opens an existing name, so it never
// follows a symlink there: an existing path is an error wrapping
// fs.ErrExist. Nothing is synced and nothing is atomic: it is for the
// files of a staged tree, which the caller syncs as a whole and publishes
// with PublishDir (an unpack creates thousands of them). perm may lack
// write bits: the file is written through the descriptor that created it.
//
// On Unix it is four system calls (open, write, utimensat, close), with
// none of the poller set-up os.OpenFile does for every file.
func WriteNew(path string, data []byte, perm fs.FileMode, mtime time.Time) error {
	ts, err := unix.TimeToTimespec(mtime)
	if err != nil {
		return &fs.PathError{Op: "create", Path: path, Err: err}
	}
	fd, err := openNew(path, perm)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd) // already failing; the partial file is the caller's to remove
			return &fs.PathError{Op: "write", Path: path, Err: err}
		}
		data = data[n:]
	}
	if err := setTimes(fd, path, &[2]unix.Timespec{ts, ts}); err != nil {
		unix.Close(fd) // already failing
		return &fs.PathError{Op: "utimensat", Path: path, Err: err}
	}
	if err := unix.Close(fd); err != nil {
		return &fs.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

func openNew(path string, perm fs.FileMode) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, uint32(perm.Perm()))
		if err != unix.EINTR {
			return fd, err
		}
	}
}
