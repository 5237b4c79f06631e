//go:build windows

package main

func shellCommand(line string) []string { return []string{"cmd.exe", "/C", line} }

// doProgram is "": cmd.exe has builtins and PATHEXT rules of its own, so
// a --do line's command is left for it to find.
func doProgram(line string) string { return "" }
