package materialize

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/recipe"
)

// Root is a local or remote root: a directory of containers. A local root
// also holds the store (.store) and the staging area (.tmp).
type Root struct {
	Dir    string
	Remote bool
}

// ContainerDir is <root>/<name>.
func (r Root) ContainerDir(name string) string { return filepath.Join(r.Dir, name) }

// RevisionsDir is <root>/<name>/revisions.
func (r Root) RevisionsDir(name string) string {
	return filepath.Join(r.Dir, name, "revisions")
}

// The names rezup gives the directories it keeps in a local root. recipe
// refuses container names that start with them (ValidContainerName).
const (
	storeName = ".store"
	tmpName   = ".tmp"
)

// StoreDir is <root>/.store.
func (r Root) StoreDir() string { return filepath.Join(r.Dir, storeName) }

// EntryDir is <root>/.store/<key>.
func (r Root) EntryDir(k cas.Key) string { return filepath.Join(r.StoreDir(), k.String()) }

// LockPath is <root>/.store/<key>.lock.
func (r Root) LockPath(k cas.Key) string {
	return filepath.Join(r.StoreDir(), k.String()+lockExt)
}

// lockExt follows the key in a lock file's name.
const lockExt = ".lock"

// TmpDir is <root>/.tmp: staging dirs and trash, on the same filesystem as
// the store so that publishing is one rename.
func (r Root) TmpDir() string { return filepath.Join(r.Dir, tmpName) }

// storeLink is what <root>/<container>/revisions/<rev>/venv links to: the
// venv dir of entry k, relative, so that a root can be moved or mounted
// elsewhere and the link still holds. The Python rezup's layout has
// <revision>/venv; tools that expect it keep working through this link.
func storeLink(k cas.Key) string {
	return filepath.Join("..", "..", "..", storeName, k.String(), "venv")
}

// Staging names. An entry is staged as .tmp/<key>-<random>: the key first,
// so that a leftover names the lock that guards it (a builder clears its
// key's leftovers under that lock, gc those whose lock is free). A
// revision is staged beside its final name as revisions/.staging-<random>:
// the leading dot hides it from every listing, the Python rezup's too.
// Both are os.MkdirTemp patterns (the random part replaces nothing: it is
// appended).
const revisionStaging = ".staging-"

// entryStaging is the staging-name prefix of entry k in .tmp.
func entryStaging(k cas.Key) string { return k.String() + "-" }

// stagedKey returns the key a name in .tmp stages, if it is a staging name.
func stagedKey(name string) (cas.Key, bool) {
	ks, _, ok := strings.Cut(name, "-")
	if !ok {
		return cas.Key{}, false
	}
	k, err := cas.ParseKey(ks)
	return k, err == nil
}

// manifestPath is where a store entry's manifest lives. Its presence is what
// "ready" means.
func (r Root) manifestPath(k cas.Key) string {
	return manifestIn(r.EntryDir(k))
}

// manifestIn is the manifest's path in an entry dir, staged or final.
func manifestIn(entry string) string { return filepath.Join(entry, filepath.FromSlash(manifestName)) }

// manifestName is the manifest's name in an entry, and in its archive.
const manifestName = ".rezup/manifest.json"

// Containers lists the containers of the root, sorted, skipping the
// store, the staging area and anything that is not a valid container name.
func (r Root) Containers() ([]string, error) {
	ents, err := os.ReadDir(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), storeName) || strings.HasPrefix(e.Name(), tmpName) {
			continue
		}
		if recipe.ValidContainerName(e.Name()) != nil {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// NotWritableError means rezup had to write into a root (a first
// materialization, a new revision) and may not: the root belongs to
// another account, or is mounted read-only. Complete builds and ready
// revisions in such a root can still be used.
type NotWritableError struct {
	Dir    string // the directory rezup had to write in
	Root   string // the root it belongs to
	Remote bool   // Root is a remote root
	Err    error  // the underlying error (fs.ErrPermission, EROFS)
}

func (e *NotWritableError) Error() string {
	// The errno alone ("permission denied"): Dir already says where.
	cause := e.Err
	var pe *fs.PathError
	if errors.As(cause, &pe) {
		cause = pe.Err
	}
	return fmt.Sprintf("cannot write to %s: %v", e.Dir, cause)
}

func (e *NotWritableError) Unwrap() error { return e.Err }

// notWritable turns err into a *NotWritableError naming dir when it says
// the caller may not write there; other errors are returned as they are.
func (r Root) notWritable(dir string, err error) error {
	if err == nil || !fsx.CannotWrite(err) {
		return err
	}
	return &NotWritableError{Dir: dir, Root: r.Dir, Remote: r.Remote, Err: err}
}
