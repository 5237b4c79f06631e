package launch

import (
	"errors"
	"strconv"

	"github.com/rezup/rezup/internal/envlist"
)

// ExitError is a command that ran and exited non-zero, where rezup waits
// for its command (Windows). cmd/rezup exits with Code. On Unix, Exec
// replaces rezup instead, so the code is rezup's without any mapping.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string {
	return "command exited with code " + strconv.Itoa(e.Code)
}

var errNoCommand = errors.New("no command to run")

// lookPath finds argv's command on environ's PATH, then has check (when
// not nil) look at it before it runs: check's error is the launch's.
func lookPath(argv, environ []string, check func(path string) error) (string, error) {
	if len(argv) == 0 {
		return "", errNoCommand
	}
	path, err := envlist.LookPath(argv[0], environ)
	if err != nil {
		return "", err
	}
	if check != nil {
		if err := check(path); err != nil {
			return "", err
		}
	}
	return path, nil
}
