package materialize

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
)

// Revisions built by the Python rezup are adopted as they are: their
// venvs live in the revision itself (<revision>/venv/<name>, production
// entry points in venv/<name>/bin/rez), their revision.json names no key,
// and they launch from there, with no pip run and no store entry. Building
// them again would fail offline, and could change versions under a
// floating requirement.
//
// Their in-use lock is <revision>/venv/.rezup-use.lock, the counterpart of
// .store/<key>.lock: LOCK_SH while a process runs in the venv, LOCK_EX
// while the revision is removed. It lives in the revision, so that it goes
// with it (a store-side lock per revision would never be removed), and in
// venv/ rather than beside revision.json, so that creating it leaves the
// revision directory's mtime (when it was published, which gc reads)
// alone. A launcher that waited on the lock of a revision removed
// meanwhile finds revision.json gone once it holds the lock, and looks
// again. Its mtime is the revision's use-stamp, refreshed as an entry's.

// BuiltByPython is what status shows for a revision the Python rezup built.
const BuiltByPython = "python-rezup"

// PythonBuilt reports whether rev is a ready revision of the local root
// that the Python rezup built: no key in revision.json, and its venv a real
// directory rather than rezup's link into the store.
func (r *Revision) PythonBuilt() bool {
	return !r.Remote && r.Meta != nil && !r.Meta.namesKey() && r.ownVenv
}

func (r *Revision) useLockPath() string {
	return filepath.Join(r.Dir, "venv", ".rezup-use.lock")
}

// ownBinDirs are the production bin dirs of a Python-built revision's own
// venvs, in the order revision.json lists them, where the Python rezup
// writes them (venv/<name>/bin/rez).
func (r *Revision) ownBinDirs() []string {
	dirs := make([]string, len(r.Meta.Venvs))
	for i, v := range r.Meta.Venvs {
		dirs[i] = pyenv.Venv{Dir: filepath.Join(r.Dir, "venv", v)}.ProdBinDir()
	}
	return dirs
}

// hasOwnBinDirs says whether the revision lists venvs whose production bin
// dirs are all there.
func (r *Revision) hasOwnBinDirs() bool {
	for _, d := range r.ownBinDirs() {
		if _, err := os.Stat(d); err != nil {
			return false
		}
	}
	return len(r.Meta.Venvs) > 0
}

// revisionBinDirs are the production bin dirs a ready revision launches
// with: its own venvs' when the Python rezup built it, otherwise those of
// entry k.
func (s *Store) revisionBinDirs(rev *Revision, k cas.Key) []string {
	if rev.PythonBuilt() {
		return rev.ownBinDirs()
	}
	return s.binDirs(k, rev.Meta.Venvs)
}

// Pinned reports whether a remote revision fixes its build: it pins the
// archive its publisher stored, or holds the lock (lock.json) to build it
// from. Its local mirror, if the Python rezup made it (PythonBuilt), holds
// whatever pip installed from the frozen recipe that day instead: rezup
// launches the pinned build from its store, and leaves that mirror to the
// Python rezup's launches. A remote revision the Python rezup published
// pins nothing, and its mirror is adopted as it is.
func (r *Revision) Pinned() bool {
	if r.Pin() != nil {
		return true
	}
	_, err := os.Stat(r.ResolutionPath())
	return err == nil
}

