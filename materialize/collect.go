package materialize

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

// This file is the removal side of the store, shared by Drop and package
// gc: what is there, whether it is in use, and removing it with the one
// protocol rezup has for that: take the entry's lock LOCK_EX|LOCK_NB (in
// use: refuse), check that no running process uses it without the lock
// either (RuntimeRoots, see runtimeroots.go), rename into .tmp (readers
// see it vanish at once), delete, and unlink the lock file while still
// holding it (fsx.Lock.Unlink): a
// process waiting on it finds after flock that its file was replaced, and
// locks a new one (fsx checks the inode, as Nix does). The same goes for
// the lock of a build that never completed. On Windows lock files stay:
// an open file cannot be unlinked there. Only what the caller owns is
// removed (root: anything): what another account owns, in a group-shared
// root, is left whole, with an error wrapping fsx.ErrNotOwner.

// GCLockPath is <root>/.gc.lock, held by a collector while it removes.
func (r Root) GCLockPath() string { return filepath.Join(r.Dir, ".gc.lock") }

// Entries lists the keys of the store's entry directories, complete or
// not, sorted. Lock files and names that are not keys are skipped.
func (r Root) Entries() ([]cas.Key, error) {
	ents, err := os.ReadDir(r.StoreDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list store: %w", err)
	}
	var keys []cas.Key
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if k, err := cas.ParseKey(e.Name()); err == nil {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys, nil
}

// EntryBytes is the size of entry k: what its manifest records, or for
// an entry without one (left by an interrupted rezup), what a walk finds.
//
// The bytes its files hold as hard links of objects are not counted: they
// are on disk once for every build that links them, and what removing the
// build frees of them is counted with the objects (see ObjectList).
func (s *Store) EntryBytes(k cas.Key) int64 {
	if m, err := s.ReadManifest(k); err == nil {
		if l, err := s.ObjectList(k); err == nil {
			return max(m.Bytes-l.LinkedBytes(), 0)
		}
		return m.Bytes
	}
	return dirBytes(s.opt.Root.EntryDir(k))
}

// InUse reports whether a process holds entry k's lock: LOCK_SH while it
// runs in the entry, LOCK_EX while it builds, fetches or removes it. It
// takes and drops LOCK_EX|LOCK_NB through a read-only descriptor to find
// out (fsx.Held), so it needs no write access and never creates the lock
// file: an entry nobody ever locked is not in use.
func (s *Store) InUse(k cas.Key) (bool, error) {
	return lockHeld(s.opt.Root.LockPath(k))
}

// lockHeld reports whether a process holds the lock file at p, shared or
// exclusive (fsx.Held). It never creates the file: a lock nobody ever
// took is not held.
func lockHeld(p string) (bool, error) {
	return fsx.Held(p)
}

// RemoveEntry removes entry k from the store unless a process uses it:
// one holding its lock, or one that rr, the running processes looked at
// just before (FindRuntimeRoots), shows using it (ErrInUse; a *UsedError
// names the process). A nil rr has the processes looked at once the lock
// is held. Removing an entry that is not there is not an error.
func (s *Store) RemoveEntry(k cas.Key, rr *RuntimeRoots) error {
	if _, err := os.Stat(s.opt.Root.EntryDir(k)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	lock, err := fsx.TryExclusive(s.opt.Root.LockPath(k))
	if errors.Is(err, fsx.ErrLocked) {
		return fmt.Errorf("remove %s: %w", k, ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("remove %s: %w", k, err)
	}
	defer lock.Close()
	if rr == nil {
		rr = s.FindRuntimeRoots(context.Background())
	}
	if err := rr.checkEntry(k); err != nil {
		return fmt.Errorf("remove %w", err)
	}
	return s.removeEntryLocked(k, lock)
}

// removeEntryLocked moves entry k into .tmp, deletes it and removes its
// lock file. The caller holds lock, k's lock, exclusively. An entry
// another account owns stays, with its lock file (fsx.ErrNotOwner).
func (s *Store) removeEntryLocked(k cas.Key, lock *fsx.Lock) error {
	if err := s.opt.Root.removeTree(s.opt.Root.EntryDir(k)); err != nil {
		return fmt.Errorf("remove %s: %w", k, err)
	}
	// Best effort, as the lock file: the index a build fetched or
	// published by index kept (delta.go).
	_ = os.Remove(indexPath(s.opt.Root, k))
	s.removeObjectList(k)
	// Best effort: a lock file left (Windows, a read-only store dir) is
	// a lock of a missing build, which gc removes later.
	_ = lock.Unlink()
	return nil
}

// dropLockOfNothing removes k's lock file when k has no entry (a failed
// first build, or a fetch that missed). The caller holds lock, k's lock,
// exclusively; a waiter locks a new file, as after a removal.
func (s *Store) dropLockOfNothing(k cas.Key, lock *fsx.Lock) {
	if _, err := os.Lstat(s.opt.Root.EntryDir(k)); errors.Is(err, fs.ErrNotExist) {
		s.removeObjectList(k)
		_ = lock.Unlink() // best effort: gc removes what stays
	}
}

// LockFile is the lock file of a build that is not in the store: left by
// a failed first build, or by a removal that could not unlink it.
type LockFile struct {
	Key     cas.Key
	ModTime time.Time // its last use: a build started, or a launch
}

// OrphanLocks lists the lock files in the store whose build is missing,
// sorted by key. It changes nothing.
func (r Root) OrphanLocks() ([]LockFile, error) {
	ents, err := os.ReadDir(r.StoreDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list store: %w", err)
	}
	var locks []LockFile
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), lockExt)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		k, err := cas.ParseKey(name)
		if err != nil {
			continue
		}
		if _, err := os.Lstat(r.EntryDir(k)); !errors.Is(err, fs.ErrNotExist) {
			continue // a build, complete or not, or unsure: not an orphan
		}
		fi, err := e.Info()
		if err != nil {
			continue // gone since the listing
		}
		locks = append(locks, LockFile{Key: k, ModTime: fi.ModTime()})
	}
	return locks, nil
}

