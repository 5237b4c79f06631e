package gc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

// t0 is when the fixtures' history starts; tests pass a clock after it.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

const day = 24 * time.Hour

func key(n int) string { return testkit.FakeKey(n) }

func mustKey(t testing.TB, s string) cas.Key {
	t.Helper()
	k, err := cas.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newRoot is an empty local root and its store, whose clock is now.
func newRoot(t testing.TB, now time.Time) (*testkit.FakeRoot, *materialize.Store) {
	t.Helper()
	f := testkit.NewFakeRoot(t, filepath.Join(t.TempDir(), "root"))
	return f, materialize.New(materialize.Options{Root: materialize.Root{Dir: f.Dir}, Now: func() time.Time { return now }})
}

func input(store *materialize.Store, now time.Time) gc.PlanInput {
	return gc.PlanInput{
		Store: store, Keep: gc.DefaultKeep, Grace: gc.DefaultGrace, CacheGrace: gc.DefaultCacheGrace,
		Now: func() time.Time { return now },
	}
}

func plan(t testing.TB, in gc.PlanInput) *gc.Sweep {
	t.Helper()
	s, err := gc.Plan(context.Background(), in)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return s
}

func execute(t testing.TB, s *gc.Sweep) *gc.Result {
	t.Helper()
	res, err := s.Execute(context.Background())
	if err != nil {
		t.Fatalf("execute: %v", err)
	}
	return res
}

// titles are "kind title reason" for each item, sorted.
func titles(items []gc.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%s %s %s", it.Kind, it.Title(), it.Reason))
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		return []string{}
	}
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func entriesOnDisk(t testing.TB, store *materialize.Store) []string {
	t.Helper()
	keys, err := store.Root().Entries()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, k := range keys {
		out = append(out, k.String())
	}
	return out
}

func revisionsOnDisk(t testing.TB, store *materialize.Store, container string) []string {
	t.Helper()
	revs, err := store.Root().Revisions(container)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, r := range revs {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

func TestKeepRules(t *testing.T) {
	now := at(100 * day)
	// .main: five revisions a day apart; the oldest shares its build with
	// the latest. dev: two revisions of one build. And a build nothing uses.
	setup := func(t *testing.T) (*testkit.FakeRoot, *materialize.Store, []string, []string) {
		f, store := newRoot(t, now)
		mainKeys := []string{key(5), key(2), key(3), key(4), key(5)}
		var mainRevs []string
		for i, k := range mainKeys {
			if i < 4 { // the last one reuses the first one's build
				f.Entry(k, 100*(i+1), at(time.Duration(i)*day))
			}
			mainRevs = append(mainRevs, f.Revision(".main", at(time.Duration(i)*day), k))
		}
		f.Entry(key(6), 10, at(0))
		devRevs := []string{f.Revision("dev", at(1*day), key(6)), f.Revision("dev", at(2*day), key(6))}
		f.Entry(key(9), 1000, at(0))
		return f, store, mainRevs, devRevs
	}
	_, _, m, d := setup(t) // names only: the same times give the same names
	main := func(i int) string { return ".main/" + m[i] }
	dev := func(i int) string { return "dev/" + d[i] }

	tests := []struct {
		name       string
		keep       int
		containers []string
		remove     []string
		kept       []string
		entries    []string // on disk afterwards
	}{
		{
			name: "keep 1",
			keep: 1,
			remove: []string{
				"revision " + main(0) + " old", "revision " + main(1) + " old", "revision " + main(2) + " old", "revision " + main(3) + " old",
				"revision " + dev(0) + " old",
				"entry " + key(2) + " unreferenced", "entry " + key(3) + " unreferenced", "entry " + key(4) + " unreferenced", "entry " + key(9) + " unreferenced",
			},
			kept: []string{
				"revision " + main(4) + " latest", "revision " + dev(1) + " latest",
				"entry " + key(5) + " referenced", "entry " + key(6) + " referenced",
			},
			entries: []string{key(5), key(6)},
		},
		{
			name: "keep 3 (default)",
			keep: 3,
			remove: []string{
				"revision " + main(0) + " old", "revision " + main(1) + " old",
				"entry " + key(2) + " unreferenced", "entry " + key(9) + " unreferenced",
			},
			kept: []string{
				"revision " + main(4) + " latest", "revision " + main(3) + " kept", "revision " + main(2) + " kept",
				"revision " + dev(1) + " latest", "revision " + dev(0) + " kept",
				"entry " + key(3) + " referenced", "entry " + key(4) + " referenced", "entry " + key(5) + " referenced", "entry " + key(6) + " referenced",
			},
			entries: []string{key(3), key(4), key(5), key(6)},
		},
		{
			name:       "only dev",
			keep:       1,
			containers: []string{"dev"},
			remove:     []string{"revision " + dev(0) + " old"},
			kept:       []string{"revision " + dev(1) + " latest", "entry " + key(6) + " referenced"},
			entries:    []string{key(2), key(3), key(4), key(5), key(6), key(9)},
		},
		{
			name:       "only .main",
			keep:       2,
			containers: []string{".main"},
			remove: []string{
				"revision " + main(0) + " old", "revision " + main(1) + " old", "revision " + main(2) + " old",
				"entry " + key(2) + " unreferenced", "entry " + key(3) + " unreferenced",
			},
			kept: []string{
				"revision " + main(4) + " latest", "revision " + main(3) + " kept",
				"entry " + key(5) + " referenced",
			},
			entries: []string{key(4), key(5), key(6), key(9)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, store, _, _ := setup(t)
			in := input(store, now)
			in.Keep, in.Containers = tt.keep, tt.containers
			s := plan(t, in)
			if got, want := orEmpty(titles(s.Remove)), sorted(tt.remove...); !slices.Equal(got, want) {
				t.Errorf("remove:\n got %q\nwant %q", got, want)
			}
			if got, want := orEmpty(titles(s.Kept)), sorted(tt.kept...); !slices.Equal(got, want) {
				t.Errorf("kept:\n got %q\nwant %q", got, want)
			}
			res := execute(t, s)
			if len(res.Removed) != len(s.Remove) || len(res.Skipped) != 0 {
				t.Errorf("removed %d, skipped %v; planned %d", len(res.Removed), titles(res.Skipped), len(s.Remove))
			}
			if res.Bytes != s.Bytes() || (len(s.Remove) > 0 && res.Bytes == 0) {
				t.Errorf("freed %d bytes, planned %d", res.Bytes, s.Bytes())
			}
			if got := entriesOnDisk(t, store); !slices.Equal(got, tt.entries) {
				t.Errorf("entries on disk: %v, want %v", got, tt.entries)
			}
			if latest, err := store.Root().Latest(".main"); err != nil || latest.Name != m[4] {
				t.Errorf("latest of .main after gc: %v, %v", latest, err)
			}
			// A second run has nothing left to do.
			if again := plan(t, in); len(again.Remove) != 0 {
				t.Errorf("second plan removes %v", titles(again.Remove))
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	_, store := newRoot(t, t0)
	in := input(store, t0)
	in.Keep = 0
	if _, err := gc.Plan(context.Background(), in); err == nil {
		t.Error("keep 0 accepted")
	}
	in = input(store, t0)
	in.Containers = []string{"nope"}
	want := "no container nope in " + store.Root().Dir
	if _, err := gc.Plan(context.Background(), in); !errors.Is(err, gc.ErrNoContainer) || err.Error() != want {
		t.Errorf("unknown container: %v, want %q wrapping ErrNoContainer", err, want)
	}
}

// An entry in use stays, while the revision that used it goes; once the
// process ends, the next run removes the entry.
func TestInUseSkipped(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	f.Entry(key(1), 10, at(0))
	f.Entry(key(2), 20, at(day))
	r1 := f.Revision(".main", at(0), key(1))
	f.Revision(".main", at(day), key(2))

	lk, err := fsx.TryShared(f.LockPath(key(1)))
	if err != nil {
		t.Fatal(err)
	}
	in := input(store, now)
	in.Keep = 1
	s := plan(t, in)
	want := []string{"revision .main/" + r1 + " old"}
	if got := titles(s.Remove); !slices.Equal(got, want) {
		t.Errorf("remove %q, want %q", got, want)
	}
	if !slices.Contains(titles(s.Kept), "entry "+key(1)+" in-use") {
		t.Errorf("kept %q: the entry in use is not kept as in-use", titles(s.Kept))
	}
	execute(t, s)
	if got := entriesOnDisk(t, store); !slices.Equal(got, []string{key(1), key(2)}) {
		t.Errorf("entries: %v", got)
	}
	lk.Close()

	s = plan(t, in)
	if got := titles(s.Remove); !slices.Equal(got, []string{"entry " + key(1) + " unreferenced"}) {
		t.Errorf("after release, remove %q", got)
	}
	// A process that starts using it between the plan and the execution
	// wins: the entry is skipped.
	lk, err = fsx.TryShared(f.LockPath(key(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	res := execute(t, s)
	if got := titles(res.Skipped); !slices.Equal(got, []string{"entry " + key(1) + " in-use"}) {
		t.Errorf("skipped %q", got)
	}
	if got := entriesOnDisk(t, store); !slices.Equal(got, []string{key(1), key(2)}) {
		t.Errorf("entries: %v", got)
	}
}

// A revision made between the plan and the execution takes its build back.
func TestExecuteRechecksReferences(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	f.Entry(key(1), 10, at(0))
	f.Entry(key(2), 10, at(0))
	f.Revision(".main", at(day), key(2))
	in := input(store, now)
	s := plan(t, in)
	if got := titles(s.Remove); !slices.Equal(got, []string{"entry " + key(1) + " unreferenced"}) {
		t.Fatalf("remove %q", got)
	}
	f.Revision("dev", at(2*day), key(1))
	res := execute(t, s)
	if len(res.Removed) != 0 || len(res.Skipped) != 1 || res.Skipped[0].Reason != gc.ReasonReferenced {
		t.Errorf("removed %q, skipped %q", titles(res.Removed), titles(res.Skipped))
	}
	if got := entriesOnDisk(t, store); len(got) != 2 {
		t.Errorf("entries: %v", got)
	}
}

// When the latest revision disappears after the plan (rezup drop, by
// hand), the one that became the latest is not removed.
func TestExecuteKeepsTheNewLatest(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	f.Entry(key(1), 10, at(0))
	r1 := f.Revision(".main", at(0), key(1))
	r2 := f.Revision(".main", at(day), key(1))
	in := input(store, now)
	in.Keep = 1
	s := plan(t, in)
	if got := titles(s.Remove); !slices.Equal(got, []string{"revision .main/" + r1 + " old"}) {
		t.Fatalf("remove %q", got)
	}
	if err := os.RemoveAll(filepath.Join(f.Dir, ".main", "revisions", r2)); err != nil {
		t.Fatal(err)
	}
	res := execute(t, s)
	if got := titles(res.Skipped); !slices.Equal(got, []string{"revision .main/" + r1 + " latest"}) {
		t.Errorf("skipped %q", got)
	}
	if got := revisionsOnDisk(t, store, ".main"); !slices.Equal(got, []string{r1}) {
		t.Errorf("revisions: %v", got)
	}
}

func TestOlderThanCountsFromLastUse(t *testing.T) {
	now := at(100 * day)
	f, store := newRoot(t, now)
	// r1 was replaced 50 days ago and its build last used 60 days ago.
	f.Entry(key(1), 10, at(0))
	f.Stamp(key(1), at(40*day))
	r1 := f.Revision(".main", at(0), key(1))
	// r2 was replaced an hour ago; its build was used 2 hours ago.
	f.Entry(key(2), 10, at(50*day))
	f.Stamp(key(2), now.Add(-2*time.Hour))
	r2 := f.Revision(".main", at(50*day), key(2))
	// r3 is the latest; it was created long ago but reuses r2's build.
	f.Entry(key(3), 10, at(0))
	f.Revision(".main", now.Add(-time.Hour), key(3))
	// Builds nothing uses: one used 3 hours ago, one 30 days ago, one
	// created 3 days ago and never used since.
	f.Entry(key(8), 10, at(0))
	f.Stamp(key(8), now.Add(-3*time.Hour))
	f.Entry(key(9), 10, at(0))
	f.Stamp(key(9), now.Add(-30*day))
	f.Entry(key(7), 10, now.Add(-3*day))

	tests := []struct {
		olderThan time.Duration
		remove    []string
	}{
		{0, []string{"revision .main/" + r1 + " old", "revision .main/" + r2 + " old", "entry " + key(1) + " unreferenced", "entry " + key(2) + " unreferenced", "entry " + key(7) + " unreferenced", "entry " + key(8) + " unreferenced", "entry " + key(9) + " unreferenced"}},
		{day, []string{"revision .main/" + r1 + " old", "entry " + key(1) + " unreferenced", "entry " + key(7) + " unreferenced", "entry " + key(9) + " unreferenced"}},
		{7 * day, []string{"revision .main/" + r1 + " old", "entry " + key(1) + " unreferenced", "entry " + key(9) + " unreferenced"}},
		{45 * day, []string{"revision .main/" + r1 + " old", "entry " + key(1) + " unreferenced"}},
		{65 * day, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.olderThan), func(t *testing.T) {
			in := input(store, now)
			in.Keep, in.OlderThan = 1, tt.olderThan
			s := plan(t, in)
			if got, want := orEmpty(titles(s.Remove)), sorted(tt.remove...); !slices.Equal(got, want) {
				t.Errorf("remove:\n got %q\nwant %q", got, want)
			}
			for _, it := range s.Kept {
				if it.Reason == gc.ReasonRecent && !strings.Contains(it.Detail, "ago") {
					t.Errorf("recent item without its age: %+v", it)
				}
			}
		})
	}
}

// With OlderThan, a build planned for removal that a launch used between
// the plan and its execution is kept (a recent use is checked again).
func TestOlderThanRecheckedAtExecute(t *testing.T) {
	now := at(100 * day)
	f, store := newRoot(t, now)
	f.Entry(key(1), 10, at(0))
	f.Revision(".main", at(0), key(1))
	f.Entry(key(8), 10, at(0))
	f.Stamp(key(8), now.Add(-30*day))
	f.Entry(key(9), 10, at(0))
	f.Stamp(key(9), now.Add(-30*day))
	in := input(store, now)
	in.Keep, in.OlderThan = 1, day
	s := plan(t, in)
	if got, want := orEmpty(titles(s.Remove)), sorted("entry "+key(8)+" unreferenced", "entry "+key(9)+" unreferenced"); !slices.Equal(got, want) {
		t.Fatalf("remove:\n got %q\nwant %q", got, want)
	}
	f.Stamp(key(9), now) // a launch, meanwhile
	res := execute(t, s)
	if got := titles(res.Skipped); !slices.Equal(got, []string{"entry " + key(9) + " " + string(gc.ReasonRecent)}) {
		t.Errorf("skipped %q, want the entry used since the plan", got)
	}
	if got := titles(res.Removed); !slices.Equal(got, []string{"entry " + key(8) + " unreferenced"}) {
		t.Errorf("removed %q", got)
	}
}

func TestLeftovers(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	f.Entry(key(1), 10, at(0))
	latest := f.Revision(".main", at(day), key(1))
	oldNotReady := f.NotReadyRevision(".main", at(0))
	youngNotReady := f.NotReadyRevision(".main", now.Add(-10*time.Minute))
	f.RevisionStaging(".main", "old", now.Add(-2*time.Hour))
	f.RevisionStaging(".main", "young", now.Add(-time.Minute))
	f.Staging(key(2), "crashed", at(0))
	f.Staging(key(3), "building", now)
	f.Trash("abc", at(0))
	f.Scratch("venv-crashed", at(0))
	f.Scratch("resolve-running", now.Add(-time.Minute))
	lk, err := fsx.TryExclusive(f.LockPath(key(3))) // a build of key 3 runs
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()

	in := input(store, now)
	s := plan(t, in)
	wantRemove := sorted(
		"revision .main/"+oldNotReady+" not-ready",
		"staging .main/.staging-old stale",
		"staging "+key(2)+"-crashed stale",
		"trash trash-abc trash",
		"staging venv-crashed stale",
		"lock "+key(2)+" no-build", // the crashed build's
	)
	if got := orEmpty(titles(s.Remove)); !slices.Equal(got, wantRemove) {
		t.Errorf("remove:\n got %q\nwant %q", got, wantRemove)
	}
	wantKept := sorted(
		"revision .main/"+latest+" latest",
		"revision .main/"+youngNotReady+" grace",
		"staging .main/.staging-young grace",
		"staging "+key(3)+"-building in-use",
		"staging resolve-running grace",
		"entry "+key(1)+" referenced",
		"lock "+key(3)+" in-use",
	)
	if got := orEmpty(titles(s.Kept)); !slices.Equal(got, wantKept) {
		t.Errorf("kept:\n got %q\nwant %q", got, wantKept)
	}
	execute(t, s)
	tmp, _ := os.ReadDir(store.Root().TmpDir())
	var left []string
	for _, e := range tmp {
		left = append(left, e.Name())
	}
	if !slices.Equal(left, []string{key(3) + "-building", "resolve-running"}) {
		t.Errorf(".tmp after gc: %v", left)
	}
	if got := revisionsOnDisk(t, store, ".main"); !slices.Equal(got, sorted(latest, youngNotReady)) {
		t.Errorf("revisions: %v", got)
	}
	if _, err := os.Stat(f.LockPath(key(2))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the crashed build's lock file is still there: %v", err)
	}
	for _, k := range []string{key(1), key(3)} {
		if _, err := os.Stat(f.LockPath(k)); err != nil {
			t.Errorf("lock of %s: %v", k, err)
		}
	}

	// Restricted to containers, gc leaves .tmp alone.
	f.Trash("def", at(0))
	in.Containers = []string{".main"}
	for _, it := range plan(t, in).Remove {
		if it.Kind == gc.KindTrash {
			t.Errorf("gc .main plans to remove %s", it.Title())
		}
	}
}

// openCache opens the directory cache at dir.
func openCache(t *testing.T, dir string) *cache.Cache {
	t.Helper()
	c, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// publishBytes publishes data as e's archive.
func publishBytes(t *testing.T, c *cache.Cache, e cache.Entry, data string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "archive.tar.zst")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	a := archive.Archive{Path: p, Digest: cas.DigestOf([]byte(data)), Size: int64(len(data))}
	if _, err := c.Publish(context.Background(), e, a); err != nil {
		t.Fatal(err)
	}
}

func TestCachePruning(t *testing.T) {
	ctx := context.Background()
	now := at(100 * day)
	f, store := newRoot(t, now)
	remote := testkit.NewFakeRoot(t, filepath.Join(t.TempDir(), "remote"))
	cacheDir := filepath.Join(t.TempDir(), "cache")
	sc := openCache(t, cacheDir)
	publish := func(n int, created time.Time) {
		t.Helper()
		publishBytes(t, sc, cache.Entry{Key: mustKey(t, key(n)), Created: created}, strings.Repeat("archive", n))
	}
	publish(1, at(0))               // named by an old remote revision
	publish(2, at(0))               // named by nothing, old
	publish(3, now.Add(-time.Hour)) // named by nothing yet: published an hour ago
	publish(4, at(0))               // used by the local latest revision
	publish(5, at(0))               // named by a local revision that goes
	publish(6, at(0))               // the remote key of a kept local mirror
	// Publishes that never committed (no entry.json): the cache ages them
	// by their directory, so an old one goes and a recent one stays.
	for n, mt := range map[int]time.Time{7: at(0), 8: now.Add(-time.Hour)} {
		dir := filepath.Join(cacheDir, key(n))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(dir, mt, mt)
	}
	// Farm build leases with no entry (a builder that died, or one at
	// work): aged by the lease's last refresh, as an uncommitted publish.
	for n, mt := range map[int]time.Time{9: at(0), 10: now.Add(-time.Hour)} {
		l, _, err := sc.AcquireBuild(ctx, mustKey(t, key(n)), cache.LeaseOptions{TTL: time.Hour})
		if err != nil || l == nil {
			t.Fatalf("lease %d: %v", n, err)
		}
		t.Cleanup(func() { l.Release(ctx) }) // stops its refresher
		leases, _ := filepath.Glob(filepath.Join(cacheDir, key(n), "lease.*"))
		if len(leases) != 1 {
			t.Fatalf("lease objects of key %d: %v", n, leases)
		}
		os.Chtimes(leases[0], mt, mt)
	}
	remote.Revision(".main", at(0), key(1))
	remote.Revision(".main", at(day), key(4))
	f.Entry(key(4), 10, at(0))
	f.Entry(key(5), 10, at(0))
	f.Revision(".main", at(0), key(5))
	f.Revision(".main", at(day), key(4), key(6))

	remoteRoot := materialize.Root{Dir: remote.Dir, Remote: true}
	in := input(store, now)
	in.Keep, in.Remote, in.Cache = 1, &remoteRoot, sc
	s := plan(t, in)
	var cacheRemove, cacheKept []string
	for _, it := range s.Remove {
		if it.Kind == gc.KindCache {
			cacheRemove = append(cacheRemove, it.Name+" "+string(it.Reason))
		}
	}
	for _, it := range s.Kept {
		if it.Kind == gc.KindCache {
			cacheKept = append(cacheKept, it.Name+" "+string(it.Reason))
		}
	}
	if want := sorted(key(2)+" unreferenced", key(5)+" unreferenced", key(7)+" unreferenced", key(9)+" unreferenced"); !slices.Equal(orEmpty(cacheRemove), want) {
		t.Errorf("cache remove:\n got %q\nwant %q", cacheRemove, want)
	}
	if want := sorted(key(1)+" referenced", key(10)+" grace", key(3)+" grace", key(4)+" referenced", key(6)+" referenced", key(8)+" grace"); !slices.Equal(orEmpty(cacheKept), want) {
		t.Errorf("cache kept:\n got %q\nwant %q", cacheKept, want)
	}
	// A key republished between plan and execution survives. Publish
	// never replaces a committed entry, so the key went first (another
	// gc, an admin) and came back.
	if err := sc.Remove(ctx, mustKey(t, key(5))); err != nil {
		t.Fatal(err)
	}
	publish(5, now)
	res := execute(t, s)
	if got := titles(res.Skipped); !slices.Equal(got, []string{"cache " + key(5) + " grace"}) {
		t.Errorf("skipped %q", got)
	}
	keys, _ := sc.Keys(ctx)
	var left []string
	for _, k := range keys {
		left = append(left, k.Key.String())
	}
	if want := sorted(key(1), key(3), key(4), key(5), key(6), key(8), key(10)); !slices.Equal(left, want) {
		t.Errorf("cache keys left: %v, want %v", left, want)
	}

	// Once the uncommitted key is old, it goes.
	if err := os.Chtimes(filepath.Join(cacheDir, key(8)), at(0), at(0)); err != nil {
		t.Fatal(err)
	}
	s = plan(t, in)
	if got := titles(s.Remove); !slices.Contains(got, "cache "+key(8)+" unreferenced") {
		t.Errorf("uncommitted old key not removed: %q", got)
	}
}

// A dry run is a plan: it changes nothing, not a byte, not an mtime, and
// creates no lock file.
func TestPlanChangesNothing(t *testing.T) {
	now := at(100 * day)
	f, store := newRoot(t, now)
	remote := testkit.NewFakeRoot(t, filepath.Join(filepath.Dir(f.Dir), "remote"))
	sc := openCache(t, filepath.Join(filepath.Dir(f.Dir), "cache"))
	publishBytes(t, sc, cache.Entry{Key: mustKey(t, key(9)), Created: at(0)}, "archive")
	for i := range 5 {
		f.Entry(key(i+1), 10, at(time.Duration(i)*day))
		f.Revision(".main", at(time.Duration(i)*day), key(i+1))
	}
	f.IncompleteEntry(key(10), 5, at(0)) // no lock file: probing must not create one
	f.NotReadyRevision("dev", at(0))
	f.RevisionStaging("dev", "x", at(0))
	f.Staging(key(11), "x", at(0))
	f.Trash("x", at(0))
	remote.Revision(".main", at(day), key(2))
	lk, err := fsx.TryShared(f.LockPath(key(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()

	top := filepath.Dir(f.Dir)
	before := testkit.Snapshot(t, top)
	remoteRoot := materialize.Root{Dir: remote.Dir, Remote: true}
	in := input(store, now)
	in.Keep, in.OlderThan, in.Remote, in.Cache = 1, time.Hour, &remoteRoot, sc
	s := plan(t, in)
	if len(s.Remove) < 6 {
		t.Fatalf("the plan removes too little to prove anything: %q", titles(s.Remove))
	}
	if diff := testkit.DiffSnapshots(before, testkit.Snapshot(t, top)); len(diff) > 0 {
		t.Errorf("plan changed the tree:\n%s", strings.Join(diff, "\n"))
	}
}

func TestSecondGCRefused(t *testing.T) {
	ctx := context.Background()
	_, store := newRoot(t, t0)
	lock, err := gc.Lock(ctx, store.Root(), false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = gc.Lock(ctx, store.Root(), false)
	if !errors.Is(err, gc.ErrRunning) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second gc: %v", err)
	}
	got := make(chan error, 1)
	go func() {
		lock2, err := gc.Lock(ctx, store.Root(), true)
		if err == nil {
			lock2.Close()
		}
		got <- err
	}()
	lock.Close()
	if err := <-got; err != nil {
		t.Fatalf("waiting gc: %v", err)
	}
	// A root that does not exist yet: nothing to lock, nothing created.
	missing := materialize.Root{Dir: filepath.Join(t.TempDir(), "none")}
	lock, err = gc.Lock(ctx, missing, false)
	if err != nil || lock != nil {
		t.Fatalf("lock of a missing root: %v, %v", lock, err)
	}
	lock.Close()
	if _, err := os.Stat(missing.Dir); !os.IsNotExist(err) {
		t.Errorf("Lock created the root: %v", err)
	}
}

func TestReportJSONIsComplete(t *testing.T) {
	_, store := newRoot(t, t0)
	s := plan(t, input(store, t0))
	rep := gc.NewReport(s, nil, nil)
	if !rep.DryRun || rep.Remove == nil || rep.Kept == nil || rep.Removed == nil || rep.Skipped == nil || rep.Errors == nil || rep.Warnings == nil {
		t.Errorf("report of an empty dry run has null lists: %+v", rep)
	}
}

// BenchmarkPlan plans over 1,000 revisions in 50 containers, each with its
// own build, keeping the default 3 per container.
func BenchmarkPlan(b *testing.B) {
	now := at(1000 * day)
	f, store := newRoot(b, now)
	n := 0
	for c := range 50 {
		for range 20 {
			n++
			ts := at(time.Duration(n) * time.Hour)
			f.Entry(key(n), 100, ts)
			f.Revision(fmt.Sprintf("c%02d", c), ts, key(n))
		}
	}
	in := input(store, now)
	in.OlderThan = time.Hour
	b.ResetTimer()
	for b.Loop() {
		s, err := gc.Plan(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Remove) != 50*17*2 {
			b.Fatalf("plan removes %d items", len(s.Remove))
		}
	}
}

// A revision abandoned at plan time that a slow writer finishes before the
// execution stays.
func TestExecuteKeepsARevisionThatBecameReady(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	f.Entry(key(1), 10, at(0))
	f.Revision(".main", at(0), key(1))
	slow := f.NotReadyRevision(".main", at(day))
	s := plan(t, input(store, now))
	if got := titles(s.Remove); !slices.Equal(got, []string{"revision .main/" + slow + " not-ready"}) {
		t.Fatalf("remove %q", got)
	}
	meta := filepath.Join(f.Dir, ".main", "revisions", slow, "revision.json")
	if err := os.WriteFile(meta, []byte(`{"key": "`+key(1)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res := execute(t, s)
	if len(res.Removed) != 0 || len(res.Skipped) != 1 {
		t.Errorf("removed %q, skipped %q", titles(res.Removed), titles(res.Skipped))
	}
}

// The marks of refused cache archives (.tmp/refused/<digest>) go once
// they have expired (materialize.RefusedTTL); a mark still meant stays,
// unlisted.
func TestRefusedMarksExpire(t *testing.T) {
	now := at(10 * day)
	_, store := newRoot(t, now)
	dir := filepath.Join(store.Root().TmpDir(), "refused")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, young := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for name, mtime := range map[string]time.Time{
		old:   now.Add(-materialize.RefusedTTL - time.Minute),
		young: now.Add(-time.Minute),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("archive is corrupt\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	s := plan(t, input(store, now))
	if got, want := orEmpty(titles(s.Remove)), []string{"staging refused/" + old + " stale"}; !slices.Equal(got, want) {
		t.Errorf("remove: %q, want %q", got, want)
	}
	if got := orEmpty(titles(s.Kept)); len(got) != 0 {
		t.Errorf("kept: %q, want nothing", got)
	}
	execute(t, s)
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != young {
		t.Errorf("marks after gc: %v, want only %s", ents, young)
	}
}

// A cache key that stays keeps no junk in its lease's name space: a
// planted lease.18446744073709551615 (or any lease name that is no
// generation) goes, and a real lease of a builder at work stays.
func TestCacheJunkLeasesGo(t *testing.T) {
	ctx := context.Background()
	now := at(100 * day)
	_, store := newRoot(t, now)
	cacheDir := filepath.Join(t.TempDir(), "cache")
	sc := openCache(t, cacheDir)
	k := mustKey(t, key(1))
	publishBytes(t, sc, cache.Entry{Key: k, Created: now}, "archive") // recent: the key stays
	for _, junk := range []string{"lease.18446744073709551615", "lease.nope"} {
		if err := os.WriteFile(filepath.Join(cacheDir, key(1), junk), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := input(store, now)
	in.Cache = sc
	s := plan(t, in)
	var junk []string
	for _, it := range s.Remove {
		if it.Kind == gc.KindLease && it.Reason == gc.ReasonJunk {
			junk = append(junk, filepath.Base(it.Name))
		}
	}
	if want := []string{"lease.18446744073709551615", "lease.nope"}; !slices.Equal(sorted(junk...), want) {
		t.Fatalf("junk leases planned: %q, want %q", junk, want)
	}
	execute(t, s)
	left, _ := filepath.Glob(filepath.Join(cacheDir, key(1), "lease.*"))
	if len(left) != 0 {
		t.Errorf("left: %v", left)
	}
	if _, err := sc.Lookup(ctx, k); err != nil {
		t.Errorf("the key went with its junk: %v", err)
	}
}

// gc --json has every field always, null where it does not apply, as
// status --json: no remote root, no cache, an item without a container.
func TestReportHasEveryField(t *testing.T) {
	s := &gc.Sweep{Root: "/r", Now: at(0), Remove: []gc.Item{{Kind: gc.KindTrash, Name: "trash-1", Reason: gc.ReasonTrash}}}
	b, err := json.Marshal(gc.NewReport(s, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"root", "remote", "cache", "dry_run", "now", "keep", "older_than_seconds", "cache_grace_seconds", "remove", "kept", "removed", "skipped", "planned_bytes", "removed_bytes", "warnings", "errors"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if got["remote"] != nil || got["cache"] != nil || got["cache_grace_seconds"] != nil {
		t.Errorf("fields that do not apply are not null: %s", b)
	}
	item := got["remove"].([]any)[0].(map[string]any)
	for _, k := range []string{"kind", "container", "name", "key", "bytes", "reason", "detail", "last_use"} {
		if _, ok := item[k]; !ok {
			t.Errorf("no %q in the item %v", k, item)
		}
	}
}
