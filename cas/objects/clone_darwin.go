package objects

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// cloneFile makes dst a clone of src (clonefile(2), APFS), with mode
// perm; where the filesystem cannot (HFS+, dst on another volume), a
// copy. clonefile makes dst whole in one call, never over an existing
// file, so it needs no temp.
func cloneFile(src, dst string, perm fs.FileMode) (How, error) {
	err := unix.Clonefile(src, dst, unix.CLONE_NOFOLLOW)
	if err == nil {
		// clonefile gives dst the object's mode, which another account's
		// umask may have made; dst is the caller's, with the caller's.
		if err := os.Chmod(dst, perm); err != nil {
			os.Remove(dst) // already failing: take back the clone
			return 0, err
		}
		return Cloned, nil
	}
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EACCES) {
		return 0, &os.LinkError{Op: "clonefile", Old: src, New: dst, Err: err}
	}
	return Copied, copyFile(src, dst, perm)
}
