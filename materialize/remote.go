package materialize

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
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
// fr.data as its frozen recipe, and the remote revision's lock: a build
// here installs that lock, not what the index offers today.
func (s *Store) pull(ctx context.Context, rrev *Revision, fr *frozenRecipe) (*Revision, error) {
	// The entry is held in use until the revision refers to it, so that
	// a collector cannot take it in between.
	var m *Manifest
	var lease *Lease
	// Read first: nothing is held yet if it cannot be.
	lock, err := rrev.ReadResolution()
	if err != nil {
		return nil, err
	}
	if k, ok := rrev.Key(); ok {
		m, lease, err = s.MaterializeLeasedPinned(ctx, k, nil, rrev.Pin())
		if err != nil && !errors.Is(err, ErrNotCached) {
			return nil, err
		}
		s.noteRefused(err)
	}
	if m == nil {
		fr.warnBuilding(s.opt.Reporter)
		p, err := s.resolveFrozen(ctx, fr.recipe, lock)
		if err != nil {
			return nil, err
		}
		if k, ok := rrev.Key(); ok && k != p.Key {
			s.opt.Reporter.Warnf("remote revision %s of %s is %s, but its recipe is %s on this machine (another interpreter); building that", rrev.Name, rrev.Container, k, p.Key)
		}
		if m, lease, err = s.MaterializeLeasedPinned(ctx, p.Key, p, samePin(rrev.Pin(), p.Key)); err != nil {
			return nil, err
		}
	}
	defer lease.Release()
	user, host := s.creator()
	meta := Meta{Key: m.Key, RezupVersion: s.opt.Version, Creator: user, Hostname: host, Venvs: m.Venvs, RezVersion: m.RezVersion}
	if rrev.Meta != nil {
		meta.RemoteKey = rrev.Meta.Key
	}
	if pin := rrev.Pin(); pin != nil && pin.Key == m.Key {
		meta.Archive = pin
	}
	lockBytes, err := marshalLock(lock)
	if err != nil {
		return nil, err
	}
	return s.opt.Root.writeRevisionAt(rrev.Container, rrev.Name, fr.data, lockBytes, meta)
}

// AddRemoteRevision records a new ready revision of container in the
// remote root, for the entry m describes: only the recipe and
// revision.json (and lock.json with a lock), staged and renamed into place. pin, when not nil, is the
// archive Publish published for m.Key: the revision pins it (Meta.Archive).
func (s *Store) AddRemoteRevision(remote Root, container string, recipeBytes []byte, lock *pyresolve.Resolution, m *Manifest, pin *cache.Entry) (*Revision, error) {
	if pin != nil && pin.Key != m.Key {
		return nil, fmt.Errorf("add remote revision of %s: the pin is for %s", m.Key, pin.Key)
	}
	lockBytes, err := marshalLock(lock)
	if err != nil {
		return nil, err
	}
	user, host := s.creator()
	meta := Meta{Key: m.Key, RezupVersion: s.opt.Version, Creator: user, Hostname: host, Venvs: m.Venvs, RezVersion: m.RezVersion}
	if pin != nil {
		p := *pin
		p.Signatures = nil
		meta.Archive = &p
	}
	remote.Remote = true
	return remote.writeLockedRevision(container, recipeBytes, lockBytes, meta, s.opt.Now())
}

// RemoteKey is the key a pulled revision's remote revision names; it may
// differ from the local key when interpreters differ.
func (r *Revision) RemoteKey() (cas.Key, bool) {
	if r.Meta == nil || r.Meta.RemoteKey.IsZero() {
		return cas.Key{}, false
	}
	return r.Meta.RemoteKey, true
}
