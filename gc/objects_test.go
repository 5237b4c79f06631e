package gc_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

// sharedBuild publishes a build of files (a file's "@PREFIX@" becomes the
// publisher's prefix) to sc and materializes it into the root at dir, as
// a node fetches it: its files that do not name the prefix become links
// of the root's objects.
func sharedBuild(t *testing.T, dir string, sc *cache.Cache, k cas.Key, files map[string]string) {
	t.Helper()
	ctx := context.Background()
	src := t.TempDir()
	prefix := "/publisher/.store/" + k.String()
	files[".rezup/manifest.json"] = `{"key": "` + k.String() + `", "prefix": "` + prefix + `", "venvs": []}`
	for rel, body := range files {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "@PREFIX@", prefix)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := archive.PackFile(t.TempDir(), src, archive.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := cache.Entry{Key: k, Prefix: prefix, Digest: a.Digest, Size: a.Size, Files: a.Files, Bytes: a.Bytes, Created: time.Now().UTC()}
	if _, err := sc.Publish(ctx, e, a); err != nil {
		t.Fatal(err)
	}
	node := materialize.New(materialize.Options{Root: materialize.Root{Dir: dir}, Cache: sc, Environ: os.Environ()})
	h, err := node.Materialize(ctx, materialize.Request{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
}

func objectsOnDisk(t *testing.T, store *materialize.Store) int {
	t.Helper()
	st, err := store.Objects()
	if err != nil || st == nil {
		t.Fatalf("object store: %v, %v", st, err)
	}
	n := 0
	if err := st.Walk(func(objects.Object) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func objectsItem(items []gc.Item, name string, reason gc.Reason) (gc.Item, bool) {
	for _, it := range items {
		if it.Kind == gc.KindObjects && it.Name == name && (reason == "" || it.Reason == reason) {
			return it, true
		}
	}
	return gc.Item{}, false
}

// twoSharedBuilds makes builds 1 (used by the latest revision) and 2
// (used by none) sharing one file; each has one file of its own that is
// an object, and one that names its prefix.
func twoSharedBuilds(t *testing.T) (*testkit.FakeRoot, *materialize.Store, cas.Key, cas.Key) {
	t.Helper()
	f := testkit.NewFakeRoot(t, filepath.Join(t.TempDir(), "root"))
	testkit.WritableAtEnd(t, f.Dir)
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	k1, k2 := mustKey(t, key(1)), mustKey(t, key(2))
	sharedBuild(t, f.Dir, sc, k1, map[string]string{"lib/shared.py": "shared\n", "lib/one.py": "one\n", "bin/tool": "#!@PREFIX@/bin/python\n"})
	sharedBuild(t, f.Dir, sc, k2, map[string]string{"lib/shared.py": "shared\n", "lib/two.py": "two two\n", "bin/tool": "#!@PREFIX@/bin/python\n"})
	f.Revision(".main", at(0), key(1))
	store := materialize.New(materialize.Options{Root: materialize.Root{Dir: f.Dir}})
	a, _ := os.Stat(filepath.Join(store.Root().EntryDir(k1), "lib", "shared.py"))
	b, _ := os.Stat(filepath.Join(store.Root().EntryDir(k2), "lib", "shared.py"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Fatal("the builds do not share lib/shared.py")
	}
	return f, store, k1, k2
}

// The objects of a build gc removes go with it, once unchanged for the
// grace period, and those a kept build names stay; the plan (a dry run)
// says so beforehand, count and bytes, and changes nothing.
func TestUnnamedObjectsGo(t *testing.T) {
	_, store, k1, k2 := twoSharedBuilds(t)
	if n := objectsOnDisk(t, store); n != 3 {
		t.Fatalf("%d objects, want 3 (shared, one, two)", n)
	}
	in := input(store, time.Now().Add(2*time.Hour))
	s := plan(t, in)
	gone, ok := objectsItem(s.Remove, "objects", gc.ReasonUnreferenced)
	if !ok || gone.Count != 1 || gone.Bytes != int64(len("two two\n")) {
		t.Fatalf("planned objects: %+v (%v); remove %v", gone, ok, titles(s.Remove))
	}
	if kept, ok := objectsItem(s.Kept, "objects", gc.ReasonReferenced); !ok || kept.Count != 2 {
		t.Errorf("kept objects: %+v", kept)
	}
	for _, it := range s.Remove {
		// Its files of its own: the one naming its prefix; the rest are
		// links, counted with the objects.
		if it.Kind == gc.KindEntry && it.Name == k2.String() && it.Bytes != int64(len("#!"+store.Root().EntryDir(k2)+"/bin/python\n")) {
			t.Errorf("entry %s frees %d bytes, want those of bin/tool only", k2, it.Bytes)
		}
	}
	b, err := json.Marshal(gc.NewReport(s, nil, nil))
	if err != nil || !strings.Contains(string(b), `"kind":"objects","container":null,"name":"objects"`) || !strings.Contains(string(b), `"count":1`) {
		t.Errorf("--json: %s (%v)", b, err)
	}
	if n := objectsOnDisk(t, store); n != 3 {
		t.Fatalf("the plan changed the store: %d objects", n)
	}

	res := execute(t, s)
	if it, ok := objectsItem(res.Removed, "objects", ""); !ok || it.Count != 1 {
		t.Errorf("removed objects: %+v; removed %v skipped %v", it, titles(res.Removed), titles(res.Skipped))
	}
	if n := objectsOnDisk(t, store); n != 2 {
		t.Errorf("%d objects left, want 2", n)
	}
	for rel, want := range map[string]string{"lib/shared.py": "shared\n", "lib/one.py": "one\n"} {
		if got, err := os.ReadFile(filepath.Join(store.Root().EntryDir(k1), rel)); err != nil || string(got) != want {
			t.Errorf("kept build's %s: %q, %v", rel, got, err)
		}
	}
	if l, err := store.ObjectList(k2); err != nil || len(l) != 0 {
		t.Errorf("the removed build's object list: %v, %v", l, err)
	}
	if _, ok := objectsItem(plan(t, in).Remove, "objects", ""); ok {
		t.Errorf("a second gc removes objects again")
	}
}

// Objects linked or put within the grace period stay, even unnamed.
func TestYoungObjectsStay(t *testing.T) {
	_, store, _, _ := twoSharedBuilds(t)
	s := plan(t, input(store, time.Now()))
	if _, ok := objectsItem(s.Remove, "objects", ""); ok {
		t.Fatalf("young objects planned: %v", titles(s.Remove))
	}
	if it, ok := objectsItem(s.Kept, "objects", gc.ReasonGrace); !ok || it.Count != 1 {
		t.Errorf("kept in grace: %+v (%v)", it, titles(s.Kept))
	}
	execute(t, s)
	if n := objectsOnDisk(t, store); n != 3 {
		t.Errorf("%d objects left, want 3", n)
	}
}

// While a build holds the object store's lock (between its first Put and
// its publication), gc removes no object: it waits a little, then leaves
// them for the next run.
func TestObjectsStayWhileABuildHoldsTheStore(t *testing.T) {
	defer gc.SetObjectsLockWait(100 * time.Millisecond)()
	f, store, _, _ := twoSharedBuilds(t)
	lock, err := fsx.Shared(context.Background(), filepath.Join(f.Dir, ".store", "objects.lock"), nil)
	if err != nil {
		t.Fatal(err)
	}
	in := input(store, time.Now().Add(2*time.Hour))
	res := execute(t, plan(t, in))
	if it, ok := objectsItem(res.Skipped, "objects", gc.ReasonInUse); !ok {
		t.Errorf("not skipped: %+v; removed %v skipped %v", it, titles(res.Removed), titles(res.Skipped))
	}
	if n := objectsOnDisk(t, store); n != 3 {
		t.Errorf("%d objects left while the lock was held, want 3", n)
	}
	lock.Close()
	execute(t, plan(t, in))
	if n := objectsOnDisk(t, store); n != 2 {
		t.Errorf("%d objects left once the lock was free, want 2", n)
	}
}

// The temps a crashed Put left go once older than the grace period.
func TestObjectTempsGo(t *testing.T) {
	_, store, _, _ := twoSharedBuilds(t)
	d := cas.DigestOf([]byte("crashed"))
	old := filepath.Join(store.Root().ObjectsDir(), "."+d.String()+".0123456789ab"+fsx.TempSuffix)
	young := filepath.Join(store.Root().ObjectsDir(), "."+d.String()+".x.ba9876543210"+fsx.TempSuffix)
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte("crash"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Now().Add(-3 * time.Hour)
	if err := os.Chtimes(old, then, then); err != nil {
		t.Fatal(err)
	}
	s := plan(t, input(store, time.Now()))
	if it, ok := objectsItem(s.Remove, "temps", gc.ReasonStale); !ok || it.Count != 1 || it.Bytes != 5 {
		t.Fatalf("temps: %+v (%v)", it, titles(s.Remove))
	}
	execute(t, s)
	if _, err := os.Lstat(old); !os.IsNotExist(err) {
		t.Errorf("old temp: %v", err)
	}
	if _, err := os.Lstat(young); err != nil {
		t.Errorf("young temp: %v", err)
	}
}

// A build in use stays, and so do its objects, however old.
func TestObjectsOfABuildInUseStay(t *testing.T) {
	f, store, _, k2 := twoSharedBuilds(t)
	hold, err := fsx.Shared(context.Background(), f.LockPath(k2.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	s := plan(t, input(store, time.Now().Add(2*time.Hour)))
	if _, ok := objectsItem(s.Remove, "objects", ""); ok {
		t.Errorf("objects of a build in use planned: %v", titles(s.Remove))
	}
	if it, ok := objectsItem(s.Kept, "objects", gc.ReasonReferenced); !ok || it.Count != 3 {
		t.Errorf("kept objects: %+v (%v)", it, titles(s.Kept))
	}
	execute(t, s)
	if n := objectsOnDisk(t, store); n != 3 {
		t.Errorf("%d objects left, want 3", n)
	}
}
