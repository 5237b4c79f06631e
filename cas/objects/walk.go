package objects

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

// Object is an object as Walk found it: what gc needs to decide.
type Object struct {
	Digest cas.Digest
	Exec   bool
	Path   string
	// Links is the number of hard links to the object's inode, its name
	// in the store included: 1 means that no build on this filesystem
	// links it (a clone or a copy does not count).
	Links uint64
	// Changed is the object's status change time (ctime; on Windows the
	// NTFS change time): every new hard link to it sets it, so "not
	// changed for the grace period" is "not linked into a build for the
	// grace period". Reading an object (a copy) does not change it.
	Changed time.Time
	Size    int64
	// Owned says the object is the caller's (root owns every one): in a
	// group-shared root another member's objects are theirs to remove.
	Owned bool

	uid int
	id  fileID
}

// Walk calls fn for each object of the store, shard by shard in order,
// names in order within a shard, and returns fn's first error. It costs
// one directory read per shard (256 at most) and one lstat (fstatat) per
// object, nothing more: no object is opened. Names that are not objects
// are passed over.
func (s *Store) Walk(fn func(Object) error) error {
	shards, err := readNames(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("walk objects: %w", err)
	}
	slices.Sort(shards)
	euid := os.Geteuid()
	for _, shard := range shards {
		if !isShard(shard) {
			continue
		}
		if err := s.walkShard(shard, euid, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) walkShard(shard string, euid int, fn func(Object) error) error {
	dirPath := filepath.Join(s.dir, shard)
	dir, err := os.Open(dirPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("walk objects: %w", err)
	}
	defer dir.Close() // read-only
	names, err := dir.Readdirnames(-1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("walk objects: %w", err)
	}
	slices.Sort(names)
	dirfd := dir.Fd()
	for _, n := range names {
		d, exec, ok := parseName(n)
		if !ok || n[:2] != shard {
			continue
		}
		fi, err := statIn(dirfd, dirPath, n, euid)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return fmt.Errorf("walk objects: %s: %w", shard, err)
		}
		if !fi.regular {
			continue
		}
		o := Object{
			Digest: d, Exec: exec, Path: filepath.Join(dirPath, n),
			Links: fi.links, Changed: fi.changed, Size: fi.size, Owned: fi.owned,
			uid: fi.uid, id: fi.id,
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// Remove removes an object Walk found, if it is still the file Walk saw:
// one that was linked since (its ctime or link count changed) or replaced
// is left, with an error wrapping ErrChanged, and so is one of another
// account's (fsx.ErrNotOwner). One already gone is not an error.
//
// Removing an object never changes a build: a hard link is the file
// itself, and stays when the object's name goes. What it costs is
// sharing: a later Put makes a new inode. A Link racing a Remove gets
// the file, or an error wrapping ErrMissing.
func (s *Store) Remove(o Object) error {
	if o.Path != s.path(o.Digest, o.Exec) {
		return fmt.Errorf("remove object %s: %s is not its path in %s", name(o.Digest, o.Exec), o.Path, s.dir)
	}
	fi, err := statPath(o.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove object: %w", err)
	}
	if fi.id != o.id || fi.links != o.Links || !fi.changed.Equal(o.Changed) {
		return fmt.Errorf("remove object %s: %w", o.Path, ErrChanged)
	}
	if !fi.owned {
		return fmt.Errorf("remove object: %w", &fsx.NotOwnerError{Path: o.Path, UID: fi.uid})
	}
	if err := removeFile(o.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove object: %w", err)
	}
	return nil
}

// Temp is a file a Put is writing, or a crashed one left: a temp in the
// store's directory, named as fsx names temps.
type Temp struct {
	Path string
	// Modified is when it was last written. A Put writes its temp in one
	// go and a Batch keeps it until Commit, so an old temp is a crashed
	// Put's, or an abandoned Batch's: how old is old is gc's to say
	// (longer than any Batch is kept open).
	Modified time.Time
	Size     int64
	Owned    bool

	uid int
	id  fileID
}

// Temps lists the store's temps: one directory read and an lstat each.
func (s *Store) Temps() ([]Temp, error) {
	names, err := readNames(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list object temps: %w", err)
	}
	slices.Sort(names)
	var temps []Temp
	for _, n := range names {
		if !isTemp(n) {
			continue
		}
		p := filepath.Join(s.dir, n)
		fi, err := statPath(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // committed or removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("list object temps: %w", err)
		}
		if !fi.regular {
			continue
		}
		temps = append(temps, Temp{Path: p, Modified: fi.modified, Size: fi.size, Owned: fi.owned, uid: fi.uid, id: fi.id})
	}
	return temps, nil
}

// RemoveTemp removes a temp Temps listed, if it was not written since
// (ErrChanged otherwise) and is the caller's (fsx.ErrNotOwner otherwise).
// One already gone is not an error.
func (s *Store) RemoveTemp(t Temp) error {
	if filepath.Dir(t.Path) != filepath.Clean(s.dir) || !isTemp(filepath.Base(t.Path)) {
		return fmt.Errorf("remove object temp: %s is not a temp of %s", t.Path, s.dir)
	}
	fi, err := statPath(t.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove object temp: %w", err)
	}
	if fi.id != t.id || !fi.modified.Equal(t.Modified) || fi.size != t.Size {
		return fmt.Errorf("remove object temp %s: %w", t.Path, ErrChanged)
	}
	if !fi.owned {
		return fmt.Errorf("remove object temp: %w", &fsx.NotOwnerError{Path: t.Path, UID: fi.uid})
	}
	if err := removeFile(t.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove object temp: %w", err)
	}
	return nil
}

// isShard reports whether n names a shard: two lowercase hex characters.
func isShard(n string) bool {
	return len(n) == 2 && isHex(n[0]) && isHex(n[1])
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }

// parseName reads an object's file name: 64 lowercase hex characters,
// and ".x" for an executable.
func parseName(n string) (cas.Digest, bool, bool) {
	hex, exec := strings.CutSuffix(n, execSuffix)
	d, err := cas.ParseDigest(hex)
	if err != nil {
		return cas.Digest{}, false, false
	}
	return d, exec, true
}

// isTemp reports whether n is the name Put gives its temps:
// "." + the object's name + "." + random digits + fsx.TempSuffix.
func isTemp(n string) bool {
	rest, ok := strings.CutPrefix(n, ".")
	if !ok || len(rest) < 64 {
		return false
	}
	if _, err := cas.ParseDigest(rest[:64]); err != nil {
		return false
	}
	mid, ok := strings.CutSuffix(strings.TrimPrefix(rest[64:], execSuffix), fsx.TempSuffix)
	return ok && len(mid) > 1 && mid[0] == '.'
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close() // read-only
	names, err := f.Readdirnames(-1)
	if err == io.EOF {
		err = nil
	}
	return names, err
}
