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

// StoreDir is <root>/.store.
func (r Root) StoreDir() string { return filepath.Join(r.Dir, ".store") }

// EntryDir is <root>/.store/<key>.
func (r Root) EntryDir(k cas.Key) string { return filepath.Join(r.Dir, ".store", k.String()) }

// LockPath is <root>/.store/<key>.lock.
func (r Root) LockPath(k cas.Key) string {
	return filepath.Join(r.Dir, ".store", k.String()+".lock")
}

// TmpDir is <root>/.tmp: staging dirs and trash, on the same filesystem as
// the store so that publishing is one rename.
func (r Root) TmpDir() string { return filepath.Join(r.Dir, ".tmp") }

// manifestPath is where a store entry's manifest lives. Its presence is what
// "ready" means.
func (r Root) manifestPath(k cas.Key) string {
	return filepath.Join(r.EntryDir(k), ".rezup", "manifest.json")
}

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
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".store") || strings.HasPrefix(e.Name(), ".tmp") {
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
