package testkit

import "golang.org/x/sys/unix"

// OnTmpfs reports whether dir is on a tmpfs (which has no link limit, and
// whose fsync is free).
func OnTmpfs(dir string) bool {
	var fs unix.Statfs_t
	return unix.Statfs(dir, &fs) == nil && fs.Type == unix.TMPFS_MAGIC
}
