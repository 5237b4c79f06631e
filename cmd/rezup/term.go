package main

import (
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether f (a stream of the process, or anything else
// rezup writes to or reads from) is a terminal. x/term asks the terminal
// driver itself (termios on unix, the console mode on Windows): a pipe, a
// file and /dev/null are not terminals.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
