// Package pyout reads what Python tools (pip, python, rez) print, to find
// the lines that say what failed: the exception line that ends a Python
// traceback, whose frames are noise to anyone but a developer.
//
// It is a leaf: pyresolve uses it for its one-line resolution errors, the
// CLI for the excerpt it prints after an error.
package pyout

import "strings"

// Line is one non-blank line of a tool's output.
type Line struct {
	Raw  string // as printed, trailing blanks and carriage returns removed
	Text string // without leading blanks either
	// Frame: the line is a traceback's header ("Traceback (most recent
	// call last):") or one of its frames.
	Frame bool
	// Exception: the line is the exception that ends a traceback.
	Exception bool
}

const tracebackHeader = "Traceback (most recent call last):"

// Lines splits output into its non-blank lines and marks the tracebacks
// in it. A traceback's frames are indented below its header and its
// exception line is back at the header's indentation, whatever that is
// (pip prints a build backend's traceback inside a box, indented).
func Lines(output string) []Line {
	var out []Line
	frameIndent := -1 // inside a traceback: the least indentation of its frames
	for _, raw := range strings.Split(output, "\n") {
		raw = strings.TrimRight(raw, " \t\r")
		text := strings.TrimLeft(raw, " \t")
		if text == "" {
			continue
		}
		l := Line{Raw: raw, Text: text}
		indent := len(raw) - len(text)
		switch {
		case text == tracebackHeader:
			frameIndent, l.Frame = indent+1, true
		case frameIndent >= 0 && indent >= frameIndent:
			l.Frame = true
		case frameIndent >= 0:
			frameIndent, l.Exception = -1, true
		}
		out = append(out, l)
	}
	return out
}