// ErrNotOrphan means a lock file asked to go has a build again, or was
// used after the time given.
var ErrNotOrphan = errors.New("has a build, or was used since")

// RemoveOrphanLock removes k's lock file when k has no build, nobody holds
// the lock (ErrInUse) and it was last used no later than notAfter
// (otherwise ErrNotOrphan). It checks under LOCK_EX|LOCK_NB, and unlinks
// while holding it. A lock file that is not there is not an error.
func (s *Store) RemoveOrphanLock(k cas.Key, notAfter time.Time) error {
	p := s.opt.Root.LockPath(k)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := fsx.CheckOwner(p); err != nil {
		return fmt.Errorf("remove lock of %s: %w", k, err)
	}
	lock, err := fsx.TryExclusive(p)
	if errors.Is(err, fsx.ErrLocked) {
		return fmt.Errorf("remove lock of %s: %w", k, ErrInUse)
	}
	if err != nil {
		return fmt.Errorf("remove lock of %s: %w", k, err)
	}
	defer lock.Close()
	fi, err := lock.File().Stat()
	if err != nil {
		return fmt.Errorf("remove lock of %s: %w", k, err)
	}
	if _, err := os.Lstat(s.opt.Root.EntryDir(k)); !errors.Is(err, fs.ErrNotExist) || fi.ModTime().After(notAfter) {
		return fmt.Errorf("remove lock of %s: %w", k, ErrNotOrphan)
	}
	s.removeObjectList(k) // a crash between writing it and publishing the build
	return lock.Unlink()
}

