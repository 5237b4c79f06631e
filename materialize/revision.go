package materialize

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
)

// ErrNoRevision means a container has no ready revision.
var ErrNoRevision = errors.New("no ready revision")

// Meta is revision.json. The fields the Python rezup writes keep their
// names; Key is zero in revisions the Python rezup wrote.
type Meta struct {
	Key cas.Key `json:"key,omitzero"`
	// RemoteKey is, in a revision pulled from a remote root, the key the
	// remote revision names (Key is the one this machine uses).
	RemoteKey    cas.Key  `json:"remote_key,omitzero"`
	RezupVersion string   `json:"rezup_version"`
	Creator      string   `json:"creator"`
	Hostname     string   `json:"hostname"`
	RevisionPath string   `json:"revision_path,omitempty"`
	Venvs        []string `json:"venvs"`
	RezVersion   string   `json:"rez_version,omitempty"`
	// Archive, in a revision of the remote root, pins the archive the
	// admin published for Key (the cache entry without signatures): a
	// node fetches exactly that digest, never what the cache's
	// entry.json names, or else builds from the frozen recipe. The local
	// mirror of such a revision keeps it, so that a build removed since
	// is fetched again by the same digest. Nil in revisions without one
	// (the Python rezup's, an older rezup's, or published with no cache).
	Archive *cache.Entry `json:"archive,omitempty"`
	// Signatures, in a revision of the remote root, are the publisher's
	// ("<name>:<base64>") of the revision's statement (container, name,
	// key, pin, frozen recipe, lock.json; see revisionStatement). Nil in
	// unsigned revisions and in local ones.
	Signatures []string `json:"signatures,omitempty"`

	// keyed is set when revision.json has a "key" that is not empty, even
	// one that is not a key: such a revision was written by a rezup, so it
	// is not one the Python rezup built, though it has no usable key.
	keyed bool
}

// namesKey reports whether revision.json names a key, usable or not: the
// Python rezup never writes one.
func (m *Meta) namesKey() bool { return m.keyed || !m.Key.IsZero() }

// Revision is one timestamp-named directory of a container.
type Revision struct {
	Container string
	Name      string // the directory name, a Unix timestamp
	Time      time.Time
	Dir       string
	Remote    bool
	// Meta is nil while the revision is not ready (no revision.json yet),
	// and when its revision.json cannot be read (then Err says why).
	Meta *Meta
	// Err is why revision.json could not be read (corrupt JSON, no
	// permission); nil otherwise. Such a revision is not ready: Latest
	// passes over it, and Revisions lists it so that callers can say so.
	Err error
	// Skipped are the newer revisions Latest passed over because their
	// revision.json could not be read (each with Err), newest first: the
	// caller warns about them.
	Skipped []*Revision
	// ownVenv is set when <revision>/venv is a real directory rather than
	// a link into the store (see PythonBuilt).
	ownVenv bool
}

// Ready reports whether revision.json was written and could be read.
func (r *Revision) Ready() bool { return r.Meta != nil }

// RecipePath is the revision's frozen recipe.
func (r *Revision) RecipePath() string { return filepath.Join(r.Dir, "rezup.toml") }

// Key is the store key the revision uses. ok is false for revisions
// without one (written by the Python rezup, or not ready).
func (r *Revision) Key() (cas.Key, bool) {
	if r.Meta == nil || r.Meta.Key.IsZero() {
		return cas.Key{}, false
	}
	return r.Meta.Key, true
}

// RevisionName formats t the way the Python rezup names revisions
// (seconds since the epoch with a fractional part).
func RevisionName(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMicro())/1e6, 'f', 6, 64)
}

