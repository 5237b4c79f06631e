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

// Lock is a held flock(2) lock. Release it with the unlock func its
// constructor returned. File exposes the descriptor, so a launcher can hand
// the lock on to the process it execs (flock locks belong to the open file,
// so the exec'd process keeps holding it).
type Lock struct {
	f *os.File
}

// File returns the open file that carries the lock.
func (l *Lock) File() *os.File { return l.f }

// TryShared takes a shared lock without waiting.
func TryShared(path string) (*Lock, func(), error) {
	return try(path, false)
}

// TryExclusive takes an exclusive lock without waiting.
func TryExclusive(path string) (*Lock, func(), error) {
	return try(path, true)
}

func try(path string, exclusive bool) (*Lock, func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if errors.Is(err, fs.ErrPermission) && !exclusive {
		// A reader of someone else's root may only be able to read.
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
