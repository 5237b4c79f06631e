package materialize

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/pyresolve"
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

// pull returns the local revision that mirrors the remote revision rrev
// (same container, same timestamp), creating it: the entry is fetched from
// the shared cache under the remote key, or built from fr, the remote
// revision's frozen recipe, when the cache does not have it (a revision
// written by the Python rezup has no key: its key is computed here). The
// local revision records the key its entry has on this machine, and holds
// fr.data as its frozen recipe, and res, the remote revision's lock.json
// (nil: none), both read by the caller: a build here installs that lock,
// not what the index offers today.
func (s *Store) pull(ctx context.Context, rrev *Revision, fr *frozenRecipe, res *pyresolve.Resolution) (*Revision, error) {
	var err error
	// The entry is held in use until the revision refers to it, so that
	// a collector cannot take it in between.
	var h *Hold
	store := s
	var cacheErr error
	if k, ok := rrev.Key(); ok {
		h, err = s.Materialize(ctx, Request{Key: k, Pin: rrev.Pin()})
		switch {
		case err == nil:
		case errors.Is(err, ErrNotCached):
			s.noteRefused(err)
		case isCacheError(err):
			// Degrade, never stop: build it here from the recipe,
			// without the cache that failed.
			s.opt.Reporter.Warnf("%v; building %s here from its recipe", err, rrev.label())
			cacheErr, store = err, s.withCache(nil)
		default:
			return nil, err
		}
	}
	if h == nil {
		fr.warnBuilding(s.opt.Reporter)
		p, err := store.plan(ctx, fr.recipe, res)
		if err != nil {
			return nil, bothFailed(cacheErr, err)
		}
		if k, ok := rrev.Key(); ok && k != p.Key {
			s.opt.Reporter.Warnf("remote revision %s of %s is %s, but its recipe is %s on this machine (another interpreter); building that", rrev.Name, rrev.Container, k, p.Key)
		}
		if h, err = store.Materialize(ctx, Request{Key: p.Key, Plan: p, Pin: samePin(rrev.Pin(), p.Key)}); err != nil {
			return nil, bothFailed(cacheErr, err)
		}
	}
	defer h.Close()
	m, err := s.ReadManifest(h.Key())
	if err != nil {
		return nil, err
	}
	user, host := s.creator()
	meta := Meta{Key: m.Key, RezupVersion: s.opt.Version, Creator: user, Hostname: host, Venvs: m.Venvs, RezVersion: m.RezVersion}
	if rrev.Meta != nil {
		meta.RemoteKey = rrev.Meta.Key
	}
	if pin := rrev.Pin(); pin != nil && pin.Key == m.Key {
		meta.Archive = pin
	}
	resBytes, err := marshalResolution(res)
	if err != nil {
		return nil, err
	}
	return s.opt.Root.writeRevisionAt(rrev.Container, rrev.Name, fr.data, resBytes, meta)
}

// RemoteKey is the key a pulled revision's remote revision names; it may
// differ from the local key when interpreters differ.
func (r *Revision) RemoteKey() (cas.Key, bool) {
	if r.Meta == nil || r.Meta.RemoteKey.IsZero() {
		return cas.Key{}, false
	}
	return r.Meta.RemoteKey, true
}
