package gc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/materialize"
)

// ErrRunning means another gc holds the root's gc lock. The error is a
// *RunningError, which says who.
var ErrRunning = errors.New("gc already running")

// RunningError is ErrRunning with the holder's line (its pid).
type RunningError struct{ Holder string }

func (e *RunningError) Error() string {
	if e.Holder == "" {
		return ErrRunning.Error()
	}
	return fmt.Sprintf("%s (%s)", ErrRunning, e.Holder)
}

// Is makes errors.Is(err, ErrRunning) true.
func (e *RunningError) Is(target error) bool { return target == ErrRunning }

// Lock takes the root's gc lock (<root>/.gc.lock, LOCK_EX), so that two
// collectors never work on one root at once. Without wait it fails at once
// with a *RunningError when another gc holds it; with wait it waits until
// ctx is done. A root that does not exist has nothing to collect: Lock
// then creates nothing and returns a nil lock (its Close does nothing).
// Where this account cannot write the lock file (a read-only mount,
// another account's root), it takes the lock through a read-only
// descriptor, or, when there is no lock file to take, none: such a gc
// only reports what it may not remove. A dry run needs no lock.
func Lock(ctx context.Context, root materialize.Root, wait bool) (l *fsx.Lock, err error) {
	if _, err := os.Stat(root.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	p := root.GCLockPath()
	if wait {
		l, err = fsx.Exclusive(ctx, p, nil)
	} else {
		l, err = fsx.TryExclusive(p)
	}
	if err != nil && fsx.CannotWrite(err) {
		l, err = fsx.TryExclusiveReadOnly(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	if errors.Is(err, fsx.ErrLocked) {
		b, _ := os.ReadFile(p) // the holder's line is a courtesy: without it the error still says what
		return nil, &RunningError{Holder: strings.TrimSpace(string(b))}
	}
	if err != nil {
		return nil, fmt.Errorf("gc lock: %w", err)
	}
	// Who holds it, for the message of a second gc. Only the holder
	// writes, and a torn read only garbles that message.
	f := l.File()
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d", os.Getpid())), 0) // a courtesy, as above
	}
	return l, nil
}
