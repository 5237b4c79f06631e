//go:build unix

package proc

import (
	"os/exec"
	"syscall"
)

// Group starts cmd as the leader of a new process group, and
// makes its cancellation kill the whole group: a child it forked (that
// holds its stdout, or works for it) dies with it. The group also keeps
// the terminal's Ctrl-C from reaching it directly: rezup decides, and
// ends the group through its context.
func Group(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// KillGroup kills what is left of cmd's process group once cmd is
// done: nothing it started outlives it.
func KillGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		// ESRCH (nothing left) is the usual, harmless answer.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
