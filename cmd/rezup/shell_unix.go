//go:build !windows

package main

import "strings"

// shellCommand runs a --do line with /bin/sh. A simple command (no list,
// pipe, subshell or substitution, and not a shell builtin, keyword or
// assignment) is run with `exec`, so that it replaces the shell: signals
// sent to rezup's pid then reach the command itself (dash, Debian's sh,
// does not exec the last command of -c on its own), and nothing is left
// running when it is killed.
func shellCommand(line string) []string {
	if execable(line) {
		line = "exec " + line
	}
	return []string{"/bin/sh", "-c", line}
}

// shellWords are the sh builtins and keywords that exec cannot run.
var shellWords = map[string]bool{
	"exit": true, "return": true, "cd": true, "export": true, "unset": true, "set": true,
	"shift": true, "eval": true, "exec": true, ".": true, "source": true, ":": true,
	"alias": true, "unalias": true, "read": true, "trap": true, "wait": true, "umask": true,
	"ulimit": true, "readonly": true, "local": true, "times": true, "break": true,
	"continue": true, "command": true, "type": true, "hash": true, "getopts": true,
	"jobs": true, "fg": true, "bg": true, "if": true, "for": true, "while": true,
	"until": true, "case": true, "{": true, "!": true, "function": true,
}

// doProgram is the command a --do line runs when it is a simple command
// whose first word is a plain name or path (no quoting, expansion or
// glob for the shell to work on), so that rezup can look it up as the
// shell would; else "".
func doProgram(line string) string {
	if !execable(line) {
		return ""
	}
	w := strings.Fields(line)[0]
	if strings.ContainsAny(w, "'\"\\$*?[]{}~#<>") {
		return ""
	}
	return w
}

func execable(line string) bool {
	if strings.ContainsAny(line, ";&|()`\n") || strings.Contains(line, "$(") {
		return false
	}
	words := strings.Fields(line)
	return len(words) > 0 && !shellWords[words[0]] && !strings.Contains(words[0], "=")
}
