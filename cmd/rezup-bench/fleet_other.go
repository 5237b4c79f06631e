//go:build !unix

package main

import (
	"os/exec"
	"time"
)

// killGroup: without process groups, cancel kills the node's rezup only.
func killGroup(c *exec.Cmd) { c.WaitDelay = 10 * time.Second }
