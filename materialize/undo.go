package materialize

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/rezup/rezup/internal/fsx"
)

// rootBefore is what a local root held before a build: the build, if it
// fails, takes back the parts of the root that it created and that hold
// nothing anyone can use, so that a failed first `rezup add` (no index,
// a typo in a requirement) leaves no empty .store, .tmp, lock file or
// container directory behind. A root that existed keeps what it had.
type rootBefore struct {
	root    Root
	existed bool
	unknown bool            // it existed but could not be listed
	names   map[string]bool // the root's top-level names
}

// snapshotRoot notes what root holds before a build.
func snapshotRoot(root Root) rootBefore {
	b := rootBefore{root: root, names: map[string]bool{}}
	ents, err := os.ReadDir(root.Dir)
	if err != nil {
		_, serr := os.Lstat(root.Dir)
		b.existed = !errors.Is(serr, fs.ErrNotExist)
		b.unknown = b.existed
		return b
	}
	b.existed = true
	for _, e := range ents {
		b.names[e.Name()] = true
	}
	return b
}

// had tells whether path, a top-level path of the root, was there.
func (b rootBefore) had(path string) bool { return b.names[filepath.Base(path)] }

// undo removes, after a failed build, what the build created in the root
// and nobody uses. Every step is best effort, and all but the scratch
// area are removed only when empty (rmdir) or under the lock the store
// takes to remove them, so that a concurrent rezup in the same root keeps
// its builds and revisions.
func (b rootBefore) undo(store *Store) {
	if b.unknown {
		return // nothing to compare with: everything stays
	}
	r := b.root
	// Revisions are staged inside their container: a new container
	// with no revision is only its empty directories.
	names, _ := r.Containers() // unreadable: no container to take back
	for _, name := range names {
		if b.had(r.ContainerDir(name)) {
			continue
		}
		if revs, err := r.Revisions(name); err != nil || len(revs) > 0 {
			continue
		}
		staging, _ := r.RevisionStaging(name) // unreadable: rmdir below fails and keeps it
		for _, l := range staging {
			_ = store.RemoveLeftover(l) // one in use stays, and so does its container
		}
		_ = os.Remove(r.RevisionsDir(name)) // rmdir: only when empty
		_ = os.Remove(r.ContainerDir(name))
	}
	if !b.had(r.StoreDir()) {
		locks, _ := r.OrphanLocks() // unreadable: the store stays
		for _, l := range locks {
			// Refused (ErrInUse) while another rezup builds that key.
			_ = store.RemoveOrphanLock(l.Key, time.Now())
		}
		_ = os.Remove(r.StoreDir()) // rmdir: kept when anything is left in it
	}
	if !b.had(r.TmpDir()) {
		// The scratch area (staging, the unpacked pip, refused marks) is
		// only worth keeping next to a store: a build in progress
		// elsewhere holds an entry lock in it, so it stays while the
		// store does.
		if _, err := os.Lstat(r.StoreDir()); errors.Is(err, fs.ErrNotExist) {
			_ = fsx.DeleteTree(r.TmpDir()) // best effort: what is left is scratch gc removes
		}
	}
	if !b.existed {
		_ = os.Remove(r.Dir) // rmdir: only when nothing else is left
	}
}
