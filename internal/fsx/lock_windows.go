//go:build windows

package fsx

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

func tryLock(f *os.File, exclusive bool) (bool, error) {
	var flags uint32 = windows.LOCKFILE_FAIL_IMMEDIATELY
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	ol := new(windows.Overlapped)
	err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, ol)
	if err == windows.ERROR_LOCK_VIOLATION || err == windows.ERROR_IO_PENDING {
		return false, nil
	}
	return err == nil, err
}

// Inheritable is a no-op on Windows: rezup waits for the child there, so
// the lock stays held by rezup itself.
func Inheritable(lock *os.File) error { return nil }

// unlinkHeld cannot remove an open file on Windows, and closing it first
// would let another process lock the file being removed.
func unlinkHeld(path string) error { return errors.ErrUnsupported }

// CanUnlinkLocks says whether Lock.Unlink can remove a held lock file here.
const CanUnlinkLocks = false
