//go:build windows

package selfupdate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
)

const exeSuffix = ".exe"

// replace moves the running exe aside (Windows cannot replace a running
// executable, but can rename it), then renames staged into its place. The
// old file is removed on the next upgrade, once nothing runs it. An exe
// that is not there yet (a helper installed for the first time) is only
// renamed into place.
func replace(staged, exe string) error {
	old := exe + ".old"
	// A leftover from the previous upgrade; still in use means still
	// running, and the rename below then fails and says so.
	_ = os.Remove(old)
	if err := os.Rename(exe, old); errors.Is(err, fs.ErrNotExist) {
		return os.Rename(staged, exe)
	} else if err != nil {
		return err
	}
	if err := os.Rename(staged, exe); err != nil {
		if rerr := os.Rename(old, exe); rerr != nil {
			return fmt.Errorf("%w (and restoring %s failed: %v)", err, exe, rerr)
		}
		return err
	}
	return nil
}

// Reexec runs exe with argv[1:] and environ on the same console and waits:
// Windows has no exec. code is its exit code, for the caller to exit with.
func Reexec(exe string, argv, environ []string) (code int, err error) {
	cmd := exec.Command(exe, argv[1:]...)
	cmd.Env = environ
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 1, fmt.Errorf("restart %s: %w", exe, err)
	}
	return 0, nil
}
