//go:build unix

package main

import (
	"fmt"
	"io/fs"
)

// checkPrivate refuses a secret key that other accounts can read, as ssh
// does: anyone who can read it can sign what every trusting machine runs.
func checkPrivate(path string, fi fs.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return withHint(fmt.Errorf("secret key %s is open to other accounts (mode %04o)", path, perm), "run chmod 600 %s", path)
	}
	return nil
}
