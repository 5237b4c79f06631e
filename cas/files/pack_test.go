package files

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/internal/treetest"
)

// TestRoundTrip: Scan, Pack, Marshal, Parse, then Plan everything and
// read it back: every content comes out once, identical to the files
// that have it, and the parsed index is the packed one.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		write func(t *testing.T, root string)
		opt   PackOptions
		packs int // 0: do not check
	}{
		{"sample", func(t *testing.T, root string) { treetest.WriteTree(t, root, treetest.SampleTree()) }, PackOptions{}, 1},
		{"odd modes", func(t *testing.T, root string) { treetest.WriteTree(t, root, treetest.OddModes()) }, PackOptions{}, 1},
		{"empty tree", func(t *testing.T, root string) {}, PackOptions{}, 0},
		{"directories only", func(t *testing.T, root string) { os.MkdirAll(filepath.Join(root, "a/b/c"), 0o755) }, PackOptions{}, 0},
		{"one empty file", func(t *testing.T, root string) { os.WriteFile(filepath.Join(root, "e"), nil, 0o644) }, PackOptions{}, 1},
		{"small", func(t *testing.T, root string) { copyTree(t, smallTree(t), root) }, smallOpt, 1},
		{"a frame per content", func(t *testing.T, root string) { copyTree(t, smallTree(t), root) }, PackOptions{FrameSize: 1}, 1},
		{"a pack per frame", func(t *testing.T, root string) { copyTree(t, smallTree(t), root) }, PackOptions{FrameSize: 64, PackSize: 1}, 3},
		{"venv, small frames and packs", func(t *testing.T, root string) { writeVenv(t, root, venvPkgs(8)) }, PackOptions{FrameSize: 64 << 10, PackSize: 1 << 20}, 0},
		{"venv, large frames", func(t *testing.T, root string) { writeVenv(t, root, venvPkgs(8)) }, PackOptions{FrameSize: MaxFrameSize, Level: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tt.write(t, root)
			defer treetest.MakeRemovable(root)
			b := packTree(t, root, nil, tt.opt)
			if tt.packs != 0 && len(b.packs) != tt.packs {
				t.Errorf("%d packs, want %d", len(b.packs), tt.packs)
			}
			if len(b.ix.Packs) != len(b.packs) {
				t.Errorf("the index names %d packs, Pack wrote %d", len(b.ix.Packs), len(b.packs))
			}
			for i, p := range b.packs {
				if b.ix.Packs[i] != p.PackRef {
					t.Errorf("pack %d: index names %+v, Pack wrote %+v", i, b.ix.Packs[i], p.PackRef)
				}
				checkPackFile(t, p)
			}
			parsed, err := Parse(b.data, b.digest, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !equalIndex(parsed, b.ix) {
				t.Fatalf("parsed index differs from the packed one")
			}
			b.ix = parsed
			got, read := b.fetch(t, all, 1<<20)
			checkContents(t, parsed, root, got)
			if read != packBytes(b.packs) {
				t.Errorf("read %d bytes of %d in packs: everything, once", read, packBytes(b.packs))
			}
		})
	}
}

// checkPackFile checks a pack file is its name: digest, size, path.
func checkPackFile(t testing.TB, p PackFile) {
	t.Helper()
	data, err := os.ReadFile(p.Path)
	if err != nil {
		t.Fatal(err)
	}
	if cas.DigestOf(data) != p.Digest || int64(len(data)) != p.Size || filepath.Base(p.Path) != p.Digest.String()+Ext {
		t.Errorf("pack %s: %d bytes at %s, digest %s", p.Digest, len(data), p.Path, cas.DigestOf(data))
	}
}

