package files

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rezup/rezup/cas"
)

const testPrefix = "/opt/rezup/.store/0123456789abcdef0123456789abcdef"

// build is a tree scanned, packed and marshalled, with its packs by
// digest.
type build struct {
	ix     *Index
	data   []byte // the marshalled index
	digest cas.Digest
	packs  []PackFile
	files  map[cas.Digest]string // every pack the index names: its file
}

// packTree scans root, packs it into a new dir (reusing what base packed,
// when given) and marshals the index.
func packTree(t testing.TB, root string, base *build, opt PackOptions) *build {
	t.Helper()
	ix, err := Scan(root, testPrefix, ScanOptions{Override: opt.Override})
	if err != nil {
		t.Fatal(err)
	}
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	if base != nil {
		opt.Have = Known(base.ix)
	}
	packs, err := Pack(ix, root, opt)
	if err != nil {
		t.Fatal(err)
	}
	checkOnlyPacks(t, opt.Dir, packs)
	data, d, err := Marshal(ix)
	if err != nil {
		t.Fatal(err)
	}
	b := &build{ix: ix, data: data, digest: d, packs: packs, files: map[cas.Digest]string{}}
	if base != nil {
		for k, v := range base.files {
			b.files[k] = v
		}
	}
	for _, p := range packs {
		b.files[p.Digest] = p.Path
	}
	return b
}

// fetch plans the contents need selects and reads every range from the
// pack files, as a node would over ranged reads. It returns what fn saw,
// by digest, and the bytes read.
func (b *build) fetch(t testing.TB, need func(Content) bool, gap int64) (map[cas.Digest][]byte, int64) {
	t.Helper()
	got := map[cas.Digest][]byte{}
	var read int64
	for _, rg := range Plan(b.ix, need, gap) {
		err := readPackRange(b.files[rg.Pack.Digest], rg, func(c Content, r io.Reader) error {
			data, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if _, dup := got[c.Digest]; dup {
				t.Errorf("content %s handed out twice", c.Digest)
			}
			got[c.Digest] = data
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		read += rg.Length
	}
	return got, read
}

// readPackRange reads rg from the pack file p, as a ranged read would.
func readPackRange(p string, rg Range, fn func(Content, io.Reader) error) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return ReadRange(io.NewSectionReader(f, rg.Offset, rg.Length), rg, fn)
}

// all is a need that needs everything.
func all(Content) bool { return true }

// packBytes is the total size of packs.
func packBytes(packs []PackFile) int64 {
	var n int64
	for _, p := range packs {
		n += p.Size
	}
	return n
}

// checkContents checks that got holds exactly the files of ix under root,
// by content.
func checkContents(t testing.TB, ix *Index, root string, got map[cas.Digest][]byte) {
	t.Helper()
	want := map[cas.Digest]bool{}
	for _, e := range ix.Entries {
		if e.Type != File {
			continue
		}
		want[e.Content] = true
		disk, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(e.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if data, ok := got[e.Content]; !ok {
			t.Errorf("%s: content %s not read", e.Path, e.Content)
		} else if !bytes.Equal(data, disk) {
			t.Errorf("%s: read %d bytes, not the file's %d", e.Path, len(data), len(disk))
		}
	}
	for d := range got {
		if !want[d] {
			t.Errorf("content %s read, no file has it", d)
		}
	}
}

// checkOnlyPacks checks that dir holds the packs Pack wrote and nothing
// else: no temp pack, no spilled frame.
func checkOnlyPacks(t testing.TB, dir string, packs []PackFile) {
	t.Helper()
	want := map[string]bool{}
	for _, p := range packs {
		want[filepath.Base(p.Path)] = true
	}
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if !want[e.Name()] {
			t.Errorf("Pack left %s in %s", e.Name(), dir)
		}
	}
	if len(left) < len(want) {
		t.Errorf("%d files in %s, Pack wrote %d packs", len(left), dir, len(want))
	}
}
