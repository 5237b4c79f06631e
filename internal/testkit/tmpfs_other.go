//go:build !linux

package testkit

// OnTmpfs reports whether dir is on a tmpfs: only Linux's is told apart.
func OnTmpfs(dir string) bool { return false }
