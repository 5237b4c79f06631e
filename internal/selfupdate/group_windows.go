//go:build windows

package selfupdate

import "os/exec"

// ownProcessGroup does nothing on Windows, where there are no process
// groups to kill: cancellation kills the process itself (exec's default)
// and WaitDelay stops the wait for output a child still holds. A child
// may outlive the check there (best effort; a job object would be the
// full answer).
func ownProcessGroup(*exec.Cmd) {}

func killProcessGroup(*exec.Cmd) {}
