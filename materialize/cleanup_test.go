package materialize_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

func gone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s is still there (%v)", p, err)
	}
}

// Removing a build removes its lock file too: a removed build's lock
// would otherwise stay forever.
func TestRemoveEntryRemovesItsLock(t *testing.T) {
	f := testkit.NewFakeRoot(t, t.TempDir())
	f.Entry(testkit.FakeKey(1), 10, t0)
	s := storeAt(f.Dir, t0)
	if err := s.RemoveEntry(key(t, 1), nil); err != nil {
		t.Fatal(err)
	}
	gone(t, filepath.Join(f.Dir, ".store", testkit.FakeKey(1)))
	gone(t, f.LockPath(testkit.FakeKey(1)))
}

// A first materialize that fails leaves no lock file behind: it removes
// it under its exclusive lock.
func TestFailedFirstMaterializeLeavesNoLock(t *testing.T) {
	dir := t.TempDir()
	s := storeAt(dir, t0)
	k := key(t, 2)
	if _, err := s.Materialize(context.Background(), materialize.Request{Key: k}); !errors.Is(err, materialize.ErrNotCached) {
		t.Fatalf("materialize without plan nor cache: %v, want ErrNotCached", err)
	}
	gone(t, s.Root().LockPath(k))
}

func TestRemoveOrphanLock(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(f *testkit.FakeRoot, k string) func()
		lockAge time.Time
		want    error // nil: removed
	}{
		{"old and free", func(*testkit.FakeRoot, string) func() { return func() {} }, t0, nil},
		{"used since", func(*testkit.FakeRoot, string) func() { return func() {} }, t0.Add(2 * time.Hour), materialize.ErrNotOrphan},
		{"has a build", func(f *testkit.FakeRoot, k string) func() {
			f.IncompleteEntry(k, 1, t0)
			return func() {}
		}, t0, materialize.ErrNotOrphan},
		{"held", func(f *testkit.FakeRoot, k string) func() {
			lk, err := fsx.TryShared(f.LockPath(k))
			if err != nil {
				t.Fatal(err)
			}
			return func() { lk.Close() }
		}, t0, materialize.ErrInUse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := testkit.NewFakeRoot(t, t.TempDir())
			k := testkit.FakeKey(3)
			f.Stamp(k, tc.lockAge)
			defer tc.setup(f, k)()
			s := storeAt(f.Dir, t0.Add(3*time.Hour))
			locks, err := s.Root().OrphanLocks()
			if err != nil {
				t.Fatal(err)
			}
			_, hasBuild := os.Stat(filepath.Join(f.Dir, ".store", k))
			if wantListed := hasBuild != nil; (len(locks) == 1) != wantListed {
				t.Fatalf("OrphanLocks = %v, want it listed: %v", locks, wantListed)
			}
			err = s.RemoveOrphanLock(key(t, 3), t0.Add(time.Hour))
			if !errors.Is(err, tc.want) {
				t.Fatalf("RemoveOrphanLock: %v, want %v", err, tc.want)
			}
			_, serr := os.Stat(f.LockPath(k))
			if removed := errors.Is(serr, fs.ErrNotExist); removed != (tc.want == nil) {
				t.Errorf("lock removed: %v, want %v", removed, tc.want == nil)
			}
		})
	}
}

// damagedEntry writes a ready entry with a venv python, a production bin
// dir and an entry point the manifest lists, as a build leaves them.
func damagedEntry(t *testing.T, dir, k string) string {
	t.Helper()
	f := testkit.NewFakeRoot(t, dir)
	entry := f.Entry(k, 1, t0)
	if err := os.WriteFile(filepath.Join(entry, "venv", "rez", "bin", "python"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mp := filepath.Join(entry, ".rezup", "manifest.json")
	b, err := os.ReadFile(mp)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["entry_points"] = map[string][]string{"rez": {"rez-env"}}
	b, _ = json.Marshal(m)
	if err := os.WriteFile(mp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return entry
}

func TestInspectFindsWhatIsMissing(t *testing.T) {
	for _, tc := range []struct {
		remove string // relative to the entry; "" removes nothing
		want   string // in the problem; "" means intact
	}{
		{"", ""},
		{"venv/rez/bin/rez/rez-env", "venv/rez/bin/rez/rez-env is missing"},
		{"venv/rez/bin/python", "venv/rez/bin/python is missing"},
		{"venv/rez/bin/rez", "venv/rez/bin/rez is missing"},
		{".rezup/manifest.json", "manifest is missing"},
	} {
		t.Run(tc.remove, func(t *testing.T) {
			dir := t.TempDir()
			entry := damagedEntry(t, dir, testkit.FakeKey(4))
			if tc.remove != "" {
				if err := os.RemoveAll(filepath.Join(entry, filepath.FromSlash(tc.remove))); err != nil {
					t.Fatal(err)
				}
			}
			err := storeAt(dir, t0).Inspect(key(t, 4))
			var de *materialize.DamagedError
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("intact entry: %v", err)
			case tc.want == "":
			case !errors.As(err, &de):
				t.Fatalf("Inspect: %v, want a *DamagedError", err)
			case !strings.Contains(de.Problem, tc.want) || !strings.Contains(err.Error(), "is damaged"):
				t.Fatalf("Inspect: %v, want %q in it", err, tc.want)
			}
		})
	}
}

// Repair moves the entry aside with its lock, and refuses while the
// entry is in use.
func TestRepairMovesTheEntryAside(t *testing.T) {
	dir := t.TempDir()
	entry := damagedEntry(t, dir, testkit.FakeKey(5))
	s := storeAt(dir, t0)
	lease, err := s.Materialize(context.Background(), materialize.Request{Key: key(t, 5)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Repair(key(t, 5)); !errors.Is(err, materialize.ErrInUse) {
		t.Fatalf("repair in use: %v, want ErrInUse", err)
	}
	if err := lease.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Repair(key(t, 5)); err != nil {
		t.Fatal(err)
	}
	gone(t, entry)
	gone(t, s.Root().LockPath(key(t, 5)))
	if _, err := s.ReadManifest(key(t, 5)); err == nil {
		t.Error("repaired entry still ready")
	}
}