func parseRevisionName(name string) (time.Time, bool) {
	if name == "" || name[0] == '.' {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(name, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3), true
}

// Revisions lists a container's valid revisions, newest first. A revision
// is valid when its name is a timestamp and it holds rezup.toml, as in the
// Python rezup; it is ready when revision.json exists too.
func (r Root) Revisions(container string) ([]*Revision, error) {
	dir := r.RevisionsDir(container)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list revisions of %s: %w", container, err)
	}
	var revs []*Revision
	for _, e := range ents {
		t, ok := parseRevisionName(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		revs = append(revs, &Revision{Container: container, Name: e.Name(), Time: t, Dir: filepath.Join(dir, e.Name()), Remote: r.Remote})
	}
	sort.Slice(revs, func(i, j int) bool {
		if !revs[i].Time.Equal(revs[j].Time) {
			return revs[i].Time.After(revs[j].Time)
		}
		return revs[i].Name > revs[j].Name
	})
	valid := revs[:0]
	for _, rev := range revs {
		if _, err := os.Stat(rev.RecipePath()); err != nil {
			continue
		}
		meta, err := readMeta(rev.Dir)
		switch {
		case err == nil:
			rev.setMeta(meta)
		case !errors.Is(err, fs.ErrNotExist):
			rev.Err = err
		}
		valid = append(valid, rev)
	}
	return valid, nil
}

// Latest returns the newest ready revision of a container. It reads the
// directory and then only as many revision.json files as it must: this is
// the launch hot path. A revision whose revision.json cannot be read is
// passed over (it is in the result's Skipped), so a corrupt latest
// revision falls back to the one before it.
func (r Root) Latest(container string) (*Revision, error) {
	dir := r.RevisionsDir(container)
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list revisions of %s: %w", container, err)
	}
	type cand struct {
		name string
		t    time.Time
	}
	var cands []cand
	for _, e := range ents {
		if t, ok := parseRevisionName(e.Name()); ok && e.IsDir() {
			cands = append(cands, cand{e.Name(), t})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if !cands[i].t.Equal(cands[j].t) {
			return cands[i].t.After(cands[j].t)
		}
		return cands[i].name > cands[j].name
	})
	var skipped []*Revision
	for _, c := range cands {
		rev := &Revision{Container: container, Name: c.name, Time: c.t, Dir: filepath.Join(dir, c.name), Remote: r.Remote}
		meta, err := readMeta(rev.Dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // not ready: being written, or abandoned by a crash
		}
		if err != nil {
			rev.Err = err
			skipped = append(skipped, rev)
			continue
		}
		rev.setMeta(meta)
		rev.Skipped = skipped
		return rev, nil
	}
	if len(skipped) > 0 {
		return nil, fmt.Errorf("container %s: %w: %d revision(s) passed over, the newest: %v", container, ErrNoRevision, len(skipped), skipped[0].Err)
	}
	return nil, fmt.Errorf("container %s: %w", container, ErrNoRevision)
}

// setMeta records a ready revision's revision.json, and for one without a
// key in the local root, whether it holds its own venv: one more lstat,
// only for revisions the Python rezup wrote.
func (r *Revision) setMeta(m *Meta) {
	r.Meta = m
	if r.Remote || m.namesKey() {
		return
	}
	fi, err := os.Lstat(filepath.Join(r.Dir, "venv"))
	r.ownVenv = err == nil && fi.IsDir()
}

// readMeta reads revDir's revision.json. A missing one is an
// fs.ErrNotExist error (not ready); one that is not a small regular file,
// is not JSON, or names a venv that is not a plain name makes the revision
// unreadable.
func readMeta(revDir string) (*Meta, error) {
	path := filepath.Join(revDir, "revision.json")
	b, err := fsx.ReadMeta(path, fsx.MaxJSONMeta)
	if err != nil {
		return nil, err // already names path
	}
	var m Meta
	if err := m.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err := checkVenvNames(path, m.Venvs); err != nil {
		return nil, err
	}
	// A pin names an archive, an index (the files format, delta.go), or both.
	if a := m.Archive; a != nil && (a.Key != m.Key || a.Key.IsZero() || !(a.HasArchive() && a.Size > 0 || a.HasIndex() && a.IndexSize > 0)) {
		return nil, fmt.Errorf("read %s: its archive pin is not one of key %s", path, m.Key)
	}
	return &m, nil
}

// Pin is the archive the revision pins for its key (see Meta.Archive);
// nil when it pins none.
func (r *Revision) Pin() *cache.Entry {
	if r.Meta == nil || r.Meta.Archive == nil || r.Meta.Archive.Key != r.Meta.Key {
		return nil
	}
	pin := *r.Meta.Archive
	return &pin
}

// writeRevision stages a complete revision directory (frozen recipe, lock,
// venv
// symlink into the store, revision.json written last) and renames it into
// <container>/revisions/<timestamp>. A reader sees all of it or nothing.
// Two revisions made in the same microsecond get successive names.
func (r Root) writeRevision(container string, recipeBytes []byte, meta Meta, now time.Time) (*Revision, error) {
	return r.writeLockedRevision(container, recipeBytes, nil, meta, now, nil)
}

