//go:build unix

package fsx

import (
	"errors"
	"syscall"
)

// openNoFollow makes the open of a metadata file fail on a symlink at the
// last component (ELOOP) and return at once on a FIFO, whose open would
// otherwise wait for a writer.
const openNoFollow = syscall.O_NOFOLLOW | syscall.O_NONBLOCK

func isSymlinkLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