// PythonRezVersion is the rez version of a Python-built revision, from the
// .rez_production_install marker the Python rezup writes (its
// revision.json does not record it); "" when it cannot be read.
func (r *Revision) PythonRezVersion() string {
	if !r.PythonBuilt() {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(pyenv.Venv{Dir: filepath.Join(r.Dir, "venv", "rez")}.ProdBinDir(), ".rez_production_install"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// useRevision takes the in-use lock of a Python-built revision, after
// checking that its production bin dirs are there. When the lock file
// cannot be created or opened (a read-only root, a revision another user
// owns), the revision launches without it: the root cannot be collected
// by this user either, and whoever can collect it can also lock it. The
// returned lock is then nil.
func (s *Store) useRevision(ctx context.Context, rev *Revision) (*fsx.Lock, error) {
	// rezup 1.x wrote its tools to <revision>/bin: nothing this rezup (or
	// the Python rezup 2) launches. Said in one line, with what to do.
	if old := filepath.Join(rev.Dir, "bin"); !rev.hasOwnBinDirs() {
		if fi, err := os.Stat(old); err == nil && fi.IsDir() {
			return nil, fmt.Errorf("revision %s of %s was made by rezup 1.x (its tools are in %s), which this rezup does not launch; add a new revision with `rezup add %s`", rev.Name, rev.Container, old, rev.Container)
		}
	}
	if len(rev.Meta.Venvs) == 0 {
		return nil, fmt.Errorf("revision %s of %s (built by the Python rezup) names no venv in its revision.json; add a new revision with `rezup add %s`", rev.Name, rev.Container, rev.Container)
	}
	for _, d := range rev.ownBinDirs() {
		if _, err := os.Stat(d); err != nil {
			return nil, fmt.Errorf("revision %s of %s (built by the Python rezup) is incomplete: %w; add a new revision with `rezup add %s`", rev.Name, rev.Container, err, rev.Container)
		}
	}
	p := rev.useLockPath()
	lock, err := fsx.Shared(ctx, p, func() {
		s.opt.Reporter.Infof("waiting for revision %s of %s: it is being removed", rev.Name, rev.Container)
	})
	switch {
	case err == nil:
	case ctx.Err() != nil, errors.Is(err, fs.ErrNotExist):
		// Cancelled, or the revision went away since it was listed (the
		// caller looks for the latest again).
		return nil, err
	default:
		s.opt.Reporter.Debugf("revision %s of %s launches without its in-use lock: %v", rev.Name, rev.Container, err)
		return nil, nil
	}
	// Removed while this waited: its lock was taken exclusively, the
	// revision renamed away, and only then released.
	if _, err := os.Stat(filepath.Join(rev.Dir, "revision.json")); err != nil {
		lock.Close()
		return nil, fmt.Errorf("revision %s of %s: %w", rev.Name, rev.Container, err)
	}
	if fi, err := lock.File().Stat(); err == nil {
		if now := s.opt.Now(); now.Sub(fi.ModTime()) >= UseStampEvery {
			_ = os.Chtimes(p, now, now) // as for entries: a missed stamp only makes the last use look older
		}
	}
	return lock, nil
}

// RevisionInUse reports whether a process holds a Python-built revision's
// in-use lock. Like InUse, it never creates the lock file. It is false for
// every other revision: processes hold their entry, not the revision.
func (s *Store) RevisionInUse(rev *Revision) (bool, error) {
	if !rev.PythonBuilt() {
		return false, nil
	}
	return lockHeld(rev.useLockPath())
}

// RevisionLastUse is when a Python-built revision was last launched, to
// within UseStampEvery: its use-stamp. ok is false when it was never
// launched by this rezup, or is not Python-built.
func (s *Store) RevisionLastUse(rev *Revision) (t time.Time, ok bool) {
	if !rev.PythonBuilt() {
		return time.Time{}, false
	}
	fi, err := os.Stat(rev.useLockPath())
	if err != nil {
		return time.Time{}, false
	}
	return fi.ModTime(), true
}

// lockRevision takes a Python-built revision's in-use lock exclusively
// without waiting, for its removal (ErrInUse while a process runs in it).
// Other revisions need no lock: nil, which Close takes.
func (s *Store) lockRevision(rev *Revision) (*fsx.Lock, error) {
	if !rev.PythonBuilt() {
		return nil, nil
	}
	lk, err := fsx.TryExclusive(rev.useLockPath())
	if errors.Is(err, fsx.ErrLocked) {
		return nil, fmt.Errorf("revision %s of %s (built by the Python rezup) is %w by a running process", rev.Name, rev.Container, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("revision %s of %s: %w", rev.Name, rev.Container, err)
	}
	return lk, nil
}
