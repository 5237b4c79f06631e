//go:build linux

package fsx

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncTree is one syncfs(2): fsyncing thousands of venv files one by one
// costs more than unpacking them.
func syncTree(root string) error {
	f, err := os.Open(root)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", root, err)
	}
	return nil
}

// sameFS tells whether p is on the filesystem of root, whose syncfs then
// covers it: both are there and have one device.
func sameFS(root, p string) bool {
	var a, b unix.Stat_t
	return unix.Stat(root, &a) == nil && unix.Lstat(p, &b) == nil && a.Dev == b.Dev
}
