//go:build unix

package fsx

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

func tryLock(f *os.File, exclusive bool) (bool, error) {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return false, err
		}
	}
}

// Inheritable clears close-on-exec on a lock file's descriptor, so that a
// process started with exec keeps holding the lock.
func Inheritable(lock *os.File) error {
	_, err := unix.FcntlInt(lock.Fd(), unix.F_SETFD, 0)
	return err
}

func unlinkHeld(path string) error { return os.Remove(path) }

// CanUnlinkLocks says whether Lock.Unlink can remove a held lock file here.
const CanUnlinkLocks = true
