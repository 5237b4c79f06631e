package files

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
)

// smallTree is a tree with one of each thing an index holds: directories,
// an executable that holds the prefix, an empty file, two files with one
// content, a symlink to a directory and one out of the tree. Packed with
// smallOpt, its contents take three frames of one pack: bin/rez alone
// (larger than a frame), then "" and lib/a.py, then lib/c.py and
// lib/d.py.
func smallTree(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"bin", "lib"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []struct {
		name string
		perm fs.FileMode
		data string
	}{
		{"bin/rez", 0o755, "#!" + testPrefix + "/bin/python\nimport rez\nrez.main()\n" + strings.Repeat("# padding\n", 4)},
		{"empty", 0o644, ""},
		{"lib/a.py", 0o644, strings.Repeat("a = 1\n", 7)},
		{"lib/b.py", 0o644, strings.Repeat("a = 1\n", 7)},
		{"lib/c.py", 0o644, strings.Repeat("c = 3\n", 5)},
		{"lib/d.py", 0o644, "d = 4\n"},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(root, f.name), []byte(f.data), f.perm); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range [][2]string{{"bin/python", "/usr/bin/python3"}, {"lib64", "lib"}} {
		if err := os.Symlink(l[1], filepath.Join(root, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

var smallOpt = PackOptions{FrameSize: 64}

// smallIndex is smallTree scanned and packed.
func smallIndex(t testing.TB) *build {
	t.Helper()
	return packTree(t, smallTree(t), nil, smallOpt)
}

// encode writes ix as Marshal does, without Marshal's checks: the way a
// hostile publisher would.
func encode(t testing.TB, ix *Index) []byte {
	t.Helper()
	js, err := json.Marshal(ix)
	if err != nil {
		t.Fatal(err)
	}
	return indexEncoder().EncodeAll(js, nil)
}

// clone deep-copies an index, for a test to break.
func clone(ix *Index) *Index {
	c := *ix
	c.Entries = slices.Clone(ix.Entries)
	c.Contents = slices.Clone(ix.Contents)
	c.Packs = slices.Clone(ix.Packs)
	return &c
}

// entry returns a pointer to ix's entry at path p.
func entry(t testing.TB, ix *Index, p string) *Entry {
	t.Helper()
	for i := range ix.Entries {
		if ix.Entries[i].Path == p {
			return &ix.Entries[i]
		}
	}
	t.Fatalf("no entry %s", p)
	return nil
}

// content returns a pointer to ix's content of entry p.
func content(t testing.TB, ix *Index, p string) *Content {
	t.Helper()
	d := entry(t, ix, p).Content
	for i := range ix.Contents {
		if ix.Contents[i].Digest == d {
			return &ix.Contents[i]
		}
	}
	t.Fatalf("no content for %s", p)
	return nil
}

func TestSmallIndexLayout(t *testing.T) {
	b := smallIndex(t)
	ix := b.ix
	var paths []string
	for _, e := range ix.Entries {
		paths = append(paths, e.Path)
	}
	want := []string{"bin", "bin/python", "bin/rez", "empty", "lib", "lib/a.py", "lib/b.py", "lib/c.py", "lib/d.py", "lib64"}
	if !slices.Equal(paths, want) {
		t.Fatalf("entries %q, want %q", paths, want)
	}
	if len(ix.Packs) != 1 || len(b.packs) != 1 || ix.Packs[0] != b.packs[0].PackRef {
		t.Fatalf("packs %+v, new %+v, want one", ix.Packs, b.packs)
	}
	if len(ix.Contents) != 5 {
		t.Fatalf("%d contents, want 5 (a.py and b.py share one)", len(ix.Contents))
	}
	rez, empty, a, c, d := content(t, ix, "bin/rez"), content(t, ix, "empty"), content(t, ix, "lib/a.py"), content(t, ix, "lib/c.py"), content(t, ix, "lib/d.py")
	if rez.Offset != 0 || rez.Skip != 0 {
		t.Errorf("bin/rez at %d+%d, want the first frame", rez.Offset, rez.Skip)
	}
	if empty.Offset != rez.Length || a.Offset != empty.Offset || empty.Skip != 0 || a.Skip != 0 {
		t.Errorf("empty at %d+%d, a.py at %d+%d: want both at the start of the second frame (%d)", empty.Offset, empty.Skip, a.Offset, a.Skip, rez.Length)
	}
	if c.Offset != a.Offset+a.Length || d.Offset != c.Offset || c.Skip != 0 || d.Skip != c.Size {
		t.Errorf("c.py at %d+%d, d.py at %d+%d: want the third frame", c.Offset, c.Skip, d.Offset, d.Skip)
	}
	if end := c.Offset + c.Length; end != ix.Packs[0].Size {
		t.Errorf("the frames end at %d, the pack at %d", end, ix.Packs[0].Size)
	}
	if parsed, err := Parse(b.data, b.digest, Limits{}); err != nil {
		t.Fatal(err)
	} else if !equalIndex(parsed, ix) {
		t.Errorf("parsed %+v\nwant %+v", parsed, ix)
	}
}

func equalIndex(a, b *Index) bool {
	return a.Format == b.Format && a.Prefix == b.Prefix && slices.Equal(a.Entries, b.Entries) &&
		slices.Equal(a.Contents, b.Contents) && slices.Equal(a.Packs, b.Packs)
}

// hostile is an index that breaks one rule Parse enforces: mangle breaks
// smallIndex's, within lim; the error says want.
type hostile struct {
	name   string
	lim    Limits
	mangle func(t testing.TB, ix *Index)
	want   string
}

// hostileIndexes are the rows of TestParseRefuses, and seeds of FuzzParse.
func hostileIndexes(b *build) []hostile {
	long := strings.Repeat("x", maxNameLen+1)
	var files, contents int64
	for _, e := range b.ix.Entries {
		files += e.Size
	}
	for _, c := range b.ix.Contents {
		contents += c.Size
	}
	return []hostile{
		{"format", Limits{}, func(t testing.TB, ix *Index) { ix.Format = "rezup-index/2" }, "format"},
		{"no prefix", Limits{}, func(t testing.TB, ix *Index) { ix.Prefix = "" }, "prefix"},
		{"relative prefix", Limits{}, func(t testing.TB, ix *Index) { ix.Prefix = "opt/rezup" }, "prefix"},
		{"unclean prefix", Limits{}, func(t testing.TB, ix *Index) { ix.Prefix = "/opt/../rezup" }, "prefix"},
		{"prefix with a slash at the end", Limits{}, func(t testing.TB, ix *Index) { ix.Prefix = "/opt/rezup/" }, "prefix"},
		{"root prefix", Limits{}, func(t testing.TB, ix *Index) { ix.Prefix = "/" }, "root"},
		{"prefix with NUL", Limits{}, func(t testing.TB, ix *Index) { ix.Prefix = "/opt/\x00" }, "prefix"},
		{"long prefix", Limits{}, func(t testing.TB, ix *Index) { ix.Prefix = "/" + long }, "prefix"},
		{"empty path", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Path = "" }, "empty path"},
		{"absolute path", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Path = "/bin" }, "absolute"},
		{"dotdot", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Path = ".." }, `".."`},
		{"dotdot inside", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/a.py").Path = "lib/../../a.py" }, `".."`},
		{"dot", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Path = "." }, "segment"},
		{"dot inside", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/a.py").Path = "lib/./a.py" }, "segment"},
		{"empty segment", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/a.py").Path = "lib//a.py" }, "segment"},
		{"trailing slash", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib").Path = "lib/" }, "segment"},
		{"backslash", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/a.py").Path = `lib\a.py` }, "backslash"},
		{"NUL in a path", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/a.py").Path = "lib/a\x00.py" }, "NUL"},
		{"long path", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/d.py").Path = "lib/" + long }, "longer"},
		{"duplicate", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/b.py").Path = "lib/a.py" }, "duplicated"},
		{"out of order", Limits{}, func(t testing.TB, ix *Index) {
			a, c := entry(t, ix, "lib/a.py"), entry(t, ix, "lib/c.py")
			*a, *c = *c, *a
		}, "walk order"},
		{"sorted, not walked", Limits{}, func(t testing.TB, ix *Index) {
			// "lib.x" sorts before "lib/a.py" as bytes, after lib's
			// subtree in a walk.
			ix.Entries = slices.Insert(ix.Entries, 5, Entry{Path: "lib.x", Type: Symlink, Target: "lib"})
		}, "walk order"},
		{"no parent", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/d.py").Path = "lib/x/d.py" }, "parent"},
		{"parent is a symlink", Limits{}, func(t testing.TB, ix *Index) {
			ix.Entries = append(ix.Entries, Entry{Path: "lib64/evil", Type: Symlink, Target: "/etc"})
		}, "parent"},
		{"parent is a file", Limits{}, func(t testing.TB, ix *Index) {
			ix.Entries = slices.Insert(ix.Entries, 4, Entry{Path: "empty/evil", Type: Symlink, Target: "/etc"})
		}, "parent"},
		{"unknown type", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib64").Type = "hardlink" }, "type"},
		{"no type", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib64").Type = "" }, "type"},
		{"private directory", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Mode = 0o700 }, "mode"},
		{"setgid directory", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Mode = 0o755 | fs.ModeSetgid }, "mode"},
		{"directory mode bits", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Mode = 0o755 | fs.ModeDir }, "mode"},
		{"private file", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/a.py").Mode = 0o600 }, "mode"},
		{"setuid file", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin/rez").Mode = 0o755 | fs.ModeSetuid }, "mode"},
		{"sticky file", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/a.py").Mode = 0o644 | fs.ModeSticky }, "mode"},
		{"symlink mode", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib64").Mode = 0o777 }, "mode"},
		{"directory size", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Size = 1 }, "directory has no"},
		{"directory content", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Content = emptyDigest }, "directory has no"},
		{"directory target", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Target = "/etc" }, "directory has no"},
		{"directory relocated", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "bin").Relocate = true }, "directory has no"},
		{"file target", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/a.py").Target = "/etc/passwd" }, "file has no target"},
		{"negative size", Limits{}, func(t testing.TB, ix *Index) {
			entry(t, ix, "lib/d.py").Size = -1
			content(t, ix, "lib/d.py").Size = -1
		}, "negative"},
		{"symlink size", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib64").Size = 1 }, "symlink has no"},
		{"symlink content", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib64").Content = emptyDigest }, "symlink has no"},
		{"symlink relocated", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib64").Relocate = true }, "symlink has no"},
		{"empty target", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib64").Target = "" }, "target"},
		{"NUL in a target", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib64").Target = "li\x00b" }, "target"},
		{"long target", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib64").Target = long }, "target"},
		{"content not listed", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/b.py").Content = cas.DigestOf([]byte("other")) }, "not listed"},
		{"size not the content's", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/b.py").Size++ }, "its content"},
		{"content listed twice", Limits{}, func(t testing.TB, ix *Index) {
			ix.Contents = append(ix.Contents, *content(t, ix, "lib/a.py"))
		}, "listed twice"},
		{"content no file has", Limits{}, func(t testing.TB, ix *Index) {
			c := *content(t, ix, "lib/a.py")
			c.Digest = cas.DigestOf([]byte("other"))
			ix.Contents = append(ix.Contents, c)
		}, "no file has it"},
		{"empty content, not empty digest", Limits{}, func(t testing.TB, ix *Index) {
			entry(t, ix, "lib/d.py").Size = 0
			content(t, ix, "lib/d.py").Size = 0
		}, "size 0"},
		{"negative pack", Limits{}, func(t testing.TB, ix *Index) { content(t, ix, "lib/a.py").Pack = -1 }, "pack -1"},
		{"pack past the list", Limits{}, func(t testing.TB, ix *Index) { content(t, ix, "lib/a.py").Pack = 1 }, "pack 1 of 1"},
		{"negative offset", Limits{}, func(t testing.TB, ix *Index) { content(t, ix, "bin/rez").Offset = -1 }, "not inside"},
		{"short frame", Limits{}, func(t testing.TB, ix *Index) {
			c := content(t, ix, "lib/d.py")
			c.Length = minFrameLen - 1
			content(t, ix, "lib/c.py").Length = c.Length
		}, "not inside"},
		{"frame past the pack", Limits{}, func(t testing.TB, ix *Index) {
			content(t, ix, "lib/d.py").Length++
			content(t, ix, "lib/c.py").Length++
		}, "not inside"},
		{"frame longer than the pack", Limits{}, func(t testing.TB, ix *Index) {
			c := content(t, ix, "bin/rez")
			c.Length = ix.Packs[0].Size + 1
		}, "not inside"},
		{"frame far past the pack", Limits{}, func(t testing.TB, ix *Index) { content(t, ix, "lib/d.py").Offset = 1 << 62 }, "not inside"},
		{"negative skip", Limits{}, func(t testing.TB, ix *Index) { content(t, ix, "lib/c.py").Skip = -1 }, "in its frame"},
		{"skip past a frame's size", Limits{}, func(t testing.TB, ix *Index) { content(t, ix, "lib/d.py").Skip = MaxFrameSize - 5 }, "in its frame"},
		{"huge skip", Limits{}, func(t testing.TB, ix *Index) { content(t, ix, "lib/d.py").Skip = 1 << 62 }, "in its frame"},
		{"frames overlap", Limits{}, func(t testing.TB, ix *Index) {
			c, d := content(t, ix, "lib/c.py"), content(t, ix, "lib/d.py")
			c.Offset--
			d.Offset--
		}, "overlap"},
		{"frame lengths disagree", Limits{}, func(t testing.TB, ix *Index) { content(t, ix, "lib/d.py").Length-- }, "long for content"},
		{"contents overlap", Limits{}, func(t testing.TB, ix *Index) { content(t, ix, "lib/d.py").Skip-- }, "overlap"},
		{"pack listed twice", Limits{}, func(t testing.TB, ix *Index) {
			ix.Packs = append(ix.Packs, ix.Packs[0])
		}, "listed twice"},
		{"empty pack", Limits{}, func(t testing.TB, ix *Index) { ix.Packs[0].Size = 0 }, "size 0"},
		{"pack no content is in", Limits{}, func(t testing.TB, ix *Index) {
			ix.Packs = append(ix.Packs, PackRef{Digest: cas.DigestOf([]byte("other")), Size: 100})
		}, "no content"},
		{"too many entries", Limits{MaxFiles: 9}, func(t testing.TB, ix *Index) {}, "over the limit"},
		{"too many file bytes", Limits{MaxBytes: files - 1}, func(t testing.TB, ix *Index) {}, "file data"},
		{"frames decompress to too much", Limits{MaxBytes: files}, func(t testing.TB, ix *Index) {
			// The files are within the limit, their contents (a.py and
			// b.py share one) even more: a gap in a frame takes the
			// frames over it.
			content(t, ix, "lib/d.py").Skip += files - contents + 1
		}, "frames decompress"},
	}
}

// TestParseRefuses breaks one rule per row, in an index that is
// otherwise smallIndex's; each must be refused as corrupt, and Marshal
// must refuse to write it.
func TestParseRefuses(t *testing.T) {
	b := smallIndex(t)
	for _, tt := range hostileIndexes(b) {
		t.Run(tt.name, func(t *testing.T) {
			ix := clone(b.ix)
			tt.mangle(t, ix)
			data := encode(t, ix)
			_, err := Parse(data, cas.DigestOf(data), tt.lim)
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, archive.ErrCorrupt) {
				t.Fatalf("Parse: %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: %v, want it to say %q", err, tt.want)
			}
			if tt.lim == (Limits{}) {
				if _, _, err := Marshal(ix); !errors.Is(err, ErrCorrupt) {
					t.Errorf("Marshal: %v, want ErrCorrupt", err)
				}
			}
		})
	}
}

// TestParseBytes: what is not an index Marshal wrote is refused before
// any rule is checked: another digest, bytes that do not decompress or
// decode, an index over the size limit.
func TestParseBytes(t *testing.T) {
	b := smallIndex(t)
	js, err := json.Marshal(b.ix)
	if err != nil {
		t.Fatal(err)
	}
	z := func(s []byte) []byte { return indexEncoder().EncodeAll(s, nil) }
	flipped := bytes.Clone(b.data)
	flipped[len(flipped)/2] ^= 1
	tests := []struct {
		name string
		data []byte
		lim  Limits
		want string
	}{
		{"not zstd", js, Limits{}, "decompress"},
		{"a flipped byte", flipped, Limits{}, "index"},
		{"truncated", b.data[:len(b.data)-3], Limits{}, "decompress"},
		{"not JSON", z([]byte("rezup")), Limits{}, "decode"},
		{"not an object", z([]byte(`["rezup-index/1"]`)), Limits{}, "decode"},
		{"an unknown field", z(bytes.Replace(js, []byte(`"format"`), []byte(`"signed":true,"format"`), 1)), Limits{}, "unknown field"},
		{"a second index", z(append(bytes.Clone(js), js...)), Limits{}, "after the index"},
		{"trailing garbage", z(append(bytes.Clone(js), " x"...)), Limits{}, "after the index"},
		{"a mode as a string", z(bytes.Replace(js, []byte(`"mode":493`), []byte(`"mode":"0755"`), 1)), Limits{}, "decode"},
		{"a digest in capitals", z(bytes.Replace(js, []byte(b.ix.Contents[0].Digest.String()), []byte(strings.ToUpper(b.ix.Contents[0].Digest.String())), 1)), Limits{}, "decode"},
		{"over the size limit", b.data, Limits{MaxIndexSize: int64(len(b.data)) - 1}, "over the limit"},
		{"decompresses over the size limit", b.data, Limits{MaxIndexSize: int64(len(js)) - 1}, "decompresses to more"},
		{"a large window", append([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, (30 - 10) << 3}, 0x01, 0x00, 0x00), Limits{}, "decompress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data, cas.DigestOf(tt.data), tt.lim)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: %v, want ErrCorrupt saying %q", err, tt.want)
			}
		})
	}
	if _, err := Parse(b.data, cas.DigestOf(flipped), Limits{}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "digest is "+b.digest.String()) {
		t.Errorf("Parse with another digest: %v", err)
	}
	// The limits are inclusive.
	if _, err := Parse(b.data, b.digest, Limits{MaxIndexSize: int64(len(js))}); err != nil {
		t.Errorf("Parse at the size limit: %v", err)
	}
}

// TestParseAccepts: indexes at the edges of the rules are indexes.
func TestParseAccepts(t *testing.T) {
	b := smallIndex(t)
	var files int64
	for _, e := range b.ix.Entries {
		files += e.Size
	}
	edge := strings.Repeat("x", maxNameLen-4)
	tests := []struct {
		name   string
		lim    Limits
		mangle func(t testing.TB, ix *Index)
	}{
		{"as packed", Limits{}, func(t testing.TB, ix *Index) {}},
		{"entries at the limit", Limits{MaxFiles: int64(len(b.ix.Entries))}, func(t testing.TB, ix *Index) {}},
		{"file bytes at the limit", Limits{MaxBytes: files}, func(t testing.TB, ix *Index) {}},
		{"frame bytes at the limit", Limits{MaxBytes: files}, func(t testing.TB, ix *Index) {
			var contents int64
			for _, c := range ix.Contents {
				contents += c.Size
			}
			content(t, ix, "lib/d.py").Skip += files - contents
		}},
		{"a short prefix", Limits{}, func(t testing.TB, ix *Index) { ix.Prefix = "/a" }},
		{"the longest path", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/d.py").Path = "lib/" + edge }},
		{"the longest target", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib64").Target = edge + "xxxx" }},
		{"targets anywhere", Limits{}, func(t testing.TB, ix *Index) {
			entry(t, ix, "lib64").Target = "../../../etc"
			entry(t, ix, "bin/python").Target = "/etc/passwd"
		}},
		{"dots in names", Limits{}, func(t testing.TB, ix *Index) {
			ix.Entries = append(ix.Entries, Entry{Path: "lib64..", Type: Symlink, Target: "."}, Entry{Path: "lib64...x", Type: Symlink, Target: ".."})
		}},
		{"the shortest frame", Limits{}, func(t testing.TB, ix *Index) {
			content(t, ix, "lib/c.py").Length = minFrameLen
			content(t, ix, "lib/d.py").Length = minFrameLen
		}},
		{"a content ending a frame at its largest", Limits{}, func(t testing.TB, ix *Index) {
			d := content(t, ix, "lib/d.py")
			d.Skip = MaxFrameSize - d.Size
		}},
		{"a content larger than a frame, alone", Limits{}, func(t testing.TB, ix *Index) {
			c := content(t, ix, "bin/rez")
			c.Size = MaxFrameSize + 1
			entry(t, ix, "bin/rez").Size = c.Size
		}},
		{"an executable", Limits{}, func(t testing.TB, ix *Index) { entry(t, ix, "lib/a.py").Mode = 0o755 }},
		{"no entries", Limits{}, func(t testing.TB, ix *Index) { ix.Entries, ix.Contents, ix.Packs = nil, nil, nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := clone(b.ix)
			tt.mangle(t, ix)
			data := encode(t, ix)
			got, err := Parse(data, cas.DigestOf(data), tt.lim)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !equalIndex(got, ix) {
				t.Errorf("parsed %+v, want %+v", got, ix)
			}
			mdata, _, err := Marshal(ix)
			if err != nil || !bytes.Equal(mdata, data) {
				t.Errorf("Marshal: %v, or not the bytes Parse took", err)
			}
		})
	}
}

// TestEmptyDigest checks the written-out digest of no bytes.
func TestEmptyDigest(t *testing.T) {
	if want := cas.DigestOf(nil); emptyDigest != want {
		t.Fatalf("emptyDigest = %s, want %s", emptyDigest, want)
	}
}
