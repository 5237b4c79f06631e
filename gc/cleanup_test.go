package gc_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/gc"
)

// Lock files go with their build, and a lock whose build never
// completed goes once nobody holds it and it is older than the grace.
func TestLockFilesGo(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	f.Entry(key(1), 10, at(0))                // unreferenced: goes with its lock
	f.Stamp(key(2), at(0))                    // a failed first build, long ago
	f.Stamp(key(3), now.Add(-10*time.Minute)) // a build starting, or just failed
	f.Entry(key(4), 10, at(0))                // in use by a kept revision
	f.Revision(".main", at(day), key(4))

	s := plan(t, input(store, now))
	wantRemove := sorted("entry "+key(1)+" unreferenced", "lock "+key(2)+" no-build")
	if got := orEmpty(titles(s.Remove)); !slices.Equal(got, wantRemove) {
		t.Fatalf("remove:\n got %q\nwant %q", got, wantRemove)
	}
	if got := titles(s.Kept); !slices.Contains(got, "lock "+key(3)+" grace") {
		t.Errorf("kept %q: want the young lock kept for its grace", got)
	}
	execute(t, s)
	for n, want := range map[int]bool{1: false, 2: false, 3: true, 4: true} {
		_, err := os.Stat(f.LockPath(key(n)))
		if exists := err == nil; exists != want {
			t.Errorf("lock of %s exists: %v, want %v (%v)", key(n), exists, want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.Dir, ".store", key(1))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("entry 1 still there: %v", err)
	}
}

// A lock taken between the plan and its execution is not removed.
func TestLockTakenSincePlanStays(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	f.Stamp(key(2), at(0))
	s := plan(t, input(store, now))
	f.Stamp(key(2), now) // a build of key 2 started and wrote its holder line
	res := execute(t, s)
	if got := titles(res.Skipped); !slices.Equal(got, []string{"lock " + key(2) + " recent"}) {
		t.Errorf("skipped %q", got)
	}
	if _, err := os.Stat(f.LockPath(key(2))); err != nil {
		t.Error(err)
	}
}

// Two concurrent publishes of one key leave two archives; gc --cache
// removes the one entry.json does not name once it is older than the
// grace, unless a revision pins its digest, and keeps the named one.
func TestUnnamedArchivesGo(t *testing.T) {
	ctx := context.Background()
	cacheDir := filepath.Join(t.TempDir(), "cache")
	k := mustKey(t, key(1))
	datas := []string{"archive of the first publisher", "archive of the second publisher"}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, d := range datas {
		wg.Go(func() {
			<-start
			publishBytes(t, openCache(t, cacheDir), cache.Entry{Key: k}, d) // each its own "machine"
		})
	}
	close(start)
	wg.Wait()
	sc := openCache(t, cacheDir)
	e, err := sc.Lookup(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	var loser cas.Digest
	for _, d := range datas {
		if dg := cas.DigestOf([]byte(d)); dg != e.Digest {
			loser = dg
		}
	}
	loserPath := filepath.Join(cacheDir, key(1), loser.String()+".tar.zst")
	if _, err := os.Stat(loserPath); err != nil {
		t.Fatalf("the race left no second archive: %v", err)
	}

	for _, tc := range []struct {
		name   string
		now    time.Time
		pinned bool   // by PlanInput.Pinned
		pinRev bool   // by the revision's revision.json ("archive")
		want   string // the loser's title and reason, "" for none
		in     string // "remove" or "kept"
	}{
		{"young", time.Now(), false, false, "archive " + key(1) + "/" + loser.String() + " grace", "kept"},
		{"pinned", time.Now().Add(2 * gc.DefaultCacheGrace), true, false, "archive " + key(1) + "/" + loser.String() + " pinned", "kept"},
		{"pinned by its revision", time.Now().Add(2 * gc.DefaultCacheGrace), false, true, "archive " + key(1) + "/" + loser.String() + " pinned", "kept"},
		{"old", time.Now().Add(2 * gc.DefaultCacheGrace), false, false, "archive " + key(1) + "/" + loser.String() + " unnamed", "remove"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, store := newRoot(t, tc.now)
			f.Entry(key(1), 10, tc.now)
			rev := f.Revision(".main", tc.now.Add(-time.Hour), key(1)) // names the key: it stays
			if tc.pinRev {
				pinArchive(t, filepath.Join(f.Dir, ".main", "revisions", rev), k, loser)
			}
			in := input(store, tc.now)
			in.Cache = sc
			if tc.pinned {
				in.Pinned = map[cas.Digest]string{loser: "remote revision .main/x"}
			}
			s := plan(t, in)
			list := s.Kept
			if tc.in == "remove" {
				list = s.Remove
			}
			if got := titles(list); !slices.Contains(got, tc.want) {
				t.Fatalf("%s: %q, want %q in it", tc.in, got, tc.want)
			}
			for _, it := range append(slices.Clone(s.Remove), s.Kept...) {
				if it.Kind == gc.KindArchive && it.Name == e.Digest.String() {
					t.Errorf("the named archive is an item: %+v", it)
				}
				if it.Kind == gc.KindCache && it.Reason != gc.ReasonReferenced {
					t.Errorf("cache key item %+v, want it referenced", it)
				}
			}
			res := execute(t, s)
			_, err := os.Stat(loserPath)
			if removed := errors.Is(err, fs.ErrNotExist); removed != (tc.in == "remove") {
				t.Fatalf("loser removed: %v (result %q)", removed, titles(res.Removed))
			}
		})
	}
	if _, err := sc.Lookup(ctx, k); err != nil {
		t.Fatalf("the named archive is gone: %v", err)
	}
}

// pinArchive adds to the revision in dir the pin of archive d of key k,
// as `add --remote` writes it into a remote revision and its mirrors.
func pinArchive(t *testing.T, dir string, k cas.Key, d cas.Digest) {
	t.Helper()
	p := filepath.Join(dir, "revision.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	meta["archive"] = cache.Entry{Key: k, Digest: d, Size: 30}
	b, err = json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
