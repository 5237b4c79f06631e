//go:build windows

package fsx

import (
	"io/fs"
	"strconv"
)

// effectiveUID: Windows has no uid; removals are left to its ACLs.
func effectiveUID() int { return -1 }

// foreign: ownership is not checked on Windows (ACLs decide).
func foreign(fs.FileInfo) (int, bool) { return 0, false }

func accountName(uid int) string { return "uid " + strconv.Itoa(uid) }