// RemoveRevision removes a revision of the local root: renamed into .tmp,
// then deleted. Processes rezup launches in a revision hold its entry, not
// the revision, and a new launch picks the latest revision, which
// collectors keep; so it takes no lock, except for a revision the Python
// rezup built, whose venv is inside it: that one goes only under its
// in-use lock taken LOCK_EX|LOCK_NB (ErrInUse while a process runs in
// it). Neither goes while rr, the running processes looked at just before
// (FindRuntimeRoots), shows a process using the revision (ErrInUse, a
// *UsedError): the Python rezup's jobs run through the revision's path.
// A nil rr has the processes looked at once the lock is held.
func (s *Store) RemoveRevision(rev *Revision, rr *RuntimeRoots) error {
	if rev.Remote || filepath.Dir(rev.Dir) != s.opt.Root.RevisionsDir(rev.Container) {
		return fmt.Errorf("remove revision %s of %s: not a revision of the local root %s", rev.Name, rev.Container, s.opt.Root.Dir)
	}
	lock, err := s.lockRevision(rev)
	if err != nil {
		return fmt.Errorf("remove %w", err)
	}
	defer lock.Close()
	if rr == nil {
		rr = s.FindRuntimeRoots(context.Background())
	}
	if err := rr.checkRevision(rev); err != nil {
		return fmt.Errorf("remove %w", err)
	}
	if err := s.opt.Root.removeTree(rev.Dir); err != nil {
		return fmt.Errorf("remove revision %s of %s: %w", rev.Name, rev.Container, err)
	}
	return nil
}

// Bytes is the size of the regular files under the revision directory:
// its venv link into the store is not followed, and the venvs of a
// revision the Python rezup built, which are inside it, are counted.
func (r *Revision) Bytes() int64 { return dirBytes(r.Dir) }

// ModTime is the revision directory's mtime: when its last file was
// written, which for a ready revision is when it was published.
func (r *Revision) ModTime() (time.Time, error) {
	fi, err := os.Stat(r.Dir)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// LeftoverKind says what a crashed or interrupted process left behind.
type LeftoverKind string

const (
	// LeftoverStaging is .tmp/<key>-*: a build or fetch of key that did
	// not finish. It is live while the key's lock is held.
	LeftoverStaging LeftoverKind = "staging"
	// LeftoverRevisionStaging is <container>/revisions/.staging-*: a
	// revision being written, or abandoned. Only its age tells which.
	LeftoverRevisionStaging LeftoverKind = "revision-staging"
	// LeftoverTrash is .tmp/trash-*: something renamed away to be deleted.
	// It is never used again, whoever is deleting it.
	LeftoverTrash LeftoverKind = "trash"
	// LeftoverRefused is .tmp/refused/<digest>: the mark of a cache
	// archive this root refused. It means something for RefusedTTL after
	// its ModTime, and nothing after.
	LeftoverRefused LeftoverKind = "refused"
	// LeftoverScratch is .tmp/venv-*, .tmp/resolve-* or .tmp/lock-*: the
	// scratch dir of a venv made ahead of a build (see spare.go), of a
	// resolution, or of a lock's install. Only its age tells whether its
	// process still runs.
	LeftoverScratch LeftoverKind = "scratch"
)

// scratchPrefixes name the scratch dirs of .tmp (LeftoverScratch).
var scratchPrefixes = []string{spareScratch, "resolve-", "lock-"}

// Leftover is one staging or trash directory.
type Leftover struct {
	Kind      LeftoverKind
	Container string  // LeftoverRevisionStaging only
	Key       cas.Key // LeftoverStaging only
	Name      string  // the directory's base name; refused/<digest> for a mark
	Path      string
	ModTime   time.Time
}

// Bytes is the size of the regular files under the leftover.
func (l Leftover) Bytes() int64 { return dirBytes(l.Path) }

// TmpLeftovers lists the staging dirs of builds (.tmp/<key>-*), the
// trash (.tmp/trash-*), scratch dirs (LeftoverScratch) and the marks of
// refused archives (.tmp/refused/<digest>, expired or not) in the staging
// area. Other names (pip's cache, .tmp/pip) are not leftovers and are not
// listed.
func (r Root) TmpLeftovers() ([]Leftover, error) {
	ents, err := os.ReadDir(r.TmpDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list staging area: %w", err)
	}
	var out []Leftover
	for _, e := range ents {
		l := Leftover{Name: e.Name(), Path: filepath.Join(r.TmpDir(), e.Name())}
		switch {
		case strings.HasPrefix(e.Name(), "trash-"):
			l.Kind = LeftoverTrash
		case e.Name() == refusedName && e.IsDir():
			out = append(out, r.refusedMarks()...)
			continue
		case e.IsDir() && slices.ContainsFunc(scratchPrefixes, func(p string) bool { return strings.HasPrefix(e.Name(), p) }):
			l.Kind = LeftoverScratch
		default:
			k, ok := stagedKey(e.Name())
			if !ok || !e.IsDir() {
				continue
			}
			l.Kind, l.Key = LeftoverStaging, k
		}
		if fi, err := e.Info(); err == nil {
			l.ModTime = fi.ModTime()
		} else {
			continue // gone since the listing: deleted by its owner
		}
		out = append(out, l)
	}
	return out, nil
}

// refusedMarks lists the marks of refused archives (see RefusedTTL).
func (r Root) refusedMarks() []Leftover {
	ents, err := os.ReadDir(r.refusedDir())
	if err != nil {
		return nil // gone or unreadable: nothing to list
	}
	var out []Leftover
	for _, e := range ents {
		if _, err := cas.ParseDigest(e.Name()); err != nil || !e.Type().IsRegular() {
			continue // a temp file of a mark being written, or not rezup's
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed since the listing
		}
		out = append(out, Leftover{Kind: LeftoverRefused, Name: refusedName + "/" + e.Name(), Path: filepath.Join(r.refusedDir(), e.Name()), ModTime: fi.ModTime()})
	}
	return out
}

// RevisionStaging lists a container's revision staging dirs.
func (r Root) RevisionStaging(container string) ([]Leftover, error) {
	dir := r.RevisionsDir(container)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list revisions of %s: %w", container, err)
	}
	var out []Leftover
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), revisionStaging) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // published or removed since the listing
		}
		out = append(out, Leftover{Kind: LeftoverRevisionStaging, Container: container, Name: e.Name(), Path: filepath.Join(dir, e.Name()), ModTime: fi.ModTime()})
	}
	return out, nil
}

