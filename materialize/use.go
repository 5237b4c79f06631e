package materialize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/recipe"
)

// AddRevision records a new ready revision of container that uses the
// entry m describes. recipeBytes is the frozen recipe.
func (s *Store) AddRevision(container string, recipeBytes []byte, m *Manifest) (*Revision, error) {
	user, host := s.creator()
	meta := Meta{
		Key:          m.Key,
		RezupVersion: s.opt.Version,
		Creator:      user,
		Hostname:     host,
		Venvs:        m.Venvs,
		RezVersion:   m.RezVersion,
	}
	return s.opt.Root.writeRevision(container, recipeBytes, meta, s.opt.Now())
}

// Hold is Ensure, then Use: when it returns, entry k is ready and held in
// use (the lock is what a launcher hands on), so that a collector cannot
// remove it before a revision refers to it or a command runs in it.
func (s *Store) Hold(ctx context.Context, k cas.Key, p *Plan) (*Manifest, *fsx.Lock, func(), error) {
	// A collector may remove the entry between Ensure and Use; a few
	// rounds make that race harmless.
	for attempt := 0; ; attempt++ {
		m, err := s.Ensure(ctx, k, p)
		if err != nil {
			return nil, nil, nil, err
		}
		lock, unlock, err := s.Use(ctx, k)
		if err == nil {
			return m, lock, unlock, nil
		}
		if !errors.Is(err, ErrNotReady) || attempt == 2 {
			return nil, nil, nil, err
		}
	}
}

// Acquire returns the key of a revision's entry and the in-use lock on
// it. On the hot path that is one stat and one lock. When the entry is
// missing (collected, or the revision came from elsewhere), it is fetched
// from the shared cache, or built again from the revision's frozen recipe
// (read with recipe.LoadFrozen; the caller shows what it ignored).
// A revision the Python rezup built (PythonBuilt) is used as it is: the
// key is zero, the lock is the revision's own (nil when it cannot be
// taken in a read-only root), and RevisionBinDirs names its venvs.
func (s *Store) Acquire(ctx context.Context, rev *Revision) (cas.Key, *fsx.Lock, func(), error) {
	if rev.PythonBuilt() {
		lock, unlock, err := s.useRevision(ctx, rev)
		return cas.Key{}, lock, unlock, err
	}
	if k, ok := rev.Key(); ok {
		lock, unlock, err := s.Use(ctx, k)
		if err == nil {
			return k, lock, unlock, nil
		}
		if !errors.Is(err, ErrNotReady) {
			return k, nil, nil, err
		}
		_, lock, unlock, err = s.Hold(ctx, k, nil)
		if err == nil {
			return k, lock, unlock, nil
		}
		if !errors.Is(err, ErrNotCached) {
			return k, nil, nil, err
		}
	}
	r, warns, err := recipe.LoadFrozen(rev.RecipePath())
	if err != nil {
		return cas.Key{}, nil, nil, fmt.Errorf("revision %s of %s: %w", rev.Name, rev.Container, err)
	}
	for _, w := range warns {
		if !w.Ignored { // the caller shows those: it reads the same recipe to launch
			s.opt.Reporter.Warnf("%s", w)
		}
	}
	plan, err := s.Resolve(ctx, r)
	if err != nil {
		return cas.Key{}, nil, nil, err
	}
	m, lock, unlock, err := s.Hold(ctx, plan.Key, plan)
	if err != nil {
		return plan.Key, nil, nil, err
	}
	if err := s.repoint(rev, m); err != nil {
		unlock()
		return plan.Key, nil, nil, err
	}
	return plan.Key, lock, unlock, nil
}

// repoint records in a local revision the key its recipe resolves to on
// this machine, when it differs from what revision.json says (a revision
// written by the Python rezup has no key; an interpreter upgrade changes
// it). revision.json and the venv link are replaced atomically.
func (s *Store) repoint(rev *Revision, m *Manifest) error {
	if rev.Remote || rev.Meta == nil || rev.Meta.Key == m.Key {
		return nil
	}
	if !rev.Meta.Key.IsZero() {
		s.opt.Reporter.Warnf("revision %s of %s now uses %s (was %s): its interpreters changed", rev.Name, rev.Container, m.Key, rev.Meta.Key)
	}
	meta := *rev.Meta
	meta.Key = m.Key
	if len(meta.Venvs) == 0 {
		meta.Venvs = m.Venvs
	}
	if meta.RezVersion == "" {
		meta.RezVersion = m.RezVersion
	}
	link := filepath.Join(rev.Dir, "venv")
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink != 0 {
		tmp := filepath.Join(rev.Dir, fsx.RandomName(".venv-"))
		if err := os.Symlink(storeLink(m.Key), tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, link); err != nil {
			os.Remove(tmp) // the rename failed; the temp link is all there is to clean
			return err
		}
	}
	b, err := json.MarshalIndent(meta, "", "    ")
	if err != nil {
		return err
	}
	if err := fsx.WriteFile(filepath.Join(rev.Dir, "revision.json"), append(b, '\n'), 0o666); err != nil {
		return fmt.Errorf("update revision %s: %w", rev.Name, err)
	}
	rev.Meta = &meta
	return nil
}
