package launch

import (
	"errors"
	"strconv"
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
