package materialize

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/recipe"
)

// Revision reads the revision of container named name. Its Meta is nil
// when it is not ready.
func (r Root) Revision(container, name string) (*Revision, error) {
	t, ok := parseRevisionName(name)
	if !ok {
		return nil, fmt.Errorf("%q is not a revision name", name)
	}
	dir := filepath.Join(r.RevisionsDir(container), name)
	if _, err := os.Stat(filepath.Join(dir, "rezup.toml")); err != nil {
		return nil, err
	}
	rev := &Revision{Container: container, Name: name, Time: t, Dir: dir, Remote: r.Remote}
	meta, err := readMeta(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if meta != nil {
		rev.setMeta(meta)
	}
	return rev, nil
}

// Pull returns the local revision that mirrors the remote revision rrev
// (same container, same timestamp), creating it when missing: the entry is
// fetched from the shared cache under the remote key, or built from the
// remote recipe (read with recipe.ParseFrozen; the caller shows what it
// ignored) when the cache does not have it (a revision written by the
// Python rezup has no key: its key is computed here). The local revision
// records the key its entry has on this machine.
func (s *Store) Pull(ctx context.Context, rrev *Revision) (*Revision, error) {
	if lrev, err := s.opt.Root.Revision(rrev.Container, rrev.Name); err == nil && lrev.Ready() {
		return lrev, nil // its entry is checked (and rebuilt if need be) by Acquire
	}
	data, err := os.ReadFile(rrev.RecipePath())
	if err != nil {
		return nil, fmt.Errorf("read remote revision %s of %s: %w", rrev.Name, rrev.Container, err)
	}
	// The entry is held in use until the revision refers to it, so that
	// a collector cannot take it in between.
	var m *Manifest
	var release func()
	if k, ok := rrev.Key(); ok {
		m, _, release, err = s.Hold(ctx, k, nil)
		if err != nil && !errors.Is(err, ErrNotCached) {
			return nil, err
		}
	}
	if m == nil {
		r, warns, err := recipe.ParseFrozen(rrev.RecipePath(), data)
		if err != nil {
			return nil, fmt.Errorf("remote revision %s of %s: %w", rrev.Name, rrev.Container, err)
		}
		for _, w := range warns {
			if !w.Ignored { // the caller shows those: it reads the same recipe to launch
				s.opt.Reporter.Warnf("%s", w)
			}
		}
		p, err := s.Resolve(ctx, r)
		if err != nil {
			return nil, err
		}
		if k, ok := rrev.Key(); ok && k != p.Key {
			s.opt.Reporter.Warnf("remote revision %s of %s is %s, but its recipe is %s on this machine (another interpreter); building that", rrev.Name, rrev.Container, k, p.Key)
		}
		if m, _, release, err = s.Hold(ctx, p.Key, p); err != nil {
			return nil, err
		}
	}
	defer release()
	user, host := s.creator()
	meta := Meta{Key: m.Key, RezupVersion: s.opt.Version, Creator: user, Hostname: host, Venvs: m.Venvs, RezVersion: m.RezVersion}
	if rrev.Meta != nil {
		meta.RemoteKey = rrev.Meta.Key
	}
	return s.opt.Root.writeRevisionAt(rrev.Container, rrev.Name, data, meta)
}

// AddRemoteRevision records a new ready revision of container in the
// remote root, for the entry m describes: only the recipe and
// revision.json, staged and renamed into place.
func (s *Store) AddRemoteRevision(remote Root, container string, recipeBytes []byte, m *Manifest) (*Revision, error) {
	user, host := s.creator()
	meta := Meta{Key: m.Key, RezupVersion: s.opt.Version, Creator: user, Hostname: host, Venvs: m.Venvs, RezVersion: m.RezVersion}
	remote.Remote = true
	return remote.writeRevision(container, recipeBytes, meta, s.opt.Now())
}

// RemoteKey is the key a pulled revision's remote revision names; it may
// differ from the local key when interpreters differ.
func (r *Revision) RemoteKey() (cas.Key, bool) {
	if r.Meta == nil || r.Meta.RemoteKey.IsZero() {
		return cas.Key{}, false
	}
	return r.Meta.RemoteKey, true
}
