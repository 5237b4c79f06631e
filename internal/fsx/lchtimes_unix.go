//go:build unix

package fsx

import (
	"time"

	"golang.org/x/sys/unix"
)

// Lchtimes sets the access and modification times of p to mtime without
// following a symlink at p. Access time is set too, to the same value, so
// that an unpacked tree does not depend on when it was unpacked.
func Lchtimes(p string, mtime time.Time) error {
	ts, err := unix.TimeToTimespec(mtime)
	if err != nil {
		return err
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