// copyTree copies the files, directories and symlinks of src into dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, data, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFrames: contents are grouped in index order into frames of at most
// FrameSize bytes, each closed only when the next content does not fit;
// a larger content is a frame of its own; a pack is closed as soon as it
// reaches PackSize.
func TestFrames(t *testing.T) {
	root := t.TempDir()
	writeVenv(t, root, venvPkgs(8))
	const frameSize, packSize = 48 << 10, 1 << 20
	b := packTree(t, root, nil, PackOptions{FrameSize: frameSize, PackSize: packSize})
	type frame struct {
		key      frameKey
		length   int64
		contents []Content
	}
	var frames []*frame
	byKey := map[frameKey]*frame{}
	for _, c := range b.ix.Contents {
		k := frameKey{c.Pack, c.Offset}
		f, ok := byKey[k]
		if !ok {
			f = &frame{key: k, length: c.Length}
			byKey[k] = f
			frames = append(frames, f)
		}
		f.contents = append(f.contents, c)
	}
	var stream int
	for i, f := range frames {
		var size int64
		for j, c := range f.contents {
			if c.Skip != size {
				t.Errorf("frame %d: content %d at %d, want %d: contents follow one another", i, j, c.Skip, size)
			}
			size += c.Size
		}
		if len(f.contents) > 1 && size > frameSize {
			t.Errorf("frame %d: %d bytes of %d contents, over %d", i, size, len(f.contents), frameSize)
		}
		if size > frameSize {
			stream++
		}
		if i+1 < len(frames) && size <= frameSize {
			if next := frames[i+1].contents[0]; next.Size <= frameSize && size+next.Size <= frameSize {
				t.Errorf("frame %d closed at %d bytes with the next content (%d) fitting", i, size, next.Size)
			}
		}
		if i > 0 {
			prev := frames[i-1]
			switch {
			case prev.key.pack == f.key.pack && prev.key.offset+prev.length != f.key.offset:
				t.Errorf("frame %d at %d, the frame before ends at %d", i, f.key.offset, prev.key.offset+prev.length)
			case prev.key.pack != f.key.pack && (f.key.offset != 0 || b.ix.Packs[prev.key.pack].Size < packSize):
				t.Errorf("pack %d closed at %d bytes, under %d", prev.key.pack, b.ix.Packs[prev.key.pack].Size, packSize)
			case prev.key.pack == f.key.pack && f.key.offset >= packSize:
				t.Errorf("pack %d goes on past %d bytes", f.key.pack, packSize)
			}
		}
	}
	if stream == 0 || stream == len(frames) || len(b.packs) < 2 {
		t.Errorf("%d frames of one large content, %d in all, %d packs: the tree does not test what it should", stream, len(frames), len(b.packs))
	}
	for _, p := range b.packs {
		checkPackFile(t, p)
	}
}

