//go:build windows

package fsx

import "io/fs"

// readUmask: Windows has no umask; ACLs inherited from the parent decide.
func readUmask() fs.FileMode { return 0 }

// isReadOnlyFS: a read-only volume fails with an access error, which
// fs.ErrPermission already covers.
func isReadOnlyFS(error) bool { return false }
