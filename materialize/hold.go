package materialize

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

// Hold is a build held in use: a ready store entry, or a revision the
// Python rezup built. The hold is its lock file, open with LOCK_SH
// (.store/<key>.lock, or the revision's venv/.rezup-use.lock): while any
// process holds that file open, no collector or drop removes the build.
// Closing the file releases it, so a launcher hands File to the process it
// runs, and the build stays in use for as long as that process (and
// whatever inherits the descriptor) runs, even after rezup has returned.
// (The farm build lease of the shared cache is another thing: see
// cache.BuildLease.)
//
// A Hold that becomes unreachable without Close is a bug (the lock would
// be dropped whenever the garbage collector closes the file). Go's
// cmd/go/internal/lockedfile panics then; a user must never see a stack
// trace, so here it calls leakedHold, which this package's tests set to
// fail loudly.
type Hold struct {
	key     cas.Key
	lock    *fsx.Lock // nil: held without a lock (see Store.holdRevision)
	closed  atomic.Bool
	cleanup runtime.Cleanup
}

// newHold makes the hold of k by lock l (nil: no lock).
func newHold(k cas.Key, l *fsx.Lock) *Hold {
	h := &Hold{key: k, lock: l}
	if l == nil {
		return h
	}
	h.cleanup = runtime.AddCleanup(h, func(name string) {
		if hook := leakedHold.Load(); hook != nil {
			(*hook)(name)
		}
	}, l.File().Name())
	return h
}

// leakedHold, when set, is called with the lock file's name of a Hold
// that became unreachable without Close. Nil outside tests: the file's
// own finalizer closes it, which releases the lock.
var leakedHold atomic.Pointer[func(name string)]

// Key is the held entry's key; zero for a revision the Python rezup built
// (it has no entry).
func (h *Hold) Key() cas.Key { return h.key }

// File is the open lock file that holds the build in use, for a launcher
// to hand to the process it starts; nil when the build is held without a
// lock (a Python-built revision in a root this user cannot write).
func (h *Hold) File() *os.File {
	if h.lock == nil {
		return nil
	}
	return h.lock.File()
}

// Close releases the hold: once no process holds the lock file any more,
// the build may be removed. Closing twice is harmless: only the first call
// closes.
func (h *Hold) Close() error {
	if h.lock == nil || !h.closed.CompareAndSwap(false, true) {
		return nil
	}
	h.cleanup.Stop()
	return h.lock.Close()
}

// ErrNotReady means the entry asked for is not in the store.
var ErrNotReady = errors.New("not in the store")

// ready reports whether .store/<key> is complete. One stat: hot path.
func (s *Store) ready(k cas.Key) bool {
	_, err := os.Stat(s.opt.Root.manifestPath(k))
	return err == nil
}

// hold holds a ready entry in use. It waits while a builder or a collector
// holds the entry exclusively, then checks again: the entry may have been
// removed meanwhile (ErrNotReady), and nothing is held then. After a
// successful hold, the entry exists until Close (and until every process
// the hold's file was handed to has ended). It refreshes the entry's
// use-stamp at most once an hour (see LastUse). It never builds nor
// fetches: Materialize does.
func (s *Store) hold(ctx context.Context, k cas.Key) (*Hold, error) {
	if !s.ready(k) {
		return nil, fmt.Errorf("%s: %w", k, ErrNotReady)
	}
	lock, err := fsx.Shared(ctx, s.opt.Root.LockPath(k), func() {
		s.opt.Reporter.Infof("waiting for %s (%s)", k, s.holder(k))
	})
	if err != nil {
		return nil, err
	}
	if !s.ready(k) {
		lock.Close()
		return nil, fmt.Errorf("%s: %w", k, ErrNotReady)
	}
	s.stampUse(lock.File(), k)
	return newHold(k, lock), nil
}

// holdRevision holds a Python-built revision in use (see useRevision): a
// hold with a zero key, and no lock file when the root cannot be locked by
// this user.
func (s *Store) holdRevision(ctx context.Context, rev *Revision) (*Hold, error) {
	lock, err := s.useRevision(ctx, rev)
	if err != nil {
		return nil, err
	}
	return newHold(cas.Key{}, lock), nil
}
