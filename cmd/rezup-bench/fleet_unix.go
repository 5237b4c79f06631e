//go:build unix

package main

import (
	"os/exec"
	"syscall"
	"time"
)

// killGroup makes c's cancel kill its whole process group: a node's pip
// must not outlive a run that timed out.
func killGroup(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 10 * time.Second
}
