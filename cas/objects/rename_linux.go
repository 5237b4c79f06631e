package objects

import (
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames tmp to final unless final exists (fs.ErrExist
// then, and tmp stays): renameat2(2) with RENAME_NOREPLACE, one call
// where link and unlink are two. A filesystem or kernel without it
// (EINVAL, ENOSYS) gives errNoRenameNoReplace, having done nothing.
func renameNoReplace(tmp, final string) error {
	for {
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, final, unix.RENAME_NOREPLACE)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EINVAL, unix.ENOSYS, unix.ENOTSUP:
			return errNoRenameNoReplace
		}
		return &os.LinkError{Op: "rename", Old: tmp, New: final, Err: err}
	}
}
