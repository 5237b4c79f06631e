//go:build unix

package fsx

import (
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// effectiveUID is the account removals run as: 0 (root) may remove
// anything.
func effectiveUID() int { return os.Geteuid() }

// foreign returns the owner of fi when it is another account than the
// caller's and the caller is not root.
func foreign(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	euid := os.Geteuid()
	if euid == 0 || int(st.Uid) == euid {
		return 0, false
	}
	return int(st.Uid), true
}

// accountName names an account for messages: "nobody, uid 65534", or the
// number alone when it has no name here.
func accountName(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username + ", uid " + id
	}
	return "uid " + id
}
