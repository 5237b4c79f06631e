//go:build windows

package proc

import "os/exec"

// Group does nothing on Windows, where there are no process
// groups to kill: cancellation kills the process itself (exec's default)
// and WaitDelay stops the wait for output a child still holds. A child
// may outlive the check there (best effort; a job object would be the
// full answer).
func Group(*exec.Cmd) {}

// KillGroup does nothing on Windows (see Group).
func KillGroup(*exec.Cmd) {}
