//go:build !linux

package fsx

func syncTree(root string) error { return syncEach(root) }

// sameFS is false: syncTree syncs root's files alone here.
func sameFS(root, p string) bool { return false }
