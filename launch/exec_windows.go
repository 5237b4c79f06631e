//go:build windows

package launch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/windows"
)

// Exec runs argv, looked up on environ's PATH, with rezup's console and
// stdio, and waits for it: Windows has no exec. rezup holds hold, the
// in-use lock, meanwhile, and ignores Ctrl+C, which the command receives
// too. A non-zero exit is returned as *ExitError; nil means exit code 0.
// check, when not nil, looks at the path the command was found at first;
// its error is Exec's.
func Exec(argv []string, environ []string, hold *os.File, check func(path string) error) error {
	path, err := lookPath(argv, environ, check)
	if err != nil {
		return err
	}
	cmd := &exec.Cmd{
		Path:   path,
		Args:   argv,
		Env:    environ,
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	}
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	defer signal.Stop(interrupt)
	err = cmd.Run()
	runtime.KeepAlive(hold)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("run %s: %w", path, err)
	}
	return nil
}

// Start starts argv detached from rezup's console group, stdin from NUL,
// stdout and stderr inherited, and returns at once. Windows file locks
// belong to the process that took them, so hold cannot be handed on: the
// entry stops being in use when rezup exits.
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
		SysProcAttr: &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP},
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", path, err)
	}
	pid = cmd.Process.Pid
	// Nobody waits for it; releasing frees the process handle.
	_ = cmd.Process.Release()
	return pid, nil
}
