package gc_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

// Each grace rule of the local root keeps what is younger than the grace,
// by as little as a nanosecond, and lets go of what is exactly as old: a
// not-ready revision, a revision staging dir, a scratch dir, the lock of a
// build not in the store.
func TestGraceBoundaries(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	in := input(store, now)
	edge, inside := now.Add(-in.Grace), now.Add(-in.Grace+time.Nanosecond)

	oldRev := f.NotReadyRevision(".main", edge)
	youngRev := f.NotReadyRevision("dev", inside) // its own container: the names would be the same
	f.RevisionStaging(".main", "edge", edge)
	f.RevisionStaging(".main", "inside", inside)
	f.Scratch("venv-edge", edge)
	f.Scratch("venv-inside", inside)
	f.Stamp(key(1), edge)   // a lock with no build, no staging
	f.Stamp(key(2), inside) // likewise, a nanosecond younger

	s := plan(t, in)
	for _, c := range []struct {
		what  string
		items []gc.Item
		want  []string
	}{
		{"remove", s.Remove, sorted(
			"revision .main/"+oldRev+" not-ready",
			"staging .main/.staging-edge stale",
			"staging venv-edge stale",
			"lock "+key(1)+" no-build",
		)},
		{"kept", s.Kept, sorted(
			"revision dev/"+youngRev+" grace",
			"staging .main/.staging-inside grace",
			"staging venv-inside grace",
			"lock "+key(2)+" grace",
		)},
	} {
		if got := orEmpty(titles(c.items)); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.what, got, c.want)
		}
	}
}

// Plan lists what it removes in the order Execute removes it: revisions
// (by container, then name) before the builds they used, then the
// leftovers, kind by kind, each by name.
func TestRemoveOrder(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	f.Entry(key(3), 10, at(0))
	f.Entry(key(1), 10, at(0))
	f.Entry(key(2), 10, at(0))
	revs := map[string][]string{}
	for _, c := range []string{"dev", ".main", "b"} {
		for i, k := range []string{key(1), key(2), key(3)} {
			revs[c] = append(revs[c], f.Revision(c, at(time.Duration(i)*day), k))
		}
	}
	f.Trash("b", at(0))
	f.Trash("a", at(0))
	f.Scratch("venv-b", at(0))
	f.Scratch("venv-a", at(0))
	f.Stamp(key(5), at(0))
	f.Stamp(key(4), at(0))

	in := input(store, now)
	in.Keep = 1 // each container keeps its latest, of key 3
	s := plan(t, in)
	var got []string
	for _, it := range s.Remove {
		got = append(got, string(it.Kind)+" "+it.Title())
	}
	want := []string{
		"revision .main/" + revs[".main"][0], "revision .main/" + revs[".main"][1],
		"revision b/" + revs["b"][0], "revision b/" + revs["b"][1],
		"revision dev/" + revs["dev"][0], "revision dev/" + revs["dev"][1],
		"entry " + key(1), "entry " + key(2),
		"staging venv-a", "staging venv-b",
		"trash trash-a", "trash trash-b",
		"lock " + key(4), "lock " + key(5),
	}
	if !slices.Equal(got, want) {
		t.Errorf("remove, in order:\n got %q\nwant %q", got, want)
	}
	if got := s.Kept; len(got) == 0 {
		t.Error("nothing kept: the latest revisions and key 3 should be")
	}
}

// The cache's grace and --older-than have the same edge: a cache key
// published exactly CacheGrace ago goes, one a nanosecond younger stays;
// a build last used exactly OlderThan ago goes, one a nanosecond later
// stays.
func TestCacheGraceAndOlderThanBoundaries(t *testing.T) {
	now := at(100 * day)
	f, store := newRoot(t, now)
	in := input(store, now)
	in.Keep, in.OlderThan = 1, 7*day
	in.Cache = openCache(t, filepath.Join(t.TempDir(), "cache"))
	for n, created := range map[int]time.Time{1: now.Add(-in.CacheGrace), 2: now.Add(-in.CacheGrace + time.Nanosecond)} {
		publishBytes(t, in.Cache, cache.Entry{Key: mustKey(t, key(n)), Created: created}, strings.Repeat("archive", n))
	}
	f.Entry(key(3), 10, at(0))
	f.Stamp(key(3), now.Add(-in.OlderThan))
	f.Entry(key(4), 10, at(0))
	f.Stamp(key(4), now.Add(-in.OlderThan+time.Nanosecond))
	f.Entry(key(5), 10, at(0))
	f.Revision(".main", at(0), key(5)) // the latest; no revision names the cache's keys
	remote := testkit.NewFakeRoot(t, filepath.Join(t.TempDir(), "remote"))
	remote.Revision(".main", at(0), key(6)) // keyed: nothing to warn of
	in.Remote = &materialize.Root{Dir: remote.Dir, Remote: true}

	s := plan(t, in)
	// Every remote revision names its key: no warning of keyless ones.
	// (Other warnings depend on the machine: processes it cannot read.)
	for _, w := range s.Warnings {
		if strings.Contains(w, "name no key") {
			t.Errorf("warning with no keyless revision: %q", w)
		}
	}
	pick := func(items []gc.Item) []string {
		var out []string
		for _, it := range items {
			if it.Kind == gc.KindCache || it.Kind == gc.KindEntry {
				out = append(out, fmt.Sprintf("%s %s %s", it.Kind, it.Name, it.Reason))
			}
		}
		slices.Sort(out)
		return orEmpty(out)
	}
	if got, want := pick(s.Remove), sorted("cache "+key(1)+" unreferenced", "entry "+key(3)+" unreferenced"); !slices.Equal(got, want) {
		t.Errorf("remove:\n got %q\nwant %q", got, want)
	}
	if got, want := pick(s.Kept), sorted("cache "+key(2)+" grace", "entry "+key(4)+" recent", "entry "+key(5)+" referenced"); !slices.Equal(got, want) {
		t.Errorf("kept:\n got %q\nwant %q", got, want)
	}
}
