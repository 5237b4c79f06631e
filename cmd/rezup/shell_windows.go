//go:build windows

package main

func shellCommand(line string) []string { return []string{"cmd.exe", "/C", line} }
