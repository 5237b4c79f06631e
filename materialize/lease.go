package materialize

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
)

// Lease is a build held in use: a ready store entry, or a revision the
// Python rezup built. The lease is its lock file, open with LOCK_SH
// (.store/<key>.lock, or the revision's venv/.rezup-use.lock): while any
// process holds that file open, no collector or drop removes the build.
// Closing the file is the release, so a launcher hands File to the process
// it runs, and the build stays in use for as long as that process (and
// whatever inherits the descriptor) runs, even after rezup has returned.
//
// A Lease that becomes unreachable without Release is a bug (the lock would
// be dropped whenever the garbage collector closes the file). Go's
// cmd/go/internal/lockedfile panics then; a user must never see a stack
// trace, so here it calls leakedLease, which this package's tests set to
// fail loudly.
type Lease struct {
	key      cas.Key
	f        *os.File // nil: held without a lock (see Store.leaseRevision)
	released atomic.Bool
	cleanup  runtime.Cleanup
}

// newLease makes the lease of the lock l (nil: no lock).
func newLease(k cas.Key, l *fsx.Lock) *Lease {
	lease := &Lease{key: k}
	if l == nil {
		return lease
	}
	lease.f = l.File()
	lease.cleanup = runtime.AddCleanup(lease, func(name string) {
		if hook := leakedLease.Load(); hook != nil {
			(*hook)(name)
		}
	}, lease.f.Name())
	return lease
}

// leakedLease, when set, is called with the lock file's name of a Lease
// that became unreachable without Release. Nil outside tests: the file's
// own finalizer closes it, which releases the lock.
var leakedLease atomic.Pointer[func(name string)]

// Key is the leased entry's key; zero for a revision the Python rezup built
// (it has no entry).
func (l *Lease) Key() cas.Key { return l.key }

// File is the open lock file that holds the build in use, for a launcher
// to hand to the process it starts; nil when the build is held without a
// lock (a Python-built revision in a root this user cannot write). Closing
// it releases the lease: call Release instead.
func (l *Lease) File() *os.File { return l.f }

// Release closes the lock file: once no process holds it any more, the
// build may be removed. Releasing twice is harmless: only the first call
// closes.
func (l *Lease) Release() error {
	if l.f == nil || !l.released.CompareAndSwap(false, true) {
		return nil
	}
	l.cleanup.Stop()
	return l.f.Close()
}

// ErrNotReady means the entry asked for is not in the store.
var ErrNotReady = errors.New("not in the store")

// Ready reports whether .store/<key> is complete. One stat: hot path.
func (s *Store) Ready(k cas.Key) bool {
	_, err := os.Stat(s.opt.Root.manifestPath(k))
	return err == nil
}

// Lease holds a ready entry in use. It waits while a builder or a collector
// holds the entry exclusively, then checks again: the entry may have been
// removed meanwhile (ErrNotReady), and nothing is held then. After a
// successful Lease, the entry exists until Release (and until every process
// the lease's file was handed to has ended). It refreshes the entry's
// use-stamp at most once an hour (see LastUse). It never builds nor
// fetches: see MaterializeLeased.
func (s *Store) Lease(ctx context.Context, k cas.Key) (*Lease, error) {
	if !s.Ready(k) {
		return nil, fmt.Errorf("%s: %w", k, ErrNotReady)
	}
	lock, err := fsx.Shared(ctx, s.opt.Root.LockPath(k), func() {
		s.opt.Reporter.Infof("waiting for %s (%s)", k, s.holder(k))
	})
	if err != nil {
		return nil, err
	}
	if !s.Ready(k) {
		lock.Close()
		return nil, fmt.Errorf("%s: %w", k, ErrNotReady)
	}
	s.stampUse(lock.File(), k)
	return newLease(k, lock), nil
}

// MaterializeLeased is Materialize, then Lease: when it returns, entry k is
// ready and held in use, so that a collector cannot remove it before a
// revision refers to it or a command runs in it. With p nil, an entry
// neither here nor in the shared cache is ErrNotCached.
func (s *Store) MaterializeLeased(ctx context.Context, k cas.Key, p *Plan) (*Manifest, *Lease, error) {
	return s.MaterializeLeasedPinned(ctx, k, p, nil)
}

// MaterializeLeasedPinned is MaterializePinned, then Lease (pin nil:
// MaterializeLeased).
func (s *Store) MaterializeLeasedPinned(ctx context.Context, k cas.Key, p *Plan, pin *cache.Entry) (*Manifest, *Lease, error) {
	// A collector may remove the entry between Materialize and Lease; a
	// few rounds make that race harmless.
	for attempt := 0; ; attempt++ {
		m, err := s.materialize(ctx, k, p, pin)
		if err != nil {
			return nil, nil, err
		}
		lease, err := s.Lease(ctx, k)
		if err == nil {
			return m, lease, nil
		}
		if !errors.Is(err, ErrNotReady) || attempt == 2 {
			return nil, nil, err
		}
	}
}

// leaseRevision holds a Python-built revision in use (see useRevision): a
// lease with a zero key, and no lock file when the root cannot be locked by
// this user.
func (s *Store) leaseRevision(ctx context.Context, rev *Revision) (*Lease, error) {
	lock, err := s.useRevision(ctx, rev)
	if err != nil {
		return nil, err
	}
	return newLease(cas.Key{}, lock), nil
}
