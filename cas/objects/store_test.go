package objects

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

func TestOpenCreatesTheDirUnderTheUmask(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "root", ".store", "objects")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != fsx.Perm(0o777) {
		t.Errorf("store dir: %v, want a directory %v", fi.Mode(), fsx.Perm(0o777))
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("Open wrote %v", got)
	}
	// Open of a file is an error, not a store.
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(f); err == nil {
		t.Error("Open of a regular file succeeded")
	}
}

// Put, Has and Link round trip, for both modes of a content: two objects,
// each read-only with its own mode, and the build's links are the objects.
func TestPutHasLink(t *testing.T) {
	s := newStore(t)
	data := content(1, 100_000)
	d := cas.DigestOf(data)
	for _, exec := range []bool{false, true} {
		if s.Has(d, exec) {
			t.Fatalf("Has(exec=%v) before Put", exec)
		}
	}
	put(t, s, data, false)
	if !s.Has(d, false) || s.Has(d, true) {
		t.Fatalf("after Put(exec=false): Has = %v, Has(exec) = %v", s.Has(d, false), s.Has(d, true))
	}
	put(t, s, data, true)
	if !s.Has(d, true) {
		t.Fatal("Has(exec) false after Put(exec=true)")
	}

	hex := d.String()
	want := []string{hex[:2] + "/", hex[:2] + "/" + hex, hex[:2] + "/" + hex + ".x"}
	if got := entries(t, s.Dir()); !slices.Equal(got, want) {
		t.Errorf("store holds %v, want %v", got, want)
	}

	tree := t.TempDir()
	for _, tc := range []struct {
		exec bool
		perm fs.FileMode
	}{{false, fsx.Perm(0o444)}, {true, fsx.Perm(0o555)}} {
		obj := s.path(d, tc.exec)
		ofi, err := os.Lstat(obj)
		if err != nil {
			t.Fatal(err)
		}
		if ofi.Mode() != tc.perm {
			t.Errorf("object exec=%v has mode %v, want %v", tc.exec, ofi.Mode(), tc.perm)
		}
		dst := filepath.Join(tree, "f"+strconv.FormatBool(tc.exec))
		how, err := s.Link(d, tc.exec, dst, Hardlink)
		if err != nil || how != Hardlinked {
			t.Fatalf("Link(exec=%v) = %v, %v; want Hardlinked", tc.exec, how, err)
		}
		dfi, err := os.Lstat(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(ofi, dfi) || dfi.Mode() != tc.perm {
			t.Errorf("link exec=%v: same file %v, mode %v; want the object, %v", tc.exec, os.SameFile(ofi, dfi), dfi.Mode(), tc.perm)
		}
		if got := mustRead(t, dst); !bytes.Equal(got, data) {
			t.Errorf("link exec=%v: content differs", tc.exec)
		}
		f, err := s.Open(d, tc.exec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Open(exec=%v): %d bytes, %v", tc.exec, len(got), err)
		}
	}
	// A read-only object cannot be opened for writing by its owner.
	if os.Geteuid() != 0 {
		if f, err := os.OpenFile(s.path(d, false), os.O_WRONLY, 0); err == nil {
			f.Close()
			t.Error("an object opens for writing")
		}
	}
}

// Put of an object already there reads nothing and changes nothing: the
// caller may skip the fetch, and the object keeps its inode.
func TestPutExistingReadsNothing(t *testing.T) {
	s := newStore(t)
	d, _, before := objectThere(t, s)
	r := &countingReader{r: bytes.NewReader([]byte("not this"))}
	if err := s.Put(d, false, r); err != nil {
		t.Fatal(err)
	}
	if r.n != 0 {
		t.Errorf("Put of an existing object read %d bytes", r.n)
	}
	after, err := os.Lstat(s.path(d, false))
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("object replaced: %v", err)
	}
}

