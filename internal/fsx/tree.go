package fsx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotOwner means a tree rezup was asked to remove holds something
// another account owns. rezup removes only what the caller owns (root owns
// everything): in a group-shared root, a member's builds and revisions are
// that member's to remove. The error is a *NotOwnerError, which says what
// and whose.
var ErrNotOwner = errors.New("belongs to another account")

// NotOwnerError is ErrNotOwner naming the path and its owner.
type NotOwnerError struct {
	Path string
	UID  int
}

func (e *NotOwnerError) Error() string {
	return fmt.Sprintf("%s belongs to another account (%s)", e.Path, accountName(e.UID))
}

// Is makes errors.Is(err, ErrNotOwner) true.
func (e *NotOwnerError) Is(target error) bool { return target == ErrNotOwner }

// CheckOwner returns a *NotOwnerError when path is there and belongs to
// another account than the caller's, who is not root; otherwise nil. One
// lstat: what is under path is not looked at (RemoveAll and DeleteTree
// do that). On Windows ownership is not checked.
func CheckOwner(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil // not there, or not visible: the removal itself says what is wrong
	}
	if uid, ok := foreign(fi); ok {
		return &NotOwnerError{Path: path, UID: uid}
	}
	return nil
}

// MakeReadOnly takes every write bit off what is under root, files and
// directories, as Go's module cache and the Nix store do with what they
// publish: nobody edits a published build by mistake, and in a
// group-shared root no other member can edit it at all. root itself is
// left to the caller, who renames it into place first: a directory moved
// to another parent must be writable (its ".." entry changes). Symlinks
// have no mode of their own. The other bits (setgid on a directory of a
// group-shared root) stay.
func MakeReadOnly(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return readOnly(p, info)
	})
}

// MakeReadOnlyEach takes the write bits off each of paths, as
// MakeReadOnly does off a whole tree, for a caller that made the tree and
// knows which of its entries can be writable (its directories, the files
// it wrote), where a walk would stat every file. Symlinks are left as
// they are.
func MakeReadOnlyEach(paths []string) error {
	for _, p := range paths {
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			continue
		}
		if err := readOnly(p, info); err != nil {
			return err
		}
	}
	return nil
}

// readOnly takes the write bits off p, whose mode info gives, keeping
// its other bits.
func readOnly(p string, info fs.FileInfo) error {
	mode := info.Mode() & (fs.ModePerm | fs.ModeSetgid | fs.ModeSticky)
	if mode&0o222 == 0 {
		return nil
	}
	// Children of a directory made read-only are still chmod'ed: chmod
	// needs ownership of the file and search permission on its parent,
	// never write permission.
	return os.Chmod(p, mode&^0o222)
}

// RemoveAll moves path out of sight into trashDir (same filesystem) with
// one rename, then deletes it. Readers see it vanish at once; a crash
// leaves only trash, which the next cleaner removes. As DeleteTree, it
// first gives the caller's directories under path the owner bits that
// deleting needs (a published build is read-only), and it leaves a tree
// with anything another account owns where it is, with a *NotOwnerError:
// nothing is moved then. A path that is not there is not an error.
func RemoveAll(path, trashDir string) error {
	rm, err := prepareRemoval(path)
	if err != nil || rm == nil {
		return err
	}
	if err := os.MkdirAll(trashDir, 0o777); err != nil {
		return err
	}
	trash := filepath.Join(trashDir, RandomName("trash-"))
	// A directory renamed to another parent must be writable: its ".."
	// changes. The rest of the tree gets its bits once out of sight.
	rest := rm.dirs
	opened := len(rest) > 0 && rest[0].path == path
	if opened {
		if err := rest[0].open(); err != nil {
			return err
		}
		rest = rest[1:]
	}
	if err := os.Rename(path, trash); err != nil {
		if opened {
			_ = os.Chmod(path, rm.dirs[0].mode) // best effort: put back what was opened for the rename
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, d := range rest {
		d.path = filepath.Join(trash, strings.TrimPrefix(d.path, path))
		if err := d.open(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.RemoveAll(trash)
}

// DeleteTree deletes path and everything under it in place, as
// os.RemoveAll does, after giving each directory under it that the caller
// owns the owner bits deleting needs: a published build is read-only
// (MakeReadOnly), and an archive unpacked by an older rezup, or a hostile
// one, may have left directories nobody can enter. A tree with anything
// another account owns is left whole, with a *NotOwnerError (root owns
// everything). A path that is not there is not an error, and entries that
// vanish meanwhile (another cleaner deleting the same trash) are taken in
// stride. It is for what nobody reads any more: staging, trash, scratch.
func DeleteTree(path string) error {
	rm, err := prepareRemoval(path)
	if err != nil || rm == nil {
		return err
	}
	for _, d := range rm.dirs {
		if err := d.open(); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.RemoveAll(path)
}

// removal is what a tree needs before it can be deleted: the caller's
// directories that lack an owner bit, top first.
type removal struct {
	euid int
	dirs []removalDir
}

type removalDir struct {
	path string
	mode fs.FileMode // its mode before
}

// open gives the directory its owner's rwx back.
func (d removalDir) open() error {
	return os.Chmod(d.path, d.mode|0o700)
}

// prepareRemoval walks the tree at path, checking that the caller owns
// every entry (unless the caller is root), and lists the directories that
// lack an owner bit. A directory the caller cannot list or enter is opened
// at once, to look inside: it is the caller's, and it is going. It returns
// nil and no error when path is not there.
func prepareRemoval(path string) (*removal, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rm := &removal{euid: effectiveUID()}
	if rm.euid == 0 {
		return rm, nil // root needs no bits, and owns everything
	}
	return rm, rm.visit(path, fi)
}

func (rm *removal) visit(p string, fi fs.FileInfo) error {
	if uid, ok := foreign(fi); ok {
		return &NotOwnerError{Path: p, UID: uid}
	}
	if !fi.IsDir() {
		return nil
	}
	mode := fi.Mode() & (fs.ModePerm | fs.ModeSetgid | fs.ModeSticky)
	if mode&0o700 != 0o700 {
		d := removalDir{path: p, mode: mode}
		if mode&0o500 != 0o500 {
			// Unreadable or closed: open it to see what it holds. It is
			// the caller's own, and it is going.
			if err := d.open(); err != nil {
				return err
			}
		}
		rm.dirs = append(rm.dirs, d)
	}
	names, err := readNames(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted meanwhile by another cleaner
	}
	if err != nil {
		return err
	}
	for _, name := range names {
		c := filepath.Join(p, name)
		cfi, err := os.Lstat(c)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := rm.visit(c, cfi); err != nil {
			return err
		}
	}
	return nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close() // a directory opened to read: nothing to lose
	names, err := f.Readdirnames(-1)
	if err == io.EOF {
		err = nil
	}
	return names, err
}
