package objects

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
)

func walkAll(t testing.TB, s *Store) []Object {
	t.Helper()
	var objs []Object
	if err := s.Walk(func(o Object) error { objs = append(objs, o); return nil }); err != nil {
		t.Fatal(err)
	}
	return objs
}

// Walk reports every object, in order, with what gc decides by, and
// passes over whatever else is in the store.
func TestWalk(t *testing.T) {
	s := newStore(t)
	if objs := walkAll(t, s); len(objs) != 0 {
		t.Fatalf("an empty store walks %v", objs)
	}
	missing := &Store{dir: filepath.Join(t.TempDir(), "none")}
	if objs := walkAll(t, missing); len(objs) != 0 {
		t.Fatalf("a missing store walks %v", objs)
	}
	start := time.Now().Add(-time.Second) // ctime is the filesystem's clock, coarser than time.Now
	type want struct {
		d    cas.Digest
		exec bool
		size int64
	}
	var wants []want
	for i := range 20 {
		data := content(uint64(300+i), 10*i)
		x := i%4 == 0
		wants = append(wants, want{put(t, s, data, x), x, int64(len(data))})
	}
	slices.SortFunc(wants, func(a, b want) int {
		return strings.Compare(name(a.d, a.exec), name(b.d, b.exec))
	})
	// Junk the walk passes over: not a shard, a name that is no digest, a
	// digest in the wrong shard, a symlink and a directory under an
	// object's name, a temp.
	junkDigest := cas.DigestOf([]byte("junk"))
	hex := junkDigest.String()
	wrongShard := "00"
	if hex[:2] == wrongShard {
		wrongShard = "01"
	}
	for _, p := range []string{"README", "zz/" + hex, "0/" + hex, hex[:2] + "/" + strings.ToUpper(hex), hex[:2] + "/" + hex + ".y",
		hex[:2] + "/" + hex[:63], wrongShard + "/" + hex, "." + hex + ".123.rezup-tmp"} {
		full := filepath.Join(s.Dir(), p)
		if err := os.MkdirAll(filepath.Dir(full), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("junk"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(s.path(wants[0].d, wants[0].exec), s.path(junkDigest, false)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.path(junkDigest, true), 0o777); err != nil {
		t.Fatal(err)
	}

	objs := walkAll(t, s)
	if len(objs) != len(wants) {
		t.Fatalf("Walk found %d objects, want %d", len(objs), len(wants))
	}
	for i, o := range objs {
		w := wants[i]
		if o.Digest != w.d || o.Exec != w.exec || o.Size != w.size || o.Path != s.path(w.d, w.exec) {
			t.Errorf("object %d = %+v, want %v exec=%v size %d", i, o, w.d, w.exec, w.size)
		}
		if o.Links != 1 || !o.Owned {
			t.Errorf("object %d: links %d, owned %v; want 1, true", i, o.Links, o.Owned)
		}
		if o.Changed.Before(start) || o.Changed.After(time.Now().Add(time.Second)) {
			t.Errorf("object %d: changed %v, not during the test", i, o.Changed)
		}
	}

	// fn's error stops the walk and is Walk's.
	stop := errors.New("stop")
	calls := 0
	if err := s.Walk(func(Object) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Walk with a failing fn = %v after %d calls", err, calls)
	}
}

// Remove removes what Walk saw, only that: an object linked or replaced
// since stays (ErrChanged), a build that links a removed object keeps its
// file, and removing what is gone is no error.
func TestRemove(t *testing.T) {
	s := newStore(t)
	data := content(20, 3000)
	d := put(t, s, data, false)
	objs := walkAll(t, s)
	if len(objs) != 1 {
		t.Fatalf("Walk = %v", objs)
	}
	before := objs[0]

	// Linked since the walk: kept.
	dst := filepath.Join(t.TempDir(), "build-file")
	if _, err := s.Link(d, false, dst, Hardlink); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(before); !errors.Is(err, ErrChanged) {
		t.Fatalf("Remove of an object linked since = %v, want ErrChanged", err)
	}
	after := walkAll(t, s)[0]
	if after.Links != 2 || after.Changed.Before(before.Changed) {
		t.Errorf("after a link: %d links, changed %v (was %v)", after.Links, after.Changed, before.Changed)
	}

	// Walked again: removed, and the build's file stays whole.
	if err := s.Remove(after); err != nil {
		t.Fatal(err)
	}
	if s.Has(d, false) {
		t.Fatal("Remove left the object")
	}
	if got := mustRead(t, dst); !bytes.Equal(got, data) {
		t.Error("removing the object changed the build's file")
	}
	if err := s.Remove(after); err != nil {
		t.Errorf("Remove of a removed object = %v", err)
	}
	if _, err := s.Link(d, false, dst+"2", Hardlink); !errors.Is(err, ErrMissing) {
		t.Errorf("Link after Remove = %v, want ErrMissing", err)
	}

	// Replaced since the walk (removed and put again: a new inode): kept.
	put(t, s, data, false)
	old := walkAll(t, s)[0]
	if err := os.Remove(old.Path); err != nil {
		t.Fatal(err)
	}
	put(t, s, data, false)
	if err := s.Remove(old); !errors.Is(err, ErrChanged) {
		t.Errorf("Remove of a replaced object = %v, want ErrChanged", err)
	}
	if !s.Has(d, false) {
		t.Error("the new object was removed")
	}

	// An Object that does not name its own path is refused.
	forged := walkAll(t, s)[0]
	forged.Path = dst
	if err := s.Remove(forged); err == nil {
		t.Error("Remove of a path outside the store succeeded")
	}
	if _, err := os.Lstat(dst); err != nil {
		t.Errorf("the forged path is gone: %v", err)
	}
}

func TestNames(t *testing.T) {
	d := cas.DigestOf([]byte("x"))
	hex := d.String()
	for _, tc := range []struct {
		n          string
		obj, exec  bool
		temp, shrd bool
	}{
		{n: hex, obj: true},
		{n: hex + ".x", obj: true, exec: true},
		{n: hex + ".y"},
		{n: hex + ".x.x"},
		{n: hex[:63]},
		{n: strings.ToUpper(hex)},
		{n: "." + hex + ".123.rezup-tmp", temp: true},
		{n: "." + hex + ".x.123.rezup-tmp", temp: true},
		{n: "." + hex + ".rezup-tmp"},
		{n: "." + hex + "..rezup-tmp"},
		{n: hex + ".123.rezup-tmp"},
		{n: "." + hex[:63] + ".123.rezup-tmp"},
		{n: ".g" + hex[1:] + ".123.rezup-tmp"},
		{n: "." + hex + ".123.rezup-tm"},
		{n: "." + hex + "x123.rezup-tmp"},
		{n: "ab", shrd: true},
		{n: "09", shrd: true},
		{n: "f0", shrd: true},
		{n: "a", shrd: false},
		{n: "abc"},
		{n: "aG"},
		{n: "Ab"},
		{n: "g0"},
		{n: "/0"},
		{n: ":0"},
		{n: "`0"},
	} {
		gd, gx, ok := parseName(tc.n)
		if ok != tc.obj || ok && (gd != d || gx != tc.exec) {
			t.Errorf("parseName(%q) = %v, %v, %v", tc.n, gd, gx, ok)
		}
		if isTemp(tc.n) != tc.temp {
			t.Errorf("isTemp(%q) = %v", tc.n, !tc.temp)
		}
		if isShard(tc.n) != tc.shrd {
			t.Errorf("isShard(%q) = %v", tc.n, !tc.shrd)
		}
	}
}

// Temps lists the store's temps, with what gc decides by; RemoveTemp
// removes one that was not written since, and only a temp of the store.
func TestTemps(t *testing.T) {
	s := newStore(t)
	if temps, err := s.Temps(); err != nil || len(temps) != 0 {
		t.Fatalf("Temps of an empty store = %v, %v", temps, err)
	}
	start := time.Now().Add(-time.Second)
	b := s.NewBatch()
	defer b.Close()
	data := content(30, 12_345)
	d := cas.DigestOf(data)
	if err := b.Put(d, true, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	// Not temps: another program's, a dotfile, a directory named as one.
	for _, n := range []string{".other.rezup-tmp", ".hidden", "x.rezup-tmp"} {
		if err := os.WriteFile(filepath.Join(s.Dir(), n), nil, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.Dir(), "."+d.String()+".9.rezup-tmp"), 0o777); err != nil {
		t.Fatal(err)
	}
	temps, err := s.Temps()
	if err != nil || len(temps) != 1 {
		t.Fatalf("Temps = %v, %v; want the batch's one", temps, err)
	}
	tmp := temps[0]
	if !strings.HasPrefix(filepath.Base(tmp.Path), "."+d.String()+".x.") || filepath.Dir(tmp.Path) != s.Dir() {
		t.Errorf("temp %s", tmp.Path)
	}
	if tmp.Size != int64(len(data)) || !tmp.Owned || tmp.Modified.Before(start) || tmp.Modified.After(time.Now().Add(time.Second)) {
		t.Errorf("temp = %+v", tmp)
	}

	forged := tmp
	forged.Path = filepath.Join(t.TempDir(), filepath.Base(tmp.Path))
	if err := os.WriteFile(forged.Path, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveTemp(forged); err == nil {
		t.Error("RemoveTemp of a file outside the store succeeded")
	}
	notTemp := tmp
	notTemp.Path = filepath.Join(s.Dir(), ".hidden")
	if err := s.RemoveTemp(notTemp); err == nil {
		t.Error("RemoveTemp of a file that is no temp succeeded")
	}

	// Written since it was listed: kept.
	if err := os.Chmod(tmp.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(tmp.Path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("more"))
	f.Close()
	if err := s.RemoveTemp(tmp); !errors.Is(err, ErrChanged) {
		t.Errorf("RemoveTemp of a temp written since = %v, want ErrChanged", err)
	}
	temps, err = s.Temps()
	if err != nil || len(temps) != 1 {
		t.Fatalf("Temps = %v, %v", temps, err)
	}
	if err := s.RemoveTemp(temps[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(tmp.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RemoveTemp left %s", tmp.Path)
	}
	if err := s.RemoveTemp(temps[0]); err != nil {
		t.Errorf("RemoveTemp of a removed temp = %v", err)
	}
}
