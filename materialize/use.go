package materialize

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyresolve"
)

// addRevision records a new ready revision of container in root (the
// local root, or a remote root for add --remote) that uses the entry m
// describes: the frozen recipe, lock.json when res is not nil, and
// revision.json, staged and renamed into place. pin, when not nil, is the
// archive Publish published for m.Key: a remote revision pins it
// (Meta.Archive). signer, when not nil, signs the revision (see
// revisionStatement).
func (s *Store) addRevision(root Root, container string, recipeBytes []byte, res *pyresolve.Resolution, m *Manifest, pin *cache.Entry, signer *cache.SecretKey) (*Revision, error) {
	if pin != nil && pin.Key != m.Key {
		return nil, fmt.Errorf("add revision of %s: the pin is for %s", m.Key, pin.Key)
	}
	resBytes, err := marshalResolution(res)
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
	return root.writeLockedRevision(container, recipeBytes, resBytes, meta, s.opt.Now(), signer)
}

// marshalResolution is res's lock.json, nil for none.
func marshalResolution(res *pyresolve.Resolution) ([]byte, error) {
	if res == nil {
		return nil, nil
	}
	return res.Marshal()
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
	meta.Archive = samePin(meta.Archive, m.Key) // a pin is of the old key only
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
