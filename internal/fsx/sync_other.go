//go:build !linux

package fsx

func syncTree(root string) error { return syncEach(root) }