// RemoveLeftover deletes a leftover, whatever modes an archive or a
// publish left in it (fsx.DeleteTree). A build staging dir is deleted only
// under its key's exclusive lock (ErrInUse while a build or fetch holds
// it); a revision staging dir is renamed into .tmp first, as a revision
// would be. A leftover another account owns stays (fsx.ErrNotOwner). The
// caller decides the age rules.
func (s *Store) RemoveLeftover(l Leftover) error {
	switch l.Kind {
	case LeftoverStaging:
		if err := fsx.CheckOwner(l.Path); err != nil {
			return fmt.Errorf("remove %s: %w", l.Path, err)
		}
		lk, err := fsx.TryExclusive(s.opt.Root.LockPath(l.Key))
		switch {
		case errors.Is(err, fsx.ErrLocked):
			return fmt.Errorf("remove %s: %w", l.Path, ErrInUse)
		case errors.Is(err, fs.ErrNotExist):
			// No store to hold the lock in: no build of the key runs (a
			// builder makes the store and its lock before its staging
			// dir, and keeps them while it lives).
		case err != nil:
			return fmt.Errorf("remove %s: %w", l.Path, err)
		default:
			defer lk.Close()
		}
		return fsx.DeleteTree(l.Path)
	case LeftoverTrash, LeftoverScratch:
		// Its owner may be deleting it at the same time: DeleteTree
		// takes entries vanishing underneath it in its stride.
		return fsx.DeleteTree(l.Path)
	case LeftoverRevisionStaging:
		return s.opt.Root.removeTree(l.Path)
	case LeftoverRefused:
		// A node refusing the digest again meanwhile writes a new mark:
		// removing it costs at most one more download.
		if err := os.Remove(l.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return fmt.Errorf("remove %s: unknown leftover kind %q", l.Path, l.Kind)
}

// dirBytes is the size of the regular files under root, best effort: what
// vanishes during the walk is not counted.
func dirBytes(root string) int64 {
	var n int64
	_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable or gone: counted as nothing, and the walk goes on
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