// TestPackReusesBase: tree B is tree A with one package upgraded and one
// added. Packed over A's index, B's new packs hold exactly the contents A
// does not have, a small fraction of the bytes, and B reads back whole
// from A's packs and its own.
func TestPackReusesBase(t *testing.T) {
	pkgsA := venvPkgs(4)
	pkgsB := slices.Clone(pkgsA)
	pkgsB[9].version++
	pkgsB = append(pkgsB, pkg{name: "extension", version: 1, modules: 6, libs: 1, libSize: 200 << 10})
	rootA, rootB := t.TempDir(), t.TempDir()
	writeVenv(t, rootA, pkgsA)
	writeVenv(t, rootB, pkgsB)

	a := packTree(t, rootA, nil, PackOptions{})
	b := packTree(t, rootB, a, PackOptions{})
	inA := map[cas.Digest]bool{}
	for _, c := range a.ix.Contents {
		inA[c.Digest] = true
	}
	var fresh []cas.Digest
	var freshBytes int64
	for _, c := range b.ix.Contents {
		if !inA[c.Digest] {
			fresh = append(fresh, c.Digest)
			freshBytes += c.Size
		}
	}
	if len(fresh) == 0 || len(fresh) == len(b.ix.Contents) {
		t.Fatalf("%d of %d contents are new: the trees do not test what they should", len(fresh), len(b.ix.Contents))
	}
	// What B's new packs hold is exactly what A lacks.
	newPacks := map[cas.Digest]bool{}
	for _, p := range b.packs {
		newPacks[p.Digest] = true
	}
	var inNew []cas.Digest
	for _, c := range b.ix.Contents {
		p := b.ix.Packs[c.Pack].Digest
		if newPacks[p] {
			inNew = append(inNew, c.Digest)
		} else if ac := contentOf(a.ix, c.Digest); ac == nil || *ac != withPack(c, a.ix, b.ix) {
			t.Errorf("content %s: reused at %+v, A has it at %+v", c.Digest, c, ac)
		}
	}
	if !slices.Equal(inNew, fresh) {
		t.Errorf("new packs hold %d contents, want the %d A lacks", len(inNew), len(fresh))
	}
	newBytes, allBytes := packBytes(b.packs), packBytes(a.packs)
	t.Logf("B's new packs: %d bytes (%.1f%% of A's %d) for %d of %d contents (%d bytes)", newBytes, 100*float64(newBytes)/float64(allBytes), allBytes, len(fresh), len(b.ix.Contents), freshBytes)
	if newBytes*10 > allBytes {
		t.Errorf("B's new packs are %d bytes, more than a tenth of A's %d", newBytes, allBytes)
	}
	// Every pack B names is A's or new.
	for _, p := range b.ix.Packs {
		if _, ok := b.files[p.Digest]; !ok {
			t.Errorf("B names pack %s, neither A's nor new", p.Digest)
		}
	}
	parsed, err := Parse(b.data, b.digest, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b.ix = parsed
	got, _ := b.fetch(t, all, 1<<20)
	checkContents(t, parsed, rootB, got)

	// A node that has A fetches only B's new contents, from B's packs.
	lacks := func(c Content) bool { return !inA[c.Digest] }
	for _, rg := range Plan(parsed, lacks, 1<<20) {
		if !newPacks[rg.Pack.Digest] {
			t.Errorf("a node with A reads pack %s, one of A's", rg.Pack.Digest)
		}
	}
	got, read := b.fetch(t, lacks, 1<<20)
	if len(got) != len(fresh) || read > newBytes {
		t.Errorf("a node with A read %d contents, %d bytes; want %d, at most %d", len(got), read, len(fresh), newBytes)
	}
}

func contentOf(ix *Index, d cas.Digest) *Content {
	for i := range ix.Contents {
		if ix.Contents[i].Digest == d {
			return &ix.Contents[i]
		}
	}
	return nil
}

// withPack is c with its pack numbered as in index a, where it comes
// from b.
func withPack(c Content, a, b *Index) Content {
	for i, p := range a.Packs {
		if p == b.Packs[c.Pack] {
			c.Pack = i
		}
	}
	return c
}

// TestPackIsReproducible: the same tree packs to the same bytes, however
// its modes, times and the packing run differ; the same tree and base
// give the same delta.
func TestPackIsReproducible(t *testing.T) {
	r1, r2 := t.TempDir(), t.TempDir()
	writeVenv(t, r1, venvPkgs(8))
	writeVenv(t, r2, venvPkgs(8))
	// Another umask's modes, other times.
	filepath.WalkDir(r2, func(p string, d os.DirEntry, err error) error {
		if d.Type().IsRegular() {
			info, _ := d.Info()
			os.Chmod(p, info.Mode().Perm()|0o020)
		}
		return nil
	})
	opt := PackOptions{FrameSize: 100 << 10, PackSize: 2 << 20}
	b1, b2 := packTree(t, r1, nil, opt), packTree(t, r2, nil, opt)
	if b1.digest != b2.digest || !bytes.Equal(b1.data, b2.data) {
		t.Errorf("index digests %s and %s", b1.digest, b2.digest)
	}
	if len(b1.packs) < 2 || len(b1.packs) != len(b2.packs) {
		t.Fatalf("%d and %d packs", len(b1.packs), len(b2.packs))
	}
	for i := range b1.packs {
		if b1.packs[i].PackRef != b2.packs[i].PackRef {
			t.Errorf("pack %d: %+v and %+v", i, b1.packs[i].PackRef, b2.packs[i].PackRef)
		}
	}
	// The same base and tree: the same delta.
	r3 := t.TempDir()
	pkgs := venvPkgs(8)
	pkgs[3].version++
	writeVenv(t, r3, pkgs)
	d1, d2 := packTree(t, r3, b1, opt), packTree(t, r3, b2, opt)
	if d1.digest != d2.digest || len(d1.packs) != len(d2.packs) || d1.packs[0].PackRef != d2.packs[0].PackRef {
		t.Errorf("deltas differ: %s %v, %s %v", d1.digest, d1.packs, d2.digest, d2.packs)
	}
}

// TestPackLevel: the level is the zstd command line's, 3 by default.
func TestPackLevel(t *testing.T) {
	root := t.TempDir()
	pkgs := venvPkgs(16)
	for i := range pkgs {
		pkgs[i].libs = 0
	}
	writeVenv(t, root, pkgs)
	size := func(level int) int64 { return packBytes(packTree(t, root, nil, PackOptions{Level: level}).packs) }
	def, three, one, best := size(0), size(3), size(1), size(19)
	if def != three || !(best < def && def < one) {
		t.Errorf("packs of %d bytes by default, %d at level 3, %d at 1, %d at 19", def, three, one, best)
	}
}

// TestPackFails: a tree that changed since Scan, or options Pack cannot
// follow, fail Pack with the index untouched and no pack left behind.
func TestPackFails(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, root string)
		opt    PackOptions
		want   string
	}{
		{"a small file changed", func(t *testing.T, root string) { write(t, root, "lib/c.py", strings.Repeat("C = 3\n", 5)) }, smallOpt, "lib/c.py: changed"},
		{"a small file grew", func(t *testing.T, root string) { write(t, root, "lib/d.py", "d = 44\n") }, smallOpt, "lib/d.py: changed"},
		{"a small file shrank", func(t *testing.T, root string) { write(t, root, "lib/d.py", "d=4\n") }, smallOpt, "lib/d.py: changed"},
		{"a large file changed", func(t *testing.T, root string) {
			data, _ := os.ReadFile(filepath.Join(root, "bin/rez"))
			data[len(data)-2] ^= 1
			write(t, root, "bin/rez", string(data))
		}, smallOpt, "bin/rez: changed"},
		{"a large file grew", func(t *testing.T, root string) {
			data, _ := os.ReadFile(filepath.Join(root, "bin/rez"))
			write(t, root, "bin/rez", string(data)+"x")
		}, smallOpt, "bin/rez: changed"},
		{"a large file shrank", func(t *testing.T, root string) {
			data, _ := os.ReadFile(filepath.Join(root, "bin/rez"))
			write(t, root, "bin/rez", string(data[:len(data)-1]))
		}, smallOpt, "bin/rez: changed"},
		{"a file gone", func(t *testing.T, root string) { os.Remove(filepath.Join(root, "lib/a.py")) }, smallOpt, "no such file"},
		{"a large file gone", func(t *testing.T, root string) { os.Remove(filepath.Join(root, "bin/rez")) }, smallOpt, "no such file"},
		{"the last frame fails", func(t *testing.T, root string) { write(t, root, "lib/d.py", "D = 4\n") }, PackOptions{FrameSize: 64, PackSize: 1}, "lib/d.py: changed"},
		{"frames too large", func(t *testing.T, root string) {}, PackOptions{FrameSize: MaxFrameSize + 1}, "frame size"},
		{"negative frames", func(t *testing.T, root string) {}, PackOptions{FrameSize: -1}, "frame size"},
		{"negative packs", func(t *testing.T, root string) {}, PackOptions{PackSize: -1}, "pack size"},
		{"no directory", func(t *testing.T, root string) {}, PackOptions{Dir: "-"}, "no directory"},
		{"a missing directory", func(t *testing.T, root string) {}, PackOptions{Dir: "/nonexistent/rezup"}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := smallTree(t)
			ix, err := Scan(root, testPrefix, ScanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			before := clone(ix)
			tt.change(t, root)
			dir := t.TempDir()
			opt := tt.opt
			switch opt.Dir {
			case "":
				opt.Dir = dir
			case "-":
				opt.Dir = ""
			}
			packs, err := Pack(ix, root, opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Pack: %v, want it to say %q", err, tt.want)
			}
			if packs != nil {
				t.Errorf("Pack returned %v with its error", packs)
			}
			if !equalIndex(ix, before) {
				t.Errorf("Pack changed the index it failed to pack")
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("Pack left %v behind", left)
			}
		})
	}
}

