//go:build !windows

package main

func shellCommand(line string) []string { return []string{"/bin/sh", "-c", line} }
