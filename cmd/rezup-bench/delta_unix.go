//go:build unix

package main

import (
	"os"
	"syscall"
)

// nlink is fi's hard link count.
func nlink(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
