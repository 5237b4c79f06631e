package materialize

import (
	"io/fs"
	"os"

	"github.com/rezup/rezup/internal/fsx"
)

// A group-shared root is one whose directory, or whose store, is
// group-writable: a umask of 002 makes them 0775, and the members of the
// group build, launch and collect in it together. What protects one
// member's work from another's there:
//
//   - A published build is read-only (publish: fsx.MakeReadOnly), so no
//     member, its owner included, edits it in place.
//   - .store, .tmp and each <container>/revisions have the sticky bit, as
//     /tmp has: a member may add entries there, but rename or remove only
//     their own, so that nobody moves another member's build or revision
//     aside and puts something else in its place.
//   - Removals (gc, drop, pull --repair) remove only what the caller owns
//     (fsx.ErrNotOwner): what another member made is theirs, or root's,
//     to remove.

// groupShared reports whether r is a group-shared root.
func (r Root) groupShared() bool {
	for _, dir := range []string{r.Dir, r.StoreDir()} {
		if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o020 != 0 {
			return true
		}
	}
	return false
}

// mkdir makes dir (.store, .tmp or a container's revisions), with its
// parents, as a plain mkdir -p would under the umask, and in a
// group-shared root gives it the sticky bit. A dir found without the bit
// gets it too, when this account owns it.
func (r Root) mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if !r.groupShared() {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode()&fs.ModeSticky != 0 {
		return nil // nothing to add, or gone meanwhile: the next write says what is wrong
	}
	// Best effort: another member's dir (EPERM) keeps its mode, and that
	// member's rezup sets the bit the next time it writes there.
	_ = os.Chmod(dir, fi.Mode()&(fs.ModePerm|fs.ModeSetgid)|fs.ModeSticky)
	return nil
}

// removeTree moves path (an entry, a revision, a container) out of sight
// into .tmp and deletes it (fsx.RemoveAll): what another account owns
// stays whole, with an error wrapping fsx.ErrNotOwner.
func (r Root) removeTree(path string) error {
	if err := r.mkdir(r.TmpDir()); err != nil {
		return err
	}
	return fsx.RemoveAll(path, r.TmpDir())
}
