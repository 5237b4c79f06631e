package materialize

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyresolve"
)

// resolutionFile is a revision's resolution, next to its frozen recipe:
// the exact distributions its build installs (see internal/pyresolve for
// the format). Users know it as the lock, and its file name stays.
const resolutionFile = "lock.json"

// ResolutionPath is the revision's lock.json. Revisions written by the
// Python rezup, or by rezup before locks, have none.
func (r *Revision) ResolutionPath() string { return filepath.Join(r.Dir, resolutionFile) }

// ReadResolution reads the revision's lock.json. A revision without one
// returns (nil, nil): it is built from its recipe's requirement strings, as
// before locks. A file that is not a regular file, too large, or not a
// valid resolution is an error naming the file.
func (r *Revision) ReadResolution() (*pyresolve.Resolution, error) {
	b, err := fsx.ReadMeta(r.ResolutionPath(), fsx.MaxJSONMeta)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the lock of revision %s: %w", r.Name, err)
	}
	l, err := pyresolve.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.ResolutionPath(), err)
	}
	return l, nil
}
