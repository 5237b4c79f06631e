package materialize

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

// ErrInUse means a process holds the in-use lock of an entry.
var ErrInUse = errors.New("in use")

// DropResult says what Drop removed.
type DropResult struct {
	Revisions int
	Entries   []cas.Key // store entries no other revision used
	InUse     []cas.Key // with force: entries left because they are in use
	// Others are the entries no other revision used that stay because
	// another account owns them (a group-shared root): theirs, or root's,
	// to remove.
	Others []cas.Key
}

// Drop removes a container's revisions from the local root, and the store
// entries that no revision of another container uses. It is refused, with
// nothing removed, while any entry of the container is in use: it takes
// every entry's lock exclusively without waiting first, then looks at the
// running processes (FindRuntimeRoots) for those that use an entry
// without its lock. With force, the revisions go anyway, and so do the
// entries nothing uses; an entry in use stays (DropResult.InUse) until gc
// finds it unused: nothing in use is ever deleted. A revision in use
// itself (one the Python rezup built, whose venv is inside it, while a
// process runs in it; any revision a running process shows, as the Python
// rezup's jobs show theirs on PATH) refuses Drop even with force: its
// processes need its path. What the look at processes could not see is
// said once through the Reporter. Drop removes only what the caller owns:
// a container holding another account's revisions is refused whole
// (fsx.ErrNotOwner), and an entry another account owns stays
// (DropResult.Others).
func (s *Store) Drop(ctx context.Context, container string, force bool) (*DropResult, error) {
	root := s.opt.Root
	revs, err := root.Revisions(container)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(root.ContainerDir(container)); err != nil {
		return nil, fmt.Errorf("container %s: %w", container, ErrNoRevision)
	}
	keys := map[cas.Key]bool{}
	for _, rev := range revs {
		if k, ok := rev.Key(); ok {
			keys[k] = true
		}
		// A Python-built revision holds its venv: in use, it stays whole
		// even with force, since nothing in use is ever deleted and a
		// revision cannot be left behind as a build can.
		lock, err := s.lockRevision(rev)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", container, err)
		}
		defer lock.Close()
	}
	var inUse, others []cas.Key
	locks := map[cas.Key]*fsx.Lock{}
	for k := range keys {
		if !s.ready(k) {
			delete(keys, k)
			continue
		}
		if fsx.CheckOwner(root.EntryDir(k)) != nil {
			others = append(others, k)
			delete(keys, k)
			continue
		}
		lock, err := fsx.TryExclusive(root.LockPath(k))
		if errors.Is(err, fsx.ErrLocked) && force {
			inUse = append(inUse, k)
			delete(keys, k)
			continue
		}
		if errors.Is(err, fsx.ErrLocked) {
			return nil, fmt.Errorf("container %s: build %s is %w by a running process", container, k, ErrInUse)
		}
		if err != nil {
			return nil, err
		}
		defer lock.Close()
		locks[k] = lock
	}
	// Under the locks, right before removing: who uses the container
	// without them.
	rr := s.FindRuntimeRoots(ctx)
	if gaps := rr.Gaps(); gaps != "" {
		s.opt.Reporter.Warnf("%s", gaps)
	}
	for _, rev := range revs {
		if err := rr.checkRevision(rev); err != nil {
			return nil, fmt.Errorf("container %s: %w", container, err)
		}
	}
	for k := range keys {
		err := rr.checkEntry(k)
		switch {
		case err == nil:
		case force:
			inUse = append(inUse, k)
			delete(keys, k)
		default:
			return nil, fmt.Errorf("container %s: %w", container, err)
		}
	}
	if err := root.removeTree(root.ContainerDir(container)); err != nil {
		return nil, fmt.Errorf("drop %s: %w", container, err)
	}
	res := &DropResult{Revisions: len(revs), InUse: inUse}
	used, err := s.usedKeys()
	if err != nil {
		return res, err
	}
	for _, k := range others {
		if !used[k] {
			res.Others = append(res.Others, k)
		}
	}
	for k := range keys {
		if used[k] {
			continue
		}
		if err := s.removeEntryLocked(k, locks[k]); err != nil {
			return res, err
		}
		res.Entries = append(res.Entries, k)
	}
	return res, nil
}

// usedKeys are the keys that some revision of the local root points to.
func (s *Store) usedKeys() (map[cas.Key]bool, error) {
	names, err := s.opt.Root.Containers()
	if err != nil {
		return nil, err
	}
	used := map[cas.Key]bool{}
	for _, name := range names {
		revs, err := s.opt.Root.Revisions(name)
		if err != nil {
			return nil, err
		}
		for _, rev := range revs {
			if k, ok := rev.Key(); ok {
				used[k] = true
			}
		}
	}
	return used, nil
}
