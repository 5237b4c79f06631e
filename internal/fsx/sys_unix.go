//go:build unix

package fsx

import (
	"errors"
	"syscall"
)

// errSyncUnsupported is what fsync of a directory returns on filesystems
// that cannot do it (some network mounts); it is not a failure there.
var errSyncUnsupported = syscall.EINVAL

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}
