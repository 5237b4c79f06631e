package gc_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/cas/files"
	"github.com/rezup/rezup/gc"
)

// filesCache is a directory cache holding builds of the file-level
// format, with a clock past their grace.
type filesCache struct {
	t   *testing.T
	dir string
	sc  *cache.Cache
	now time.Time // every object is older than the grace, unless made young
	// created is the entries' publication time (zero: the cache's clock).
	created time.Time
}

func newFilesCache(t *testing.T) *filesCache {
	dir := filepath.Join(t.TempDir(), "cache")
	return &filesCache{t: t, dir: dir, sc: openCache(t, dir), now: time.Now().Add(2 * gc.DefaultCacheGrace)}
}

// build scans and packs tree (over base, whose packs it reuses) as key
// n's build, and publishes it.
func (fc *filesCache) build(n int, tree map[string]string, base *files.Index) (cache.Entry, *files.Index) {
	t := fc.t
	t.Helper()
	k := mustKey(t, key(n))
	root := t.TempDir()
	for name, data := range tree {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := cache.Entry{Key: k, Prefix: "/opt/rezup/.store/" + k.String(), Created: fc.created}
	ix, err := files.Scan(root, e.Prefix, files.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opt := files.PackOptions{Dir: t.TempDir()}
	if base != nil {
		opt.Have = files.Known(base)
	}
	if _, err := files.Pack(ix, root, opt); err != nil {
		t.Fatal(err)
	}
	e, err = fc.sc.PublishFiles(context.Background(), e, ix, opt.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return e, ix
}

func (fc *filesCache) packPath(d cas.Digest) string {
	s := d.String()
	return filepath.Join(fc.dir, "packs", s[:2], s+files.Ext)
}

func (fc *filesCache) indexPath(k cas.Key, d cas.Digest) string {
	return filepath.Join(fc.dir, k.String(), d.String()+cache.IndexExt)
}

// age makes every object in the cache older than the grace.
func (fc *filesCache) age() {
	fc.t.Helper()
	old := fc.now.Add(-gc.DefaultCacheGrace - time.Hour)
	err := filepath.WalkDir(fc.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		fc.t.Fatal(err)
	}
}

// move moves index d from key from to key to: an index the key's entry
// does not name, as a lost race leaves.
func (fc *filesCache) move(from, to cas.Key, d cas.Digest) {
	fc.t.Helper()
	if err := os.Rename(fc.indexPath(from, d), fc.indexPath(to, d)); err != nil {
		fc.t.Fatal(err)
	}
}

func (fc *filesCache) exists(p string) bool {
	fc.t.Helper()
	_, err := os.Stat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		fc.t.Fatal(err)
	}
	return err == nil
}

// newPacks are the packs of ix that base does not name.
func newPacks(ix, base *files.Index) []cas.Digest {
	var out []cas.Digest
	for _, p := range ix.Packs {
		if base == nil || !slices.ContainsFunc(base.Packs, func(b files.PackRef) bool { return b.Digest == p.Digest }) {
			out = append(out, p.Digest)
		}
	}
	return out
}

func tree(s ...string) map[string]string {
	m := map[string]string{}
	for _, x := range s {
		m["lib/"+x] = strings.Repeat(x, 2000)
	}
	return m
}

// filesFixture: key 1, named by a local revision, holds build A; key 2,
// named by nothing, build B over A (A's packs and one of its own); key
// 3's build C has gone, leaving its pack; key 1 also holds the index of a
// build D its entry does not name (key 4's, moved), whose pack only it
// names.
type filesFixture struct {
	*filesCache
	in                  gc.PlanInput
	ixA, ixB, ixC, ixD  *files.Index
	packA, packB, packC cas.Digest
	D                   cas.Digest // the unnamed index of key 1
	k1                  cas.Key
}

func newFilesFixture(t *testing.T) *filesFixture {
	fx := &filesFixture{filesCache: newFilesCache(t)}
	ctx := context.Background()
	_, fx.ixA = fx.build(1, tree("a", "b"), nil)
	_, fx.ixB = fx.build(2, tree("a", "b", "c"), fx.ixA)
	_, fx.ixC = fx.build(3, tree("x"), nil)
	eD, ixD := fx.build(4, tree("y"), nil)
	fx.ixD = ixD
	fx.k1 = mustKey(t, key(1))
	if err := fx.sc.Remove(ctx, mustKey(t, key(3))); err != nil {
		t.Fatal(err)
	}
	fx.move(eD.Key, fx.k1, eD.Index)
	if err := fx.sc.Remove(ctx, eD.Key); err != nil {
		t.Fatal(err)
	}
	fx.D = eD.Index
	one := func(ds []cas.Digest) cas.Digest {
		if len(ds) != 1 {
			t.Fatalf("%d new packs, want 1", len(ds))
		}
		return ds[0]
	}
	fx.packA, fx.packB, fx.packC = one(newPacks(fx.ixA, nil)), one(newPacks(fx.ixB, fx.ixA)), one(newPacks(fx.ixC, nil))
	f, store := newRoot(t, fx.now)
	f.Entry(key(1), 10, fx.now)
	f.Revision(".main", fx.now.Add(-time.Hour), key(1))
	fx.in = input(store, fx.now)
	fx.in.Cache = fx.sc
	return fx
}

// cacheItems are titles() of the cache's items of kind index and pack.
func cacheItems(items []gc.Item) []string {
	var out []string
	for _, s := range titles(items) {
		if strings.HasPrefix(s, "index ") || strings.HasPrefix(s, "pack ") {
			out = append(out, s)
		}
	}
	return orEmpty(out)
}

func TestCachePacks(t *testing.T) {
	t.Run("after the grace", func(t *testing.T) {
		fx := newFilesFixture(t)
		fx.age()
		d4 := fx.D.String()
		packD := newPacks(fx.ixD, nil)[0]
		s := plan(t, fx.in)
		// Key 2 goes as a whole, so the pack only it named goes too; the
		// orphan pack goes; the unnamed index goes, but its pack, which
		// it named at the plan, stays until the next run.
		want := sorted("index "+key(1)+"/"+d4+" unnamed", "pack "+fx.packB.String()+" unreferenced", "pack "+fx.packC.String()+" unreferenced")
		if got := cacheItems(s.Remove); !slices.Equal(got, want) {
			t.Errorf("remove:\n got %q\nwant %q", got, want)
		}
		wantKept := sorted("pack "+fx.packA.String()+" referenced", "pack "+packD.String()+" referenced")
		if got := cacheItems(s.Kept); !slices.Equal(got, wantKept) {
			t.Errorf("kept:\n got %q\nwant %q", got, wantKept)
		}
		for _, it := range s.Remove {
			if it.Kind == gc.KindPack && it.Bytes <= 0 {
				t.Errorf("pack item without its size: %+v", it)
			}
		}
		if !fx.exists(fx.packPath(fx.packB)) || !fx.exists(fx.indexPath(fx.k1, fx.D)) {
			t.Fatal("the plan removed something")
		}
		res := execute(t, s)
		if len(res.Skipped) > 0 {
			t.Errorf("skipped %q", titles(res.Skipped))
		}
		for _, d := range []cas.Digest{fx.packB, fx.packC} {
			if fx.exists(fx.packPath(d)) {
				t.Errorf("pack %s is still there", d)
			}
		}
		if !fx.exists(fx.packPath(fx.packA)) || !fx.exists(fx.packPath(packD)) {
			t.Error("a named pack went")
		}
		// The next run removes the pack the removed index alone named.
		s = plan(t, fx.in)
		if got, want := cacheItems(s.Remove), []string{"pack " + packD.String() + " unreferenced"}; !slices.Equal(got, want) {
			t.Errorf("next run removes %q, want %q", got, want)
		}
		execute(t, s)
		if fx.exists(fx.packPath(packD)) || !fx.exists(fx.packPath(fx.packA)) {
			t.Error("the next run got the packs wrong")
		}
		// The kept key's build is whole.
		e, err := fx.sc.Lookup(context.Background(), fx.k1)
		if err != nil {
			t.Fatal(err)
		}
		ix, _, err := fx.sc.OpenIndex(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.sc.FetchContents(context.Background(), ix, nil, 0, func(files.Content, io.Reader) error { return nil }); err != nil {
			t.Fatalf("the kept build cannot be fetched: %v", err)
		}
	})

	t.Run("before the grace", func(t *testing.T) {
		fx := newFilesFixture(t)
		fx.now = time.Now()
		fx.in.Now = func() time.Time { return fx.now }
		s := plan(t, fx.in)
		if got := cacheItems(s.Remove); len(got) > 0 {
			t.Errorf("young objects removed: %q", got)
		}
		if got := cacheItems(s.Kept); !slices.Contains(got, "pack "+fx.packC.String()+" grace") || !slices.Contains(got, "index "+key(1)+"/"+fx.D.String()+" grace") {
			t.Errorf("kept %q, want the orphan pack and the unnamed index kept for their grace", got)
		}
	})

	t.Run("a pinned index", func(t *testing.T) {
		fx := newFilesFixture(t)
		fx.age()
		f, store := newRoot(t, fx.now)
		f.Entry(key(1), 10, fx.now)
		rev := f.Revision(".main", fx.now.Add(-time.Hour), key(1))
		pinIndex(t, filepath.Join(f.Dir, ".main", "revisions", rev), fx.k1, fx.D, fx.ixD)
		in := input(store, fx.now)
		in.Cache = fx.sc
		s := plan(t, in)
		if got := cacheItems(s.Kept); !slices.Contains(got, "index "+key(1)+"/"+fx.D.String()+" pinned") {
			t.Errorf("kept %q, want the pinned index", got)
		}
		execute(t, s)
		s = plan(t, in)
		execute(t, s)
		if !fx.exists(fx.indexPath(fx.k1, fx.D)) || !fx.exists(fx.packPath(newPacks(fx.ixD, nil)[0])) {
			t.Error("the pinned index or its pack went")
		}
	})

	t.Run("an index put between plan and execute", func(t *testing.T) {
		fx := newFilesFixture(t)
		fx.age()
		s := plan(t, fx.in)
		if got := cacheItems(s.Remove); !slices.Contains(got, "pack "+fx.packC.String()+" unreferenced") {
			t.Fatalf("remove %q", got)
		}
		// A publish reusing pack C puts its index (under a key the plan
		// did not see) before it checks its packs.
		_, ixE := fx.build(5, tree("x", "z"), fx.ixC)
		if !slices.ContainsFunc(ixE.Packs, func(p files.PackRef) bool { return p.Digest == fx.packC }) {
			t.Fatal("the new build does not reuse pack C")
		}
		res := execute(t, s)
		if got := cacheItems(res.Skipped); !slices.Contains(got, "pack "+fx.packC.String()+" referenced") {
			t.Errorf("skipped %q, want pack C", got)
		}
		if !fx.exists(fx.packPath(fx.packC)) {
			t.Error("pack C went")
		}
		if fx.exists(fx.packPath(fx.packB)) {
			t.Error("pack B stayed")
		}
	})

	t.Run("a key republished between plan and execute", func(t *testing.T) {
		fx := newFilesFixture(t)
		fx.age()
		s := plan(t, fx.in)
		if got := titles(s.Remove); !slices.Contains(got, "cache "+key(2)+" unreferenced") || !slices.Contains(got, "pack "+fx.packB.String()+" unreferenced") {
			t.Fatalf("remove %q", got)
		}
		// Key 2 went (another gc, an admin) and came back: its removal
		// is skipped, and so is the pack its index names.
		if err := fx.sc.Remove(context.Background(), mustKey(t, key(2))); err != nil {
			t.Fatal(err)
		}
		fx.created = fx.now
		fx.build(2, tree("a", "b", "c"), fx.ixA)
		res := execute(t, s)
		got := titles(res.Skipped)
		if !slices.Contains(got, "cache "+key(2)+" grace") || !slices.Contains(got, "pack "+fx.packB.String()+" referenced") {
			t.Errorf("skipped %q, want key 2 and pack B", got)
		}
		if !fx.exists(fx.packPath(fx.packB)) {
			t.Error("pack B went")
		}
	})

	t.Run("a corrupt index", func(t *testing.T) {
		fx := newFilesFixture(t)
		bad := cas.DigestOf([]byte("not an index"))
		if err := os.WriteFile(fx.indexPath(fx.k1, bad), []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		fx.age()
		s := plan(t, fx.in)
		got := cacheItems(s.Remove)
		if want := sorted("index "+key(1)+"/"+bad.String()+" unnamed", "index "+key(1)+"/"+fx.D.String()+" unnamed"); !slices.Equal(got, want) {
			t.Errorf("remove %q, want only the unnamed indexes: no pack while an index cannot be read", got)
		}
		if got := cacheItems(s.Kept); !slices.Contains(got, "pack "+fx.packC.String()+" unreadable") {
			t.Errorf("kept %q, want pack C kept as unreadable", got)
		}
		if !slices.ContainsFunc(s.Warnings, func(w string) bool { return strings.Contains(w, bad.String()) }) {
			t.Errorf("no warning names the corrupt index: %q", s.Warnings)
		}
		execute(t, s)
		if !fx.exists(fx.packPath(fx.packC)) || !fx.exists(fx.packPath(fx.packB)) {
			t.Error("a pack went while an index could not be read")
		}
	})
}

// pinIndex adds to the revision in dir the pin of index d of key k, as
// `add --remote` writes it for a build of the file-level format.
func pinIndex(t *testing.T, dir string, k cas.Key, d cas.Digest, ix *files.Index) {
	t.Helper()
	data, got, err := files.Marshal(ix)
	if err != nil || got != d {
		t.Fatalf("marshal: %v, %s want %s", err, got, d)
	}
	p := filepath.Join(dir, "revision.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	meta["archive"] = cache.Entry{Key: k, Format: cache.FormatFiles, Index: d, IndexSize: int64(len(data)), Prefix: ix.Prefix}
	if b, err = json.Marshal(meta); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
