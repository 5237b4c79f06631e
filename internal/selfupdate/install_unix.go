//go:build !windows

package selfupdate

import (
	"fmt"
	"os"
	"syscall"
)

const exeSuffix = ""

// replace renames staged over exe: running processes keep the old inode.
func replace(staged, exe string) error { return os.Rename(staged, exe) }

// Reexec replaces the process with exe, keeping argv and environ: the
// upgraded rezup runs the same command line. It returns only on failure;
// code is meaningful on Windows only.
func Reexec(exe string, argv, environ []string) (code int, err error) {
	err = syscall.Exec(exe, argv, environ)
	return 0, fmt.Errorf("restart %s: %w", exe, err)
}