// PutMissing does not ask the store: an object put meanwhile by another
// process is written and verified again (wrong bytes are refused all the
// same), and Commit keeps the one there, leaving no temp.
func TestPutMissingOfAnObjectThere(t *testing.T) {
	s := newStore(t)
	d, data, before := objectThere(t, s)
	b := s.NewBatch()
	defer b.Close()
	if err := b.PutMissing(d, false, bytes.NewReader([]byte("not this"))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("PutMissing of wrong bytes for an object there: %v, want ErrCorrupt", err)
	}
	r := &countingReader{r: bytes.NewReader(data)}
	if err := b.PutMissing(d, false, r); err != nil {
		t.Fatal(err)
	}
	if r.n != len(data) {
		t.Errorf("PutMissing read %d bytes of %d", r.n, len(data))
	}
	commitKeeps(t, s, b, d, before)
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// What does not hash to the digest is refused, whatever is wrong with it,
// and leaves nothing: no object, no temp, no shard.
func TestPutRefusesWrongContent(t *testing.T) {
	data := content(3, 300_000)
	d := cas.DigestOf(data)
	flipped := slices.Clone(data)
	flipped[123_456] ^= 1
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"other bytes", bytes.NewReader(flipped)},
		{"short", bytes.NewReader(data[:len(data)-1])},
		{"long", io.MultiReader(bytes.NewReader(data), strings.NewReader("x"))},
		{"empty", strings.NewReader("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			for _, exec := range []bool{false, true} {
				err := s.Put(d, exec, tc.r)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Put(exec=%v) = %v, want ErrCorrupt", exec, err)
				}
				if s.Has(d, exec) {
					t.Error("Has after a refused Put")
				}
			}
			if got := entries(t, s.Dir()); len(got) != 0 {
				t.Errorf("a refused Put left %v", got)
			}
		})
	}
}

// A reader that fails is that failure (the caller may retry a fetch), not
// corruption, and leaves nothing either.
func TestPutReaderError(t *testing.T) {
	s := newStore(t)
	data := content(4, 50_000)
	d := cas.DigestOf(data)
	boom := errors.New("connection reset")
	err := s.Put(d, false, &errReader{r: bytes.NewReader(data[:1000]), err: boom})
	if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Put = %v, want the reader's error", err)
	}
	if got := entries(t, s.Dir()); len(got) != 0 {
		t.Errorf("a failed Put left %v", got)
	}
}

// Has counts only a regular file under the object's name.
func TestHasOnlyRegularFiles(t *testing.T) {
	s := newStore(t)
	data := content(5, 10)
	d := cas.DigestOf(data)
	p := s.path(d, false)
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, data, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	if s.Has(d, false) {
		t.Error("Has follows a symlink")
	}
	if _, err := s.Open(d, false); err == nil {
		t.Error("Open follows a symlink")
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o777); err != nil {
		t.Fatal(err)
	}
	if s.Has(d, false) {
		t.Error("Has counts a directory")
	}
}

func TestOpenMissing(t *testing.T) {
	s := newStore(t)
	_, err := s.Open(cas.DigestOf([]byte("nothing")), false)
	if !errors.Is(err, ErrMissing) {
		t.Errorf("Open of a missing object = %v, want ErrMissing", err)
	}
}

