//go:build windows

package fsx

// openNoFollow is empty: Windows has no O_NOFOLLOW or O_NONBLOCK for
// os.OpenFile, and no FIFOs in the filesystem. OpenRegular relies on its
// lstat before and its identity check after the open (best effort).
const openNoFollow = 0

func isSymlinkLoop(error) bool { return false }