func write(t testing.TB, root, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(name)), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPackHave: a content Have knows is not packed again, and keeps the
// location Have gives, in the pack it names; a Have that answers with
// another content, or another size, is not believed.
func TestPackHave(t *testing.T) {
	root := smallTree(t)
	base := packTree(t, root, nil, smallOpt)
	a := *content(t, base.ix, "lib/a.py")
	elsewhere := PackRef{Digest: cas.DigestOf([]byte("a pack")), Size: 1 << 20}
	stored := Content{Digest: a.Digest, Size: a.Size, Pack: 7, Offset: 1000, Length: 50, Skip: 0}
	tests := []struct {
		name  string
		have  func(cas.Digest) (Content, PackRef, bool)
		reuse bool
	}{
		{"known", func(d cas.Digest) (Content, PackRef, bool) { return stored, elsewhere, d == a.Digest }, true},
		{"unknown", func(d cas.Digest) (Content, PackRef, bool) { return Content{}, PackRef{}, false }, false},
		{"another content", func(d cas.Digest) (Content, PackRef, bool) {
			c := stored
			c.Digest = emptyDigest
			return c, elsewhere, d == a.Digest
		}, false},
		{"another size", func(d cas.Digest) (Content, PackRef, bool) {
			c := stored
			c.Size++
			return c, elsewhere, d == a.Digest
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := Scan(root, testPrefix, ScanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			opt := smallOpt
			opt.Dir, opt.Have = t.TempDir(), tt.have
			packs, err := Pack(ix, root, opt)
			if err != nil {
				t.Fatal(err)
			}
			got := *content(t, ix, "lib/a.py")
			if tt.reuse {
				want := stored
				want.Pack = slices.Index(ix.Packs, elsewhere)
				if got != want || len(ix.Packs) != 2 || len(packs) != 1 {
					t.Errorf("a.py at %+v in %v, want %+v; new packs %v", got, ix.Packs, want, packs)
				}
			} else if ix.Packs[got.Pack] != packs[0].PackRef || len(ix.Packs) != 1 {
				t.Errorf("a.py at %+v in %v, want it in the new pack", got, ix.Packs)
			}
			if _, _, err := Marshal(ix); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestKnown: Known finds a content in the first index that has it, with
// the pack it is in.
func TestKnown(t *testing.T) {
	p1, p2 := PackRef{Digest: cas.DigestOf([]byte("1")), Size: 100}, PackRef{Digest: cas.DigestOf([]byte("2")), Size: 200}
	x, y, z := cas.DigestOf([]byte("x")), cas.DigestOf([]byte("y")), cas.DigestOf([]byte("z"))
	ix1 := &Index{Packs: []PackRef{p1, p2}, Contents: []Content{
		{Digest: x, Size: 1, Pack: 1, Offset: 10, Length: 20},
		{Digest: z, Size: 1, Pack: 2, Offset: 10, Length: 20}, // no such pack: not believed
	}}
	ix2 := &Index{Packs: []PackRef{p2, p1}, Contents: []Content{
		{Digest: x, Size: 1, Pack: 1, Offset: 30, Length: 40},
		{Digest: y, Size: 1, Pack: 0, Offset: 50, Length: 60, Skip: 5},
		{Digest: z, Size: 1, Pack: -1, Offset: 10, Length: 20},
	}}
	have := Known(ix1, ix2)
	for _, tt := range []struct {
		d    cas.Digest
		c    Content
		p    PackRef
		want bool
	}{
		{x, ix1.Contents[0], p2, true},
		{y, ix2.Contents[1], p2, true},
		{z, Content{}, PackRef{}, false},
		{emptyDigest, Content{}, PackRef{}, false},
	} {
		c, p, ok := have(tt.d)
		if c != tt.c || p != tt.p || ok != tt.want {
			t.Errorf("Known(%s) = %+v %+v %v, want %+v %+v %v", tt.d, c, p, ok, tt.c, tt.p, tt.want)
		}
	}
}

// TestPackStreamsLargeContents: a content far larger than a frame and
// than the zstd window is a frame of its own, streamed: Pack allocates
// far less than the file's size, leaves no spilled frame behind, and the
// content reads back whole, verified, through a bounded decoder, which
// allocates far less than its size too.
func TestPackStreamsLargeContents(t *testing.T) {
	const size = 48 << 20 // six times MaxFrameSize and the window
	root := t.TempDir()
	write(t, root, "a.py", "a = 1\n")
	// Written in pieces: the test never holds it whole either.
	f, err := os.Create(filepath.Join(root, "big.so"))
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(22, 1))
	piece := make([]byte, 1<<20)
	for range size / len(piece) {
		for i := range piece {
			piece[i] = byte(i / 64) // tables
			if i%5 == 0 {
				piece[i] = byte(rng.Uint32()) // noise
			}
		}
		bw.Write(piece)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	write(t, root, "z.py", "z = 26\n")

	ix, err := Scan(root, testPrefix, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	packs, err := Pack(ix, root, PackOptions{Dir: dir})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Pack of %d MiB allocated %d MiB", size>>20, alloc>>20)
	if alloc > size*2/3 {
		t.Errorf("Pack of a %d MiB file allocated %d MiB: it holds the file in memory", size>>20, alloc>>20)
	}
	checkOnlyPacks(t, dir, packs)

	big := *content(t, ix, "big.so")
	for _, c := range ix.Contents {
		if c != big && c.Pack == big.Pack && c.Offset == big.Offset {
			t.Errorf("content %s shares the frame of big.so", c.Digest)
		}
	}
	if big.Skip != 0 || big.Length >= big.Size {
		t.Errorf("big.so at %+v: want a frame of its own, compressed", big)
	}
	data, d, err := Marshal(ix)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := Parse(data, d, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b := &build{ix: parsed, packs: packs, files: map[cas.Digest]string{}}
	for _, p := range packs {
		b.files[p.Digest] = p.Path
	}
	runtime.GC()
	runtime.ReadMemStats(&before)
	var read int
	for _, rg := range Plan(parsed, all, 1<<20) {
		err := readPackRange(b.files[rg.Pack.Digest], rg, func(c Content, r io.Reader) error {
			n, err := io.Copy(io.Discard, r)
			if err == nil && n != c.Size {
				t.Errorf("content %s: %d bytes, want %d", c.Digest, n, c.Size)
			}
			read++
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	alloc = after.TotalAlloc - before.TotalAlloc
	t.Logf("reading it back allocated %d MiB", alloc>>20)
	if alloc > size*2/3 {
		t.Errorf("reading a %d MiB content allocated %d MiB", size>>20, alloc>>20)
	}
	if read != len(parsed.Contents) {
		t.Errorf("%d contents read, want %d", read, len(parsed.Contents))
	}
}