// writeLockedRevision is writeRevision with the revision's lock, written
// as lock.json beside the frozen recipe (none when lockBytes is nil),
// signed by signer when it is not nil.
func (r Root) writeLockedRevision(container string, recipeBytes, lockBytes []byte, meta Meta, now time.Time, signer *cache.SecretKey) (*Revision, error) {
	for {
		m := meta
		if signer != nil {
			// The statement covers the revision's name: signed here,
			// once the name is known.
			msg, err := revisionStatement(container, RevisionName(now), m, recipeBytes, lockBytes)
			if err != nil {
				return nil, err
			}
			m.Signatures = cache.AddSignature(nil, *signer, msg)
			// A pin of both formats is signed as a rezup that knows only
			// archives reads it too (as cache.Sign signs such an entry).
			if old, ok := oldNodesMeta(m); ok {
				msg, err := revisionStatement(container, RevisionName(now), old, recipeBytes, lockBytes)
				if err != nil {
					return nil, err
				}
				m.Signatures = append(m.Signatures, cache.AddSignature(nil, *signer, msg)...)
			}
		}
		rev, err := r.stageRevision(container, RevisionName(now), recipeBytes, lockBytes, m)
		if !errors.Is(err, fs.ErrExist) {
			return rev, err
		}
		now = now.Add(time.Microsecond)
	}
}

// writeRevisionAt is writeRevision under a given name: the local mirror of
// a remote revision. When a concurrent rezup made it first, theirs is used.
func (r Root) writeRevisionAt(container, name string, recipeBytes, lockBytes []byte, meta Meta) (*Revision, error) {
	rev, err := r.stageRevision(container, name, recipeBytes, lockBytes, meta)
	if errors.Is(err, fs.ErrExist) {
		return r.Revision(container, name)
	}
	return rev, err
}

func (r Root) stageRevision(container, name string, recipeBytes, lockBytes []byte, meta Meta) (*Revision, error) {
	t, ok := parseRevisionName(name)
	if !ok {
		return nil, fmt.Errorf("%q is not a revision name", name)
	}
	revsDir := r.RevisionsDir(container)
	if err := r.mkdir(revsDir); err != nil {
		return nil, r.notWritable(revsDir, fmt.Errorf("create container %s: %w", container, err))
	}
	// Stage beside the target, so the rename never crosses filesystems.
	// MkdirTemp makes it private; it is opened up just before it is
	// renamed into place.
	staging, err := os.MkdirTemp(revsDir, revisionStaging)
	if err != nil {
		return nil, r.notWritable(revsDir, fmt.Errorf("stage revision: %w", err))
	}
	defer os.RemoveAll(staging) // a no-op once the rename has succeeded
	// Its files are synced together (SyncTree, below), not one by one.
	if err := fsx.ReplaceStaged(filepath.Join(staging, "rezup.toml"), recipeBytes, 0o666); err != nil {
		return nil, fmt.Errorf("stage revision: %w", err)
	}
	if lockBytes != nil {
		if err := fsx.ReplaceStaged(filepath.Join(staging, resolutionFile), lockBytes, 0o666); err != nil {
			return nil, fmt.Errorf("stage revision: %w", err)
		}
	}
	if !meta.Key.IsZero() && !r.Remote {
		if err := os.Symlink(storeLink(meta.Key), filepath.Join(staging, "venv")); err != nil {
			return nil, fmt.Errorf("stage revision: %w", err)
		}
	}
	final := filepath.Join(revsDir, name)
	meta.RevisionPath = final
	b, err := json.MarshalIndent(meta, "", "    ")
	if err != nil {
		return nil, err
	}
	if err := fsx.ReplaceStaged(filepath.Join(staging, "revision.json"), append(b, '\n'), 0o666); err != nil {
		return nil, fmt.Errorf("stage revision: %w", err)
	}
	// Readable by every account the umask allows: the revisions of a
	// remote root (or of a shared local root) are read by other users,
	// and by the Python rezup.
	if err := os.Chmod(staging, fsx.Perm(0o777)); err != nil {
		return nil, fmt.Errorf("stage revision: %w", err)
	}
	if err := fsx.SyncTree(staging); err != nil {
		return nil, fmt.Errorf("stage revision: %w", err)
	}
	if err := fsx.PublishDir(staging, final); err != nil {
		return nil, err
	}
	return &Revision{Container: container, Name: name, Time: t, Dir: final, Remote: r.Remote, Meta: &meta}, nil
}