// A batch's objects are temps until Commit, then all visible; Close
// removes what was not committed, and the batch can be used again.
func TestBatch(t *testing.T) {
	s := newStore(t)
	b := s.NewBatch()
	var ds []cas.Digest
	for i := range syncfsOver + 4 { // more than syncfsOver: the syncfs path on Linux
		data := content(uint64(100+i), 1000+i)
		d := cas.DigestOf(data)
		ds = append(ds, d)
		if err := b.Put(d, i%2 == 1, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		// Twice in one batch: the second is not read.
		r := &countingReader{r: bytes.NewReader(data)}
		if err := b.Put(d, i%2 == 1, r); err != nil || r.n != 0 {
			t.Fatalf("second Put in a batch: read %d, %v", r.n, err)
		}
	}
	for i, d := range ds {
		if s.Has(d, i%2 == 1) {
			t.Fatal("an object is visible before Commit")
		}
	}
	if got := tempNames(t, s.Dir()); len(got) != len(ds) {
		t.Fatalf("%d temps before Commit, want %d", len(got), len(ds))
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		if !s.Has(d, i%2 == 1) {
			t.Fatalf("object %d missing after Commit", i)
		}
		if got := mustRead(t, s.path(d, i%2 == 1)); !bytes.Equal(got, content(uint64(100+i), 1000+i)) {
			t.Fatalf("object %d: wrong content", i)
		}
	}
	if got := tempNames(t, s.Dir()); len(got) != 0 {
		t.Fatalf("temps after Commit: %v", got)
	}
	if err := b.Commit(); err != nil {
		t.Fatalf("empty Commit: %v", err)
	}

	// Used again, then closed without Commit: nothing stays.
	data := content(200, 5000)
	d := cas.DigestOf(data)
	if err := b.Put(d, false, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if s.Has(d, false) || len(tempNames(t, s.Dir())) != 0 {
		t.Error("Close left the uncommitted object")
	}
	if err := b.Commit(); err != nil || s.Has(d, false) {
		t.Errorf("Commit after Close: %v, has %v", err, s.Has(d, false))
	}
}

// A batch committed after another process put the same object keeps that
// object (same content, never replaced) and drops its temp.
func TestCommitFindsTheObjectThere(t *testing.T) {
	s := newStore(t)
	data := content(6, 4000)
	d := cas.DigestOf(data)
	b := s.NewBatch()
	defer b.Close()
	if err := b.Put(d, false, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	put(t, s, data, false) // another writer, meanwhile
	before, err := os.Lstat(s.path(d, false))
	if err != nil {
		t.Fatal(err)
	}
	commitKeeps(t, s, b, d, before)
}

// objectThere puts an object into s: its digest, its bytes, and its
// file as it is now.
func objectThere(t *testing.T, s *Store) (cas.Digest, []byte, os.FileInfo) {
	t.Helper()
	data := content(2, 1000)
	d := put(t, s, data, false)
	fi, err := os.Lstat(s.path(d, false))
	if err != nil {
		t.Fatal(err)
	}
	return d, data, fi
}

// commitKeeps commits b, which put object d when the store had it
// already (before): the object there stays, and no temp is left.
func commitKeeps(t *testing.T, s *Store, b *Batch, d cas.Digest, before os.FileInfo) {
	t.Helper()
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	after, err := os.Lstat(s.path(d, false))
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("Commit replaced the object there: %v", err)
	}
	if got := tempNames(t, s.Dir()); len(got) != 0 {
		t.Errorf("temps left: %v", got)
	}
}

// A temp swept while its batch waited makes Commit fail, never an object
// with other bytes.
func TestCommitOfASweptTemp(t *testing.T) {
	s := newStore(t)
	data := content(7, 4000)
	d := cas.DigestOf(data)
	b := s.NewBatch()
	defer b.Close()
	if err := b.Put(d, false, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	temps, err := s.Temps()
	if err != nil || len(temps) != 1 {
		t.Fatalf("Temps = %v, %v", temps, err)
	}
	if err := s.RemoveTemp(temps[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Commit of a swept temp = %v, want ErrNotExist", err)
	}
	if s.Has(d, false) {
		t.Error("an object appeared without its temp")
	}
}

// A Commit of hundreds of objects, put or adopted as written, into a new
// store names each in its shard, and makes the shards they need and no
// other. One whose temp was swept meanwhile fails the Commit, and is
// never named; Close removes what the Commit left.
func TestCommitMany(t *testing.T) {
	s := newStore(t)
	build := filepath.Join(filepath.Dir(s.Dir()), "build")
	if err := os.Mkdir(build, 0o777); err != nil {
		t.Fatal(err)
	}
	b := s.NewBatch()
	defer b.Close()
	type object struct {
		d    cas.Digest
		exec bool
	}
	var objs []object
	want := map[string]bool{}
	for i := range 600 {
		data := content(uint64(1000+i), 100+i)
		o := object{cas.DigestOf(data), i%3 == 0}
		if i%2 == 0 {
			if err := b.Put(o.d, o.exec, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
		} else {
			p := filepath.Join(build, fmt.Sprint(i))
			perm := objectPerm(o.exec)
			if err := os.WriteFile(p, data, perm); err != nil {
				t.Fatal(err)
			}
			if ok, err := b.AdoptWritten(o.d, o.exec, p, perm); err != nil || !ok {
				t.Fatalf("AdoptWritten = %v, %v", ok, err)
			}
		}
		objs = append(objs, o)
		want[o.d.String()[:2]] = true
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if !s.Has(o.d, o.exec) {
			t.Fatalf("object %s missing after Commit", o.d)
		}
	}
	shards, err := readNames(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, n := range shards {
		got[n] = true
	}
	if !maps.Equal(got, want) {
		t.Errorf("%d shards made, %d needed", len(got), len(want))
	}

	// One temp swept among many.
	var ds []cas.Digest
	for i := range 40 {
		data := content(uint64(5000+i), 200)
		d := cas.DigestOf(data)
		if err := b.Put(d, false, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	temps, err := s.Temps()
	if err != nil || len(temps) != len(ds) {
		t.Fatalf("Temps = %d, %v; want %d", len(temps), err, len(ds))
	}
	if err := s.RemoveTemp(temps[7]); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Commit with a swept temp = %v, want ErrNotExist", err)
	}
	swept := 0
	for _, d := range ds {
		if strings.HasPrefix(filepath.Base(temps[7].Path), "."+d.String()+".") {
			swept++
			if s.Has(d, false) {
				t.Errorf("the object whose temp was swept was named")
			}
		}
	}
	if swept != 1 {
		t.Fatalf("%d objects have the swept temp's name", swept)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := tempNames(t, s.Dir()); len(got) != 0 {
		t.Errorf("temps left after Close: %v", got)
	}
}

// gate is a reader that holds every Put of a test at its first read until
// all have reached it: all have looked for the object and found it
// missing, all write a temp, and all race to link it.
type gate struct {
	wg   *sync.WaitGroup
	once sync.Once
	r    io.Reader
}

func (g *gate) Read(p []byte) (int, error) {
	g.once.Do(func() { g.wg.Done(); g.wg.Wait() })
	return g.r.Read(p)
}

// Many goroutines putting one object at once end with one object, right,
// and no temp; each Put succeeds.
func TestConcurrentPut(t *testing.T) {
	s := newStore(t)
	data := content(8, 1<<20)
	d := cas.DigestOf(data)
	const n = 16
	var wg, started sync.WaitGroup
	started.Add(n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Put(d, i%2 == 0, &gate{wg: &started, r: bytes.NewReader(data)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Put %d: %v", i, err)
		}
	}
	checkOneObject(t, s, d, data)
}

// checkOneObject checks that the store holds exactly d and d.x, with data,
// read-only, one link each, and nothing else.
func checkOneObject(t *testing.T, s *Store, d cas.Digest, data []byte) {
	t.Helper()
	hex := d.String()
	want := []string{hex[:2] + "/", hex[:2] + "/" + hex, hex[:2] + "/" + hex + ".x"}
	if got := entries(t, s.Dir()); !slices.Equal(got, want) {
		t.Fatalf("store holds %v, want %v", got, want)
	}
	for _, exec := range []bool{false, true} {
		p := s.path(d, exec)
		if got := mustRead(t, p); !bytes.Equal(got, data) {
			t.Errorf("%s: wrong content", p)
		}
		var objs []Object
		if err := s.Walk(func(o Object) error { objs = append(objs, o); return nil }); err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.Links != 1 {
				t.Errorf("%s has %d links, want 1", o.Path, o.Links)
			}
		}
	}
}

// Which says what Has says of each object, whether it reads a shard
// whole (many objects asked in it) or asks Has (a few): objects in one
// mode and not the other, a symlink and a directory under an object's
// name, a shard that has no directory.
func TestWhichIsHas(t *testing.T) {
	s := newStore(t)
	// Many contents, grouped by their shard (first byte), to find a shard
	// of many and one of two.
	data := map[cas.Digest][]byte{}
	byShard := map[byte][]cas.Digest{}
	for i := range 3000 {
		b := content(uint64(1000+i), 8)
		d := cas.DigestOf(b)
		data[d] = b
		byShard[d[0]] = append(byShard[d[0]], d)
	}
	var busy, quiet, none []cas.Digest
	for _, ds := range byShard {
		switch {
		case len(ds) >= 2*readShardFrom && busy == nil:
			busy = ds
		case len(ds) >= readShardFrom && none == nil:
			none = ds // its shard gets no directory
		case len(ds) >= 2 && quiet == nil:
			quiet = ds[:2]
		}
	}
	if busy == nil || quiet == nil || none == nil {
		t.Fatal("no shard of many, one of two and one of a few")
	}
	var refs []Ref
	for i, d := range append(append([]cas.Digest{}, busy...), quiet...) {
		refs = append(refs, Ref{d, false}, Ref{d, true})
		switch i % 4 {
		case 0: // not there
		case 1: // there, in one mode
			put(t, s, data[d], i%8 == 1)
		case 2: // a symlink where the object would be
			p := s.path(d, false)
			if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("elsewhere", p); err != nil {
				t.Fatal(err)
			}
		case 3: // a directory where it would be
			if err := os.MkdirAll(s.path(d, true), 0o777); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range none {
		refs = append(refs, Ref{d, false})
	}
	got := s.Which(refs)
	if len(got) != len(refs) {
		t.Fatalf("Which gave %d answers for %d objects", len(got), len(refs))
	}
	some := 0
	for i, r := range refs {
		if want := s.Has(r.Digest, r.Exec); got[i] != want {
			t.Errorf("Which says %v of %s (exec %v), Has %v", got[i], r.Digest, r.Exec, want)
		}
		if got[i] {
			some++
		}
	}
	if some == 0 {
		t.Error("Which found no object: the test stores some")
	}
}

// A batch's objects can be linked and read before Commit: the file
// linked is the temp's inode, which Commit names, so the build's file is
// a link of the object once committed; an object of the store (not in
// the batch) is linked and read from the store; one in neither is
// ErrMissing.
func TestBatchLinkBeforeCommit(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	pending, stored := content(8, 3000), content(9, 100)
	dp, ds := cas.DigestOf(pending), put(t, s, stored, false)
	b := s.NewBatch()
	defer b.Close()
	if err := b.Put(dp, true, bytes.NewReader(pending)); err != nil {
		t.Fatal(err)
	}
	if s.Has(dp, true) {
		t.Fatal("the object has its name before Commit")
	}
	for _, c := range []struct {
		d    cas.Digest
		data []byte
		exec bool
	}{{dp, pending, true}, {ds, stored, false}} {
		dst := filepath.Join(dir, c.d.String())
		if how, err := b.Link(c.d, c.exec, dst, Hardlink); err != nil || how != Hardlinked {
			t.Fatalf("Link: %v, %v", how, err)
		}
		f, err := b.Open(c.d, c.exec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, c.data) {
			t.Errorf("Open of %s: %d bytes, %v", c.d, len(got), err)
		}
	}
	if _, err := b.Link(cas.DigestOf([]byte("nowhere")), false, filepath.Join(dir, "x"), Hardlink); !errors.Is(err, ErrMissing) {
		t.Errorf("Link of an object in neither: %v, want ErrMissing", err)
	}
	if _, err := b.Open(cas.DigestOf([]byte("nowhere")), false); !errors.Is(err, ErrMissing) {
		t.Errorf("Open of an object in neither: %v, want ErrMissing", err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d    cas.Digest
		exec bool
	}{{dp, true}, {ds, false}} {
		fi, err := os.Stat(filepath.Join(dir, c.d.String()))
		if err != nil {
			t.Fatal(err)
		}
		oi, err := os.Stat(s.path(c.d, c.exec))
		if err != nil || !os.SameFile(fi, oi) {
			t.Errorf("%s is not a link of its object once committed (%v)", c.d, err)
		}
		if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s is writable: %v", c.d, fi.Mode())
		}
	}
	if got := tempNames(t, s.Dir()); len(got) != 0 {
		t.Errorf("temps left: %v", got)
	}
}

// MakeShards makes the 256 shard directories a new store lacks, and only
// those: a shard there already, and what it holds, stay as they are.
func TestMakeShards(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(s.Dir(), "ab"), 0o755); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(s.Dir(), "ab", "kept")
	if err := os.WriteFile(kept, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.MakeShards(); err != nil {
			t.Fatal(err)
		}
	}
	names, err := readNames(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if len(names) != 256 || names[0] != "00" || names[255] != "ff" {
		t.Fatalf("the store holds %d names (%v…), want the 256 shards 00 to ff", len(names), names[:min(3, len(names))])
	}
	for _, n := range names {
		if fi, err := os.Lstat(filepath.Join(s.Dir(), n)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v, %v: want a directory", n, fi, err)
		}
	}
	if _, err := os.Lstat(kept); err != nil {
		t.Errorf("a shard there already lost its file: %v", err)
	}
	// Nothing to make them in: the error says so.
	if err := os.RemoveAll(s.Dir()); err != nil {
		t.Fatal(err)
	}
	if err := s.MakeShards(); err == nil {
		t.Error("MakeShards of a store whose directory is gone: no error")
	}
}
