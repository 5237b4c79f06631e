package pyout

import (
	"regexp"
	"strconv"
	"sync"
	"syscall"
)

// errno finds the first "[Errno N]" of an OSError a Python tool printed.
var errno = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[Errno (\d+)\]`) })

// diskErrnos are the errors a tool reports of the disk it writes to,
// whatever it was doing: a user fixes them on the disk, not in a recipe.
var diskErrnos = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS}

// WithOSError is err, matching (errors.Is) the disk error the tool's
// output reports as an OSError ("[Errno 28] No space left on device"):
// ENOSPC, EDQUOT or EROFS, so that a caller tells the user to free space
// rather than to fix a recipe. err unchanged when the output reports none.
func WithOSError(err error, output string) error {
	if err == nil {
		return nil
	}
	m := errno().FindStringSubmatch(output)
	if m == nil {
		return err
	}
	n, convErr := strconv.Atoi(m[1])
	if convErr != nil {
		return err
	}
	for _, e := range diskErrnos {
		if int(e) == n {
			return &osError{err: err, errno: e}
		}
	}
	return err
}

// osError is an error whose message is err's, that also matches errno.
type osError struct {
	err   error
	errno syscall.Errno
}

func (e *osError) Error() string   { return e.err.Error() }
func (e *osError) Unwrap() []error { return []error{e.err, e.errno} }
