package materialize

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
)

// DamagedError means a store entry that has its manifest, so counts as
// ready, lacks what launching needs: files were deleted from it.
type DamagedError struct {
	Key     cas.Key
	Problem string // what is missing, for people
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("build %s is damaged (%s)", e.Key, e.Problem)
}

// Inspect checks that entry k holds what a launch needs: its manifest,
// and for each venv its python, its production bin dir and the entry
// points the manifest lists. It returns a *DamagedError naming the first
// thing missing, or nil. A few stats per venv: it is meant for after a
// launch failed (an exec that found no file), not for every launch.
func (s *Store) Inspect(k cas.Key) error {
	m, err := s.ReadManifest(k)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(s.opt.Root.EntryDir(k)); serr != nil {
			return fmt.Errorf("inspect %s: %w", k, ErrNotReady)
		}
		return &DamagedError{Key: k, Problem: "its manifest is missing"}
	}
	if err != nil {
		return &DamagedError{Key: k, Problem: err.Error()}
	}
	entry := s.opt.Root.EntryDir(k)
	for _, name := range m.Venvs {
		v := pyenv.Venv{Dir: filepath.Join(entry, "venv", name)}
		for _, p := range []string{v.Python(), v.ProdBinDir()} {
			// Stat follows the venv's python link: a base interpreter
			// removed from this machine breaks the build just the same.
			if _, err := os.Stat(p); err != nil {
				return &DamagedError{Key: k, Problem: missing(entry, p, err)}
			}
		}
		for _, ep := range m.EntryPoints[name] {
			p := pyenv.EntryPointFile(v.ProdBinDir(), ep)
			if _, err := os.Stat(p); err != nil {
				return &DamagedError{Key: k, Problem: missing(entry, p, err)}
			}
		}
	}
	return nil
}

// missing says what is wrong with p, relative to the entry.
func missing(entry, p string, err error) string {
	rel, rerr := filepath.Rel(entry, p)
	if rerr != nil {
		rel = p
	}
	if errors.Is(err, fs.ErrNotExist) {
		return rel + " is missing"
	}
	return fmt.Sprintf("%s: %v", rel, err)
}

// Repair moves entry k aside, under its exclusive lock taken without
// waiting (ErrInUse while a process runs in it, holding the lock or not:
// the running processes are looked at under the lock, and a *UsedError
// names one): renamed into .tmp and deleted, its lock file with it, as a
// removal does. What the look at processes could not see is said through
// the Reporter. The next launch or pull of a revision that uses k fetches
// or builds it again. An entry that is not there is not an error.
func (s *Store) Repair(k cas.Key) error {
	if _, err := os.Lstat(s.opt.Root.EntryDir(k)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	lock, err := fsx.TryExclusive(s.opt.Root.LockPath(k))
	if errors.Is(err, fsx.ErrLocked) {
		return fmt.Errorf("repair %s: %w by a running process", k, ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("repair %s: %w", k, s.opt.Root.notWritable(s.opt.Root.StoreDir(), err))
	}
	defer lock.Close()
	rr := s.FindRuntimeRoots(context.Background())
	if gaps := rr.Gaps(); gaps != "" {
		s.opt.Reporter.Warnf("%s", gaps)
	}
	if err := rr.checkEntry(k); err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	if err := s.removeEntryLocked(k, lock); err != nil {
		return fmt.Errorf("repair %w", err)
	}
	return nil
}
