package materialize_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func storeAt(dir string, now time.Time) *materialize.Store {
	return materialize.New(materialize.Options{Root: materialize.Root{Dir: dir}, Now: func() time.Time { return now }})
}

func key(t *testing.T, n int) cas.Key {
	t.Helper()
	k, err := cas.ParseKey(testkit.FakeKey(n))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A launch refreshes the use-stamp only when it is an hour old, so the
// hot path is one fstat most of the time.
func TestUseStampsAtMostHourly(t *testing.T) {
	f := testkit.NewFakeRoot(t, t.TempDir())
	f.Entry(testkit.FakeKey(1), 10, t0)
	k := key(t, 1)
	for _, tt := range []struct {
		now  time.Time
		want time.Time
	}{
		{t0.Add(30 * time.Minute), t0},                     // fresh: untouched
		{t0.Add(2 * time.Hour), t0.Add(2 * time.Hour)},     // stale: stamped
		{t0.Add(150 * time.Minute), t0.Add(2 * time.Hour)}, // fresh again
	} {
		s := storeAt(f.Dir, tt.now)
		lease, err := s.Materialize(context.Background(), materialize.Request{Key: k})
		if err != nil {
			t.Fatal(err)
		}
		if err := lease.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := s.LastUse(k)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("at %v: last use %v (%v), want %v", tt.now.Sub(t0), got.Sub(t0), err, tt.want.Sub(t0))
		}
	}
}

func TestLastUseFallsBack(t *testing.T) {
	f := testkit.NewFakeRoot(t, t.TempDir())
	s := storeAt(f.Dir, t0)
	f.Entry(testkit.FakeKey(1), 10, t0.Add(time.Hour))
	if err := os.Remove(f.LockPath(testkit.FakeKey(1))); err != nil {
		t.Fatal(err)
	}
	f.IncompleteEntry(testkit.FakeKey(2), 10, t0.Add(2*time.Hour))
	for _, tt := range []struct {
		n    int
		want time.Time
	}{
		{1, t0.Add(time.Hour)},     // the manifest's creation
		{2, t0.Add(2 * time.Hour)}, // the directory's mtime
	} {
		if got, err := s.LastUse(key(t, tt.n)); err != nil || !got.Equal(tt.want) {
			t.Errorf("entry %d: last use %v, %v; want %v", tt.n, got, err, tt.want)
		}
	}
	if _, err := s.LastUse(key(t, 3)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing entry: %v", err)
	}
}

func TestDropForceNeverDeletesWhatIsInUse(t *testing.T) {
	f := testkit.NewFakeRoot(t, t.TempDir())
	s := storeAt(f.Dir, t0)
	f.Entry(testkit.FakeKey(1), 10, t0)
	f.Entry(testkit.FakeKey(2), 10, t0)
	f.Entry(testkit.FakeKey(3), 10, t0)
	f.Revision("dev", t0, testkit.FakeKey(1))
	f.Revision("dev", t0.Add(time.Hour), testkit.FakeKey(2))
	f.Revision("dev", t0.Add(2*time.Hour), testkit.FakeKey(3))
	f.Revision("prod", t0, testkit.FakeKey(3))
	lk, err := fsx.TryShared(f.LockPath(testkit.FakeKey(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()

	if _, err := s.Drop(context.Background(), "dev", false); !errors.Is(err, materialize.ErrInUse) {
		t.Fatalf("drop while in use: %v", err)
	}
	if revs, _ := s.Root().Revisions("dev"); len(revs) != 3 {
		t.Fatalf("a refused drop removed revisions: %d left", len(revs))
	}
	res, err := s.Drop(context.Background(), "dev", true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revisions != 3 || !slices.Equal(res.Entries, []cas.Key{key(t, 2)}) || !slices.Equal(res.InUse, []cas.Key{key(t, 1)}) {
		t.Errorf("drop --force: %+v", res)
	}
	keys, _ := s.Root().Entries()
	if !slices.Equal(keys, []cas.Key{key(t, 1), key(t, 3)}) {
		t.Errorf("entries after drop --force: %v (the one in use and prod's must stay)", keys)
	}
	if _, err := os.Stat(filepath.Join(f.Dir, "dev")); !os.IsNotExist(err) {
		t.Errorf("dev is still there: %v", err)
	}
}
