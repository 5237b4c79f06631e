package envlist

import (
	"errors"
	"fmt"
)

// ErrNotFound is wrapped by LookPath when there is no such command.
var ErrNotFound = errors.New("not found")

// ErrNotExecutable is wrapped by LookPath when a command given by path
// exists but cannot be run.
var ErrNotExecutable = errors.New("is not executable")

// LookPath is exec.LookPath over the PATH of environ rather than of the
// running process: given the composed environment, the production bin
// dirs are searched first. A name with a path separator is used as it is.
// Relative PATH entries are skipped, as exec.LookPath refuses them: the
// result would depend on the working directory.
func LookPath(file string, environ []string) (string, error) {
	if file == "" {
		return "", fmt.Errorf("empty command name: %w", ErrNotFound)
	}
	path, _ := Lookup(environ, "PATH")
	return lookPath(file, path, environ)
}

func notFound(file string) error {
	return fmt.Errorf("command %q %w on PATH", file, ErrNotFound)
}
