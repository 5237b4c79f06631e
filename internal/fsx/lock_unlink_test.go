//go:build unix

package fsx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// holdsCurrent fails unless l is locked on the file at its path now, and
// that lock keeps another exclusive locker out.
func holdsCurrent(t *testing.T, l *Lock, path string) {
	t.Helper()
	held, err := l.File().Stat()
	if err != nil {
		t.Fatal(err)
	}
	now, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the lock file is gone: %v", err)
	}
	if !os.SameFile(held, now) {
		t.Fatal("the lock is held on an unlinked file, not on the one at the path")
	}
	if _, err := TryExclusive(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("another locker: %v, want ErrLocked", err)
	}
}

// TestLockRetriesOnUnlinkedFile puts the race the inode check is for on a
// fixed schedule: a locker opens the lock file, the holder unlinks it and
// releases, and only then does the locker's flock run, and succeed on the
// unlinked file. It must notice and lock the new file at the path.
func TestLockRetriesOnUnlinkedFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		lock func(string) (*Lock, error)
	}{
		{"TryExclusive", TryExclusive},
		{"TryShared", TryShared},
		{"Exclusive", func(p string) (*Lock, error) { return Exclusive(context.Background(), p, nil) }},
		{"Shared", func(p string) (*Lock, error) { return Shared(context.Background(), p, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k.lock")
			holder, err := TryExclusive(path)
			if err != nil {
				t.Fatal(err)
			}
			opened := make(chan struct{})
			goOn := make(chan struct{})
			var once sync.Once
			testHookOpened = func(string) {
				once.Do(func() {
					close(opened)
					<-goOn
				})
			}
			t.Cleanup(func() { testHookOpened = nil })

			type result struct {
				l   *Lock
				err error
			}
			done := make(chan result, 1)
			go func() {
				l, err := tc.lock(path)
				done <- result{l, err}
			}()
			<-opened // the locker has the old file open, not locked yet
			if err := holder.Unlink(); err != nil {
				t.Fatal(err)
			}
			holder.Close()
			close(goOn)
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			defer r.l.Close()
			// A shared lock on the current file keeps an exclusive
			// locker out just as well as an exclusive one.
			holdsCurrent(t, r.l, path)
		})
	}
}

// TestWaiterOnUnlinkedLock: a process waits on a build's lock while its
// holder removes the build with its lock file; the waiter ends up holding
// the lock on the file now at the path, not on the unlinked one.
func TestWaiterOnUnlinkedLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.lock")
	holder, err := TryExclusive(path)
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{})
	type result struct {
		l   *Lock
		err error
	}
	done := make(chan result, 1)
	go func() {
		l, err := Exclusive(context.Background(), path, func() { close(waiting) })
		done <- result{l, err}
	}()
	<-waiting
	if err := holder.Unlink(); err != nil {
		t.Fatal(err)
	}
	holder.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.l.Close()
	holdsCurrent(t, r.l, path)
}

// TestUnlinkRemovesTheFile: Unlink removes the lock file and the lock
// stays held through the open file until released.
func TestUnlinkRemovesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.lock")
	l, err := TryExclusive(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Unlink(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("lock file still there: %v", err)
	}
}
