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

// Size limits of the metadata files rezup reads from trees and caches it
// does not fully trust (a shared cache, an unpacked archive, a root other
// accounts write). Real ones are a few kilobytes at most; the limits only
// keep a hostile or broken file from exhausting memory.
const (
	// MaxJSONMeta bounds entry.json, manifest.json and revision.json.
	MaxJSONMeta = 1 << 20
	// MaxPyvenvCfg bounds a venv's pyvenv.cfg.
	MaxPyvenvCfg = 64 << 10
)

var (
	// ErrNotRegular means a file rezup reads metadata from is not a
	// regular file: a symlink, a FIFO, a device, a socket or a directory.
	ErrNotRegular = errors.New("not a regular file")

	// ErrTooLarge means a metadata file is over the size limit its reader
	// allows.
	ErrTooLarge = errors.New("file too large")

	// ErrNotRealDir means a path that must be a directory of its tree is
	// a symlink or not a directory at all.
	ErrNotRealDir = errors.New("not a real directory")
)

// OpenRegular opens path for reading if, and only if, it is a regular
// file. A symlink at the last component is never followed (the earlier
// components are; see RealDir), and a FIFO or a device is refused before
// it can block the open or feed endless bytes: path is lstat'ed first,
// then opened without following a symlink and without blocking (where the
// system can), and the open file is checked to be that same regular file.
// A refusal wraps ErrNotRegular and names the kind of file found.
//
// On Windows there is no O_NOFOLLOW: the lstat before and the identity
// check after the open are all there is, which leaves a narrow race with
// whoever can swap the file in between.
func OpenRegular(path string) (*os.File, error) {
	before, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !before.Mode().IsRegular() {
		return nil, notRegular(path, before.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openNoFollow, 0)
	if err != nil {
		if isSymlinkLoop(err) {
			// Replaced by a symlink since the lstat.
			return nil, notRegular(path, fs.ModeSymlink)
		}
		return nil, err
	}
	after, err := f.Stat()
	if err == nil && !after.Mode().IsRegular() {
		err = notRegular(path, after.Mode())
	}
	if err == nil && !os.SameFile(before, after) {
		err = fmt.Errorf("%s changed while it was opened: %w", path, ErrNotRegular)
	}
	if err != nil {
		f.Close() // opened read-only: nothing to lose
		return nil, err
	}
	return f, nil
}

// ReadMeta reads the metadata file at path, which must be a regular file
// (see OpenRegular) of at most limit bytes: a larger one is an error
// wrapping ErrTooLarge that names the limit, and no more than limit+1
// bytes are ever read.
func ReadMeta(path string, limit int64) ([]byte, error) {
	f, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() // read-only: a close error loses nothing
	return ReadLimited(f, path, limit)
}

// ReadLimited reads r to its end, failing with an error wrapping
// ErrTooLarge (naming name and limit) as soon as it yields more than limit
// bytes.
func ReadLimited(r io.Reader, name string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is over the %d-byte limit of a metadata file: %w", name, limit, ErrTooLarge)
	}
	return b, nil
}

// RealDir checks that root/rel is a directory reached from root through
// real directories only: no component of rel (a slash-separated relative
// path, or "" for root itself) is a symlink, and each is a directory. It
// is how a caller makes sure a path inside an unpacked tree stays inside
// it before reading or writing there. root itself may be reached through
// symlinks: it is the caller's. A refusal wraps ErrNotRealDir; a missing
// component is an fs.ErrNotExist error.
func RealDir(root, rel string) error {
	if filepath.IsAbs(rel) || filepath.VolumeName(rel) != "" {
		return fmt.Errorf("%s is not a path inside %s: %w", rel, root, ErrNotRealDir)
	}
	p := root
	for _, seg := range strings.Split(filepath.ToSlash(rel), "/") {
		if seg == "" || seg == "." {
			continue
		}
		if seg == ".." {
			return fmt.Errorf("%s leaves %s: %w", rel, root, ErrNotRealDir)
		}
		p = filepath.Join(p, seg)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is %s: %w", p, FileKind(fi.Mode()), ErrNotRealDir)
		}
	}
	return nil
}

func notRegular(path string, mode fs.FileMode) error {
	return fmt.Errorf("%s is %s: %w", path, FileKind(mode), ErrNotRegular)
}

// FileKind names a file's type for messages: "a FIFO", "a symlink", …
func FileKind(mode fs.FileMode) string {
	switch t := mode.Type(); {
	case t&fs.ModeSymlink != 0:
		return "a symlink"
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t == 0:
		return "a regular file"
	}
	return "not a regular file"
}
