//go:build unix

package launch

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/rezup/rezup/internal/fsx"
)

// Exec replaces rezup with argv, looked up on environ's PATH. hold, when
// not nil, is the lock file that holds the build in use (see
// materialize.Hold.File): its descriptor is made inheritable first, so
// the command (and whatever it starts) keeps the entry in use for as long
// as it runs. The command's exit status and
// signals are then rezup's own. check, when not nil, looks at the path
// the command was found at first (see materialize.Target.CheckCommand);
// its error is Exec's. Exec returns only on failure.
func Exec(argv []string, environ []string, hold *os.File, check func(path string) error) error {
	path, err := lookPath(argv, environ, check)
	if err != nil {
		return err
	}
	if hold != nil {
		if err := fsx.Inheritable(hold); err != nil {
			return fmt.Errorf("hand the in-use lock to %s: %w", argv[0], err)
		}
	}
	err = syscall.Exec(path, argv, environ)
	if hold != nil {
		// Exec failed; stop the descriptor leaking into whatever the
		// caller runs next.
		syscall.CloseOnExec(int(hold.Fd()))
	}
	return fmt.Errorf("exec %s: %w", path, err)
}

// Start starts argv detached, for --no-wait: in a new session (so a closed
// terminal does not hang it up), stdin from /dev/null, stdout and stderr
// inherited. hold's descriptor is passed as fd 3, so the command keeps the
// entry in use after rezup returns; a command that closes descriptors it
// does not know gives that up. check is as for Exec. Start does not wait.
func Start(argv []string, environ []string, hold *os.File, check func(path string) error) (pid int, err error) {
	path, err := lookPath(argv, environ, check)
	if err != nil {
		return 0, err
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        argv,
		Env:         environ,
		Stdout:      os.Stdout,
		Stderr:      os.Stderr,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if hold != nil {
		cmd.ExtraFiles = []*os.File{hold}
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", path, err)
	}
	pid = cmd.Process.Pid
	// Nobody waits for it: rezup is about to exit, and init reaps it.
	_ = cmd.Process.Release()
	return pid, nil
}
