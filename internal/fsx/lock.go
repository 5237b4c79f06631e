package fsx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// ErrLocked is returned by the Try functions when another process holds a
// conflicting lock.
var ErrLocked = errors.New("locked by another process")

// Lock is a held flock(2) lock. The lock is the open file: the unlock func
// its constructor returns closes File, and closing File is the same
// release. File exposes the descriptor, so a launcher can hand the lock on
// to the process it execs (flock locks belong to the open file, so the
// exec'd process keeps holding it).
type Lock struct {
	f *os.File
}

// File returns the open file that carries the lock.
func (l *Lock) File() *os.File { return l.f }

// TryShared takes a shared lock without waiting. The lock file is created
// when missing (0o666 with the umask applied). When it cannot be opened
// for writing (someone else's file, a read-only filesystem), it is opened
// read-only: a shared lock needs no more, so a complete build in a root
// the caller cannot write can still be used.
func TryShared(path string) (*Lock, func(), error) {
	return try(path, false)
}

// TryExclusive takes an exclusive lock without waiting. It needs write
// access to the lock file: an exclusive holder writes into it.
func TryExclusive(path string) (*Lock, func(), error) {
	return try(path, true)
}

func try(path string, exclusive bool) (*Lock, func(), error) {
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
		return nil, nil, fmt.Errorf("lock %s: %w", path, err)
	}
	ok, err := tryLock(f, exclusive)
	if err != nil {
		f.Close() // the lock failed; nothing is held
		return nil, nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		f.Close() // nothing is held
		return nil, nil, ErrLocked
	}
	return &Lock{f}, func() {
		// Closing the file releases the lock; an error here means the
		// descriptor is already gone, and with it the lock.
		_ = f.Close()
	}, nil
}

// Shared takes a shared lock, calling waiting once if it has to wait.
func Shared(ctx context.Context, path string, waiting func()) (*Lock, func(), error) {
	return wait(ctx, path, false, waiting)
}

// Exclusive takes an exclusive lock, calling waiting once if it has to wait.
func Exclusive(ctx context.Context, path string, waiting func()) (*Lock, func(), error) {
	return wait(ctx, path, true, waiting)
}

func wait(ctx context.Context, path string, exclusive bool, waiting func()) (*Lock, func(), error) {
	l, unlock, err := try(path, exclusive)
	if !errors.Is(err, ErrLocked) {
		return l, unlock, err
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
			return nil, nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(delay):
		}
		l, unlock, err := try(path, exclusive)
		if !errors.Is(err, ErrLocked) {
			return l, unlock, err
		}
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}
