package materialize

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pylock"
)

// lockFile is a revision's lock, next to its frozen recipe: the exact
// distributions its build installs (see internal/pylock for the format).
const lockFile = "lock.json"

// LockPath is the revision's lock file. Revisions written by the Python
// rezup, or by rezup before locks, have none.
func (r *Revision) LockPath() string { return filepath.Join(r.Dir, lockFile) }

// ReadLock reads the revision's lock. A revision without one returns
// (nil, nil): it is built from its recipe's requirement strings, as
// before locks. A lock that is not a regular file, too large, or not a
// valid lock is an error naming the file.
func (r *Revision) ReadLock() (*pylock.Lock, error) {
	b, err := fsx.ReadMeta(r.LockPath(), fsx.MaxJSONMeta)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the lock of revision %s: %w", r.Name, err)
	}
	l, err := pylock.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.LockPath(), err)
	}
	return l, nil
}
