package files

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/internal/treetest"
)

// TestScanDescribesTheTree: OddModes (modes a tree may have where it was
// built) scans to the canonical modes, in walk order, with each file's
// size and digest, each symlink's target, and Relocate where a file holds
// the prefix.
func TestScanDescribesTheTree(t *testing.T) {
	root := t.TempDir()
	nodes := treetest.OddModes()
	nodes = append(nodes, treetest.Node{Name: "bin/activate", Kind: 'f', Perm: 0o644, Data: "VIRTUAL_ENV=" + testPrefix + "\n", MTime: treetest.At(20)})
	treetest.WriteTree(t, root, nodes)
	defer treetest.MakeRemovable(root)

	ix, err := Scan(root, testPrefix, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ix.Format != Format || ix.Prefix != testPrefix {
		t.Errorf("format %q, prefix %q", ix.Format, ix.Prefix)
	}
	want := map[string]Entry{}
	for _, n := range treetest.Canonical(nodes) {
		e := Entry{Path: n.Name}
		switch n.Kind {
		case 'd':
			e.Type, e.Mode = Dir, 0o755
		case 'f':
			e.Type, e.Mode, e.Size, e.Content = File, n.Perm, int64(len(n.Data)), cas.DigestOf([]byte(n.Data))
			e.Relocate = strings.Contains(n.Data, testPrefix)
		case 'l':
			e.Type, e.Target = Symlink, n.Data
		}
		want[n.Name] = e
	}
	if len(ix.Entries) != len(want) {
		t.Errorf("%d entries, want %d", len(ix.Entries), len(want))
	}
	for i, e := range ix.Entries {
		if e != want[e.Path] {
			t.Errorf("entry %+v\nwant  %+v", e, want[e.Path])
		}
		if i > 0 && walkCompare(ix.Entries[i-1].Path, e.Path) >= 0 {
			t.Errorf("%s after %s: not in walk order", e.Path, ix.Entries[i-1].Path)
		}
	}
	if !entry(t, ix, "bin/activate").Relocate || entry(t, ix, "pyvenv.cfg").Relocate {
		t.Error("Relocate is not where the prefix is")
	}
	// Each content once, in the order files first have it, located
	// nowhere yet.
	seen := map[cas.Digest]bool{}
	var order []cas.Digest
	for _, e := range ix.Entries {
		if e.Type == File && !seen[e.Content] {
			seen[e.Content] = true
			order = append(order, e.Content)
		}
	}
	if len(ix.Contents) != len(order) {
		t.Fatalf("%d contents, want %d", len(ix.Contents), len(order))
	}
	for i, c := range ix.Contents {
		if c.Digest != order[i] || c != (Content{Digest: c.Digest, Size: want[pathOf(ix, c.Digest)].Size}) {
			t.Errorf("content %d: %+v, want %s with its size and no location", i, c, order[i])
		}
	}
	if len(ix.Packs) != 0 {
		t.Errorf("packs %v before Pack", ix.Packs)
	}
}

func pathOf(ix *Index, d cas.Digest) string {
	for _, e := range ix.Entries {
		if e.Content == d && e.Type == File {
			return e.Path
		}
	}
	return ""
}

// TestScanFindsThePrefix puts the prefix at every offset around the
// boundaries of Scan's reads, and pieces of it that are not it.
func TestScanFindsThePrefix(t *testing.T) {
	p := testPrefix
	boundary := len(p) + readBufSize // the first read's size
	var cases []struct {
		name string
		data []byte
		want bool
	}
	add := func(name string, data []byte, want bool) {
		cases = append(cases, struct {
			name string
			data []byte
			want bool
		}{name, data, want})
	}
	filler := func(n int) []byte { return bytes.Repeat([]byte("x"), n) }
	for _, at := range []int{0, 1, boundary - len(p) - 1, boundary - len(p), boundary - len(p) + 1, boundary - 1, boundary, boundary + 1, 2*boundary - len(p) + 3} {
		data := append(append(filler(at), p...), filler(7)...)
		add("at "+strconv.Itoa(at), data, true)
		add("at end "+strconv.Itoa(at), append(filler(at), p...), true)
	}
	add("empty", nil, false)
	add("prefix but its last byte", []byte(p[:len(p)-1]), false)
	add("prefix but its first byte", append(filler(boundary-3), p[1:]...), false)
	add("halves apart", append(append(append(filler(boundary-10), p[:10]...), 'y'), p[10:]...), false)
	add("shorter prefix at a boundary", append(filler(boundary-5), p[:len(p)-1]...), false)

	root := t.TempDir()
	for i, c := range cases {
		name := "f" + strconv.Itoa(i)
		if err := os.WriteFile(filepath.Join(root, name), c.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ix, err := Scan(root, p, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		e := entry(t, ix, "f"+strconv.Itoa(i))
		if e.Relocate != c.want {
			t.Errorf("%s: Relocate %v, want %v", c.name, e.Relocate, c.want)
		}
		if e.Content != cas.DigestOf(c.data) || e.Size != int64(len(c.data)) {
			t.Errorf("%s: %d bytes, digest %s: not the file's", c.name, e.Size, e.Content)
		}
	}
}

// TestScanOverride: an overridden file is recorded with the override's
// bytes, and Pack packs them; Pack without the override finds the file
// changed.
func TestScanOverride(t *testing.T) {
	root := smallTree(t)
	over := map[string][]byte{"lib/c.py": []byte("c = 'over'\n" + testPrefix), "nothere": []byte("x")}
	ix, err := Scan(root, testPrefix, ScanOptions{Override: over})
	if err != nil {
		t.Fatal(err)
	}
	e := entry(t, ix, "lib/c.py")
	if e.Content != cas.DigestOf(over["lib/c.py"]) || e.Size != int64(len(over["lib/c.py"])) || !e.Relocate {
		t.Errorf("lib/c.py: %+v, want the override's content", e)
	}
	if _, err := Pack(clone(ix), root, PackOptions{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "lib/c.py: changed since it was scanned") {
		t.Errorf("Pack without the override: %v, want lib/c.py changed", err)
	}
	b := &build{ix: ix, files: map[cas.Digest]string{}}
	packs, err := Pack(ix, root, PackOptions{Dir: t.TempDir(), Override: over})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range packs {
		b.files[p.Digest] = p.Path
	}
	got, _ := b.fetch(t, all, 0)
	if !bytes.Equal(got[e.Content], over["lib/c.py"]) {
		t.Errorf("read %q, want the override", got[e.Content])
	}
}

func TestScanRefuses(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		setup  func(t *testing.T, root string) string // returns root, or the path to scan
		want   string
		unsafe bool
	}{
		{"backslash", testPrefix, func(t *testing.T, root string) string {
			os.WriteFile(filepath.Join(root, `a\b`), nil, 0o644)
			return root
		}, "backslash", true},
		{"not a directory", testPrefix, func(t *testing.T, root string) string {
			p := filepath.Join(root, "f")
			os.WriteFile(p, nil, 0o644)
			return p
		}, "not a directory", false},
		{"missing", testPrefix, func(t *testing.T, root string) string { return filepath.Join(root, "nothere") }, "no such file", false},
		{"relative prefix", "opt/x", func(t *testing.T, root string) string { return root }, "prefix", false},
		{"root prefix", "/", func(t *testing.T, root string) string { return root }, "prefix", false},
		{"unclean prefix", "/opt/x/", func(t *testing.T, root string) string { return root }, "prefix", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tt.setup(t, t.TempDir())
			_, err := Scan(root, tt.prefix, ScanOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if errors.Is(err, archive.ErrUnsafe) != tt.unsafe {
				t.Errorf("err = %v, ErrUnsafe: %v, want %v", err, errors.Is(err, archive.ErrUnsafe), tt.unsafe)
			}
		})
	}
}

// TestScanReadsExactly: a file whose size is not what the walk saw is an
// error, whichever way it changed.
func TestScanReadsExactly(t *testing.T) {
	s := newScanner([]byte(testPrefix))
	if err := s.read(strings.NewReader("abc"), 3); err != nil || s.digest() != cas.DigestOf([]byte("abc")) {
		t.Errorf("read: %v, digest %s", err, s.digest())
	}
	if err := s.read(strings.NewReader("abcd"), 3); err == nil || !strings.Contains(err.Error(), "grew") {
		t.Errorf("a file that grew: %v", err)
	}
	if err := s.read(strings.NewReader("ab"), 3); err == nil || !strings.Contains(err.Error(), "read 2 of 3") {
		t.Errorf("a file that shrank: %v", err)
	}
	if err := s.read(iotestErrReader{}, 3); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("a read error: %v", err)
	}
	// A scanner is reused: what it found in one file is not another's.
	s.read(strings.NewReader(testPrefix), int64(len(testPrefix)))
	if s.read(strings.NewReader("abc"), 3); s.found || s.digest() != cas.DigestOf([]byte("abc")) {
		t.Error("a reused scanner remembers the previous file")
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestScanHardLinks: hard-linked files are separate entries with one
// content.
func TestScanHardLinks(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "a"), []byte("same"), 0o644)
	if err := os.Link(filepath.Join(root, "a"), filepath.Join(root, "b")); err != nil {
		t.Skip(err)
	}
	ix, err := Scan(root, testPrefix, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Entries) != 2 || ix.Entries[0].Content != ix.Entries[1].Content || len(ix.Contents) != 1 {
		t.Errorf("entries %+v, contents %+v", ix.Entries, ix.Contents)
	}
}
