//go:build unix && !linux

package fsx

import "golang.org/x/sys/unix"

// setTimes sets the times of the file at path, just created as fd.
func setTimes(_ int, path string, ts *[2]unix.Timespec) error {
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, ts[:], unix.AT_SYMLINK_NOFOLLOW)
}
