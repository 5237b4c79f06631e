package fsx

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// ErrLocked is returned by the Try functions when another process holds a
// conflicting lock.
var ErrLocked = errors.New("locked by another process")

// Lock is a held flock(2) lock, as Go's lockedfile.File: the lock is the
// open file, and Close releases it. File exposes the descriptor, so a
// launcher can hand the lock on to the process it execs (flock locks
// belong to the open file, so the exec'd process keeps holding it).
type Lock struct {
	f    *os.File
	path string
}

// File returns the open file that carries the lock.
func (l *Lock) File() *os.File { return l.f }

// Close releases the lock by closing its file. Closing twice is harmless
// (the second call reports the file already closed, and holds nothing),
// and so is closing a nil Lock: a caller that may hold no lock defers
// Close all the same.
func (l *Lock) Close() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}

// TryShared takes a shared lock without waiting. The lock file is created
// when missing (0o666 with the umask applied). When it cannot be opened
// for writing (someone else's file, a read-only filesystem), it is opened
// read-only: a shared lock needs no more, so a complete build in a root
// the caller cannot write can still be used.
func TryShared(path string) (*Lock, error) {
	return try(path, false)
}

// TryExclusive takes an exclusive lock without waiting. It needs write
// access to the lock file: an exclusive holder writes into it.
func TryExclusive(path string) (*Lock, error) {
	return try(path, true)
}

func try(path string, exclusive bool) (*Lock, error) {
	// A lock file may be unlinked by its exclusive holder (gc removing a
	// build with its lock, Unlink): whoever opened the old file before
	// that and was granted its lock afterwards holds a lock on a file
	// nobody else will ever open. As Nix does, compare the locked file
	// with the one at path and start again on the new file when they
	// differ. A few rounds suffice: each one means a holder unlinked the
	// file meanwhile, which happens once per removal.
	for range 8 {
		l, err := tryOnce(path, exclusive)
		if !errors.Is(err, errStale) {
			return l, err
		}
	}
	return nil, fmt.Errorf("lock %s: the lock file keeps being replaced; try again", path)
}

// testHookOpened, set by tests only, runs between opening a lock file and
// locking it: where an unlink by the holder makes the opened file stale.
var testHookOpened func(path string)

// errStale means the file locked is no longer the one at its path.
var errStale = errors.New("lock file replaced while locking")

func tryOnce(path string, exclusive bool) (*Lock, error) {
	// 0o666 and the umask: under 022 the file is 0644, which is enough
	// for every other account to take a shared lock through a read-only
	// descriptor (flock(2) does not care how the file was opened).
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil && !exclusive && CannotWrite(err) {
		// A user of someone else's root, or of a read-only mount, may
		// only be able to read: a shared lock needs no more.
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if testHookOpened != nil {
		testHookOpened(path)
	}
	ok, err := tryLock(f, exclusive)
	if err != nil {
		f.Close() // the lock failed; nothing is held
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		f.Close() // nothing is held
		return nil, ErrLocked
	}
	if same, err := current(f, path); err != nil || !same {
		f.Close() // a lock on an unlinked file protects nothing
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return nil, errStale
	}
	return &Lock{f: f, path: path}, nil
}

// current reports whether f, just locked, is still the file at path: a
// missing path counts as replaced. One fstat and one stat: the price of
// letting the exclusive holder remove lock files.
func current(f *os.File, path string) (bool, error) {
	held, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(held, now), nil
}

// TryExclusiveReadOnly takes an exclusive lock without waiting, through a
// read-only descriptor, on a lock file that must exist (fs.ErrNotExist
// otherwise): for a holder that writes nothing into it, where it may not
// write (a read-only mount, another account's root). flock(2) does not
// care how the file was opened, so it excludes every other holder all the
// same.
func TryExclusiveReadOnly(path string) (*Lock, error) {
	for range 8 {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		ok, err := tryLock(f, true)
		if err != nil || !ok {
			f.Close() // nothing is held
			if err != nil {
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			return nil, ErrLocked
		}
		same, err := current(f, path)
		if err == nil && same {
			return &Lock{f: f, path: path}, nil
		}
		f.Close() // a lock on an unlinked file protects nothing
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
	return nil, fmt.Errorf("lock %s: the lock file keeps being replaced; try again", path)
}

// Held reports whether a process holds a lock on the file at path, shared
// or exclusive, by taking and dropping LOCK_EX|LOCK_NB. It opens the file
// read-only (a lock needs no more), so it never creates it and needs no
// write access: a collector planning in a root it may not write (another
// account's, a read-only mount) learns what is in use all the same. A
// missing file is not held.
func Held(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	defer f.Close() // closing drops the probe's lock, which is all it held
	ok, err := tryLock(f, true)
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	return !ok, nil
}

// Unlink removes the lock file while l holds it exclusively, so that it
// goes with what it protected (a removed build) without a window in which
// another process could lock the doomed file: whoever was waiting on it
// finds, once granted, that it is not the file at the path any more, and
// locks a new one (see try). Only an exclusive holder may call it; the lock
// stays held until Close. On Windows an open file cannot be
// unlinked (Go opens files without FILE_SHARE_DELETE): Unlink returns an
// error wrapping ErrUnsupported there, and lock files stay.
func (l *Lock) Unlink() error {
	if err := unlinkHeld(l.path); err != nil {
		return fmt.Errorf("remove lock %s: %w", l.path, err)
	}
	return nil
}

// Shared takes a shared lock, calling waiting once if it has to wait.
func Shared(ctx context.Context, path string, waiting func()) (*Lock, error) {
	return wait(ctx, path, false, waiting)
}

// Exclusive takes an exclusive lock, calling waiting once if it has to wait.
func Exclusive(ctx context.Context, path string, waiting func()) (*Lock, error) {
	return wait(ctx, path, true, waiting)
}

func wait(ctx context.Context, path string, exclusive bool, waiting func()) (*Lock, error) {
	l, err := try(path, exclusive)
	if !errors.Is(err, ErrLocked) {
		return l, err
	}
	if waiting != nil {
		waiting()
	}
	// Polling rather than a blocking flock keeps ctx cancellation working;
	// 50ms is far below the time any holder keeps a build lock.
	delay := 2 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(delay):
		}
		l, err := try(path, exclusive)
		if !errors.Is(err, ErrLocked) {
			return l, err
		}
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}
