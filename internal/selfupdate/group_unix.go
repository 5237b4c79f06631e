//go:build unix

package selfupdate

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup starts cmd as the leader of a new process group, and
// makes its cancellation kill the whole group: a child it forked that
// holds its stdout dies with it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// killProcessGroup kills what is left of cmd's process group once cmd is
// done: nothing a release's --version started outlives the check.
func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		// ESRCH (nothing left) is the usual, harmless answer.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
