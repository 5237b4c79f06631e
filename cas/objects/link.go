package objects

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

// LinkMode is how Link makes a build's file from an object. The zero
// value is Hardlink.
type LinkMode int

const (
	// Hardlink makes the file a hard link of the object: no bytes
	// copied, one inode for every build that has the content. Where the
	// kernel refuses (another filesystem, another account's object under
	// fs.protected_hardlinks, the link limit, a filesystem without hard
	// links), that one file is cloned, or else copied.
	Hardlink LinkMode = iota
	// Clone makes the file a reflink of the object (FICLONE on Linux,
	// clonefile on macOS): its own inode, sharing the object's blocks
	// until either is written. Where the filesystem cannot (ext4, tmpfs,
	// another filesystem; always on Windows), the file is copied.
	Clone
	// Copy copies the object's bytes.
	Copy
)

var linkModeNames = [...]string{Hardlink: "hardlink", Clone: "clone", Copy: "copy"}

// String is the mode's name, as ParseLinkMode reads it.
func (m LinkMode) String() string {
	if m >= 0 && int(m) < len(linkModeNames) {
		return linkModeNames[m]
	}
	return fmt.Sprintf("LinkMode(%d)", int(m))
}

// ParseLinkMode reads a link mode by name ("hardlink", "clone" or
// "copy"), as REZUP_LINK_MODE gives it.
func ParseLinkMode(s string) (LinkMode, error) {
	for m, n := range linkModeNames {
		if s == n {
			return LinkMode(m), nil
		}
	}
	return 0, fmt.Errorf("unknown link mode %q (valid: hardlink, clone, copy)", s)
}

// How is how Link made a file: what the caller counts to report
// fallbacks (Hardlink mode giving Copied, say).
type How int

const (
	Hardlinked How = iota + 1
	Cloned
	Copied
)

var howNames = [...]string{Hardlinked: "hardlinked", Cloned: "cloned", Copied: "copied"}

func (h How) String() string {
	if h > 0 && int(h) < len(howNames) {
		return howNames[h]
	}
	return fmt.Sprintf("How(%d)", int(h))
}

// Link makes dst, which must not exist, a file with the object's content
// and mode (read-only), as mode says, falling back for this one file
// where the kernel or the filesystem cannot (see LinkMode), and says how
// it made it. A clone or a copy is written to a temp beside dst and
// linked into place; none is synced: the caller syncs the tree it makes
// (fsx.SyncTree) before publishing it. An object that is not in the store
// is an error wrapping ErrMissing; an existing dst, one wrapping
// fs.ErrExist.
func (s *Store) Link(d cas.Digest, exec bool, dst string, mode LinkMode) (How, error) {
	return s.linkFrom(s.path(d, exec), d, exec, dst, mode)
}

// linkFrom is Link of the object's file at src: its name in the store, or
// the temp of a batch.
func (s *Store) linkFrom(src string, d cas.Digest, exec bool, dst string, mode LinkMode) (How, error) {
	switch mode {
	case Hardlink:
		err := os.Link(src, dst)
		if err == nil {
			return Hardlinked, nil
		}
		if !linkFallsBack(err) {
			return 0, s.linkError(d, exec, dst, err)
		}
		fallthrough
	case Clone:
		how, err := cloneFile(src, dst, objectPerm(exec))
		if err != nil {
			return 0, s.linkError(d, exec, dst, err)
		}
		return how, nil
	case Copy:
		if err := copyFile(src, dst, objectPerm(exec)); err != nil {
			return 0, s.linkError(d, exec, dst, err)
		}
		return Copied, nil
	}
	return 0, fmt.Errorf("link %s: unknown link mode %d", dst, int(mode))
}

// linkError wraps a failed Link, saying ErrMissing when it failed because
// the object is gone rather than because of dst.
func (s *Store) linkError(d cas.Digest, exec bool, dst string, err error) error {
	if errors.Is(err, fs.ErrNotExist) && !s.Has(d, exec) {
		return fmt.Errorf("link %s to object %s: %w", dst, name(d, exec), ErrMissing)
	}
	return fmt.Errorf("link %s to object %s: %w", dst, name(d, exec), err)
}

// copyFile copies the regular file src to dst through a temp beside dst,
// with mode perm.
func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := fsx.OpenRegular(src)
	if err != nil {
		return err
	}
	defer in.Close() // read-only
	return writeBeside(dst, perm, func(out *os.File) error {
		// File to file: Linux copies in the kernel (copy_file_range).
		_, err := io.Copy(out, in)
		return err
	})
}

// writeBeside creates a temp beside dst, lets write fill it, gives it
// perm and links it into place as dst, never over an existing file. On an
// error nothing is left.
func writeBeside(dst string, perm fs.FileMode, write func(*os.File) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*"+fsx.TempSuffix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()           // already failing; the close error adds nothing
			os.Remove(tmp.Name()) // best effort: a leftover temp name is ignored by readers
		}
	}()
	if err = write(tmp); err != nil {
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = linkNew(tmp.Name(), dst); err != nil {
		return err
	}
	return nil
}
