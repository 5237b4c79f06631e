package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/internal/treetest"
	"github.com/rezup/rezup/internal/fsx"
)

// unpacked is nodes as Unpack gives them back: canonical modes less the
// umask, and the owner's rwx on every directory.
func unpacked(nodes []treetest.Node) []treetest.Node {
	out := treetest.Canonical(nodes)
	for i, n := range out {
		switch n.Kind {
		case 'd':
			out[i].Perm = dirPerm()
		case 'f':
			out[i].Perm = fsx.Perm(n.Perm)
		}
	}
	return out
}

func TestPackUnpackRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		nodes []treetest.Node
		opt   PackOptions
	}{
		{"venv-like tree", treetest.SampleTree(), PackOptions{}},
		{"highest level", treetest.SampleTree(), PackOptions{Level: 19}},
		{"odd modes come back canonical", treetest.OddModes(), PackOptions{}},
		{"empty tree", nil, PackOptions{}},
		{"only empty dirs", []treetest.Node{
			{Name: "a", Kind: 'd', Perm: 0o755, MTime: treetest.At(1)},
			{Name: "a/b", Kind: 'd', Perm: 0o711, MTime: treetest.At(2)},
			{Name: "c", Kind: 'd', Perm: 0o700, MTime: treetest.At(3)},
		}, PackOptions{}},
		{"long names", []treetest.Node{
			{Name: strings.Repeat("d", 200), Kind: 'd', Perm: 0o755, MTime: treetest.At(1)},
			{Name: strings.Repeat("d", 200) + "/" + strings.Repeat("f", 200), Kind: 'f', Perm: 0o755, Data: "x", MTime: treetest.At(2)},
			{Name: "l", Kind: 'l', Data: strings.Repeat("/t", 300), MTime: treetest.At(3)},
		}, PackOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			treetest.WriteTree(t, src, tt.nodes)
			var calls int
			var last Progress
			tt.opt.Progress = func(p Progress) { calls++; last = p }
			archive, digest, pst := packTree(t, src, tt.opt)
			if calls == 0 || last != (Progress{Bytes: pst.Bytes, Files: pst.Files}) {
				t.Errorf("pack progress: %d calls, last %+v, stats %+v", calls, last, pst)
			}
			if pst.Files != int64(len(tt.nodes)) {
				t.Errorf("pack files = %d, want %d", pst.Files, len(tt.nodes))
			}

			dest := t.TempDir()
			t.Cleanup(func() { treetest.MakeRemovable(dest) })
			calls, last = 0, Progress{}
			ust, err := Unpack(bytes.NewReader(archive), dest, digest, UnpackOptions{Progress: func(p Progress) { calls++; last = p }})
			if err != nil {
				t.Fatal(err)
			}
			if ust.Files != pst.Files || ust.Bytes != pst.Bytes || ust.ArchiveBytes != int64(len(archive)) {
				t.Errorf("unpack stats %+v, pack stats %+v, archive %d bytes", ust, pst, len(archive))
			}
			if calls == 0 || last != (Progress{Bytes: ust.Bytes, Files: ust.Files}) {
				t.Errorf("unpack progress: %d calls, last %+v", calls, last)
			}
			want := t.TempDir()
			treetest.WriteTree(t, want, unpacked(tt.nodes))
			treetest.DiffSnapshots(t, treetest.Snapshot(t, want, true), treetest.Snapshot(t, dest, true))
		})
	}
}

func TestPackIsReproducible(t *testing.T) {
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	a, _, _ := packTree(t, src, PackOptions{})
	b, _, _ := packTree(t, src, PackOptions{})
	if !bytes.Equal(a, b) {
		t.Fatal("packing the same tree twice gave different archives")
	}
	// No owner information reaches the archive.
	tr := tarReader(t, a)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want none", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if h.Format != tar.FormatPAX && h.Format != tar.FormatUnknown {
			t.Errorf("%s: format %v", h.Name, h.Format)
		}
	}
}

// GNU tar must read what Pack writes, for debugging on any machine.
func TestGNUTarReadsArchive(t *testing.T) {
	for _, tool := range []string{"/usr/bin/tar", "/usr/bin/zstd"} {
		if _, err := os.Stat(tool); err != nil {
			t.Fatalf("%s is needed to check archives stay readable by GNU tar: %v", tool, err)
		}
	}
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	archive, _, _ := packTree(t, src, PackOptions{})
	work := t.TempDir()
	ap := filepath.Join(work, "a.tar.zst")
	if err := os.WriteFile(ap, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(work, "x")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { treetest.MakeRemovable(dest) })
	// -p: keep modes exactly even when not root (umask would mask them).
	cmd := exec.Command("/usr/bin/tar", "--zstd", "-xpf", ap, "-C", dest)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("/usr/bin/tar --zstd -xpf: %v\n%s", err, out)
	}
	// GNU tar restores symlink targets but not their own mtimes.
	treetest.DiffSnapshots(t, treetest.Snapshot(t, src, false), treetest.Snapshot(t, dest, false))
}

func tarReader(t *testing.T, archive []byte) *tar.Reader {
	t.Helper()
	zr, err := zstdReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zr.Close)
	return tar.NewReader(zr)
}

// A setgid directory (inherited from a shared group directory) packs, and
// loses the bit: it says where a tree was built, not what it is.
func TestPackDropsSetgidOnDirectories(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "d")
	os.Mkdir(d, 0o755)
	if err := os.Chmod(d, 0o775|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(d); fi.Mode()&os.ModeSetgid == 0 {
		t.Fatalf("setgid not set: %v", fi.Mode())
	}
	archive, digest, _ := packTree(t, root, PackOptions{})
	dest := t.TempDir()
	if _, err := Unpack(bytes.NewReader(archive), dest, digest, UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dest, "d"))
	if err != nil {
		t.Fatal(err)
	}
	// The bit goes, and so does the group's write bit: a directory is
	// 0755 in an archive.
	if want := os.ModeDir | dirPerm(); fi.Mode() != want {
		t.Fatalf("mode %v, want %v", fi.Mode(), want)
	}
}

func TestUnpackCorrupt(t *testing.T) {
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	archive, digest, _ := packTree(t, src, PackOptions{})
	other := handTar(t, file("a", "b"))

	flip := func(i int) []byte {
		b := bytes.Clone(archive)
		b[i] ^= 0x40
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"flipped byte in the middle", flip(len(archive) / 2)},
		{"flipped first byte", flip(0)},
		{"flipped last byte", flip(len(archive) - 1)},
		{"truncated to half", archive[:len(archive)/2]},
		{"truncated by one byte", archive[:len(archive)-1]},
		{"truncated to nothing", nil},
		{"appended garbage", append(bytes.Clone(archive), "garbage"...)},
		{"appended zero byte", append(bytes.Clone(archive), 0)},
		{"a different valid archive", other},
		{"not zstd at all", []byte("PK\x03\x04 this is a zip")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := t.TempDir()
			t.Cleanup(func() { treetest.MakeRemovable(dest) })
			_, err := Unpack(bytes.NewReader(tt.data), dest, digest, UnpackOptions{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), digest.String()) {
				t.Fatalf("error does not name the digest %s: %v", digest, err)
			}
		})
	}
}

func TestUnpackDigestMismatchNamesBoth(t *testing.T) {
	archive := handTar(t, file("a", "b"))
	want := cas.DigestOf([]byte("something else"))
	_, err := Unpack(bytes.NewReader(archive), t.TempDir(), want, UnpackOptions{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want.String()) || !strings.Contains(err.Error(), cas.DigestOf(archive).String()) {
		t.Fatalf("err = %v, want ErrCorrupt naming %s and %s", err, want, cas.DigestOf(archive))
	}
}

// errReader fails after its data, like a dropped network connection.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

func TestUnpackReadErrorIsNotCorruption(t *testing.T) {
	archive := handTar(t, file("a", strings.Repeat("x", 1<<20)))
	boom := errors.New("connection reset")
	r := &errReader{r: bytes.NewReader(archive[:len(archive)/2]), err: boom}
	_, err := Unpack(r, t.TempDir(), cas.DigestOf(archive), UnpackOptions{})
	if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want the read error, not ErrCorrupt", err)
	}
}

func TestUnpackRefusesNonEmptyDest(t *testing.T) {
	archive := handTar(t, file("a", "b"))
	dest := t.TempDir()
	os.WriteFile(filepath.Join(dest, "already"), nil, 0o644)
	if _, err := Unpack(bytes.NewReader(archive), dest, cas.DigestOf(archive), UnpackOptions{}); err == nil {
		t.Fatal("unpacked into a non-empty directory")
	}
}

// hostileCases are archives Unpack must refuse, each naming the entry it
// refuses. outside is a directory beside dest that must stay empty.
func hostileCases(outside string) []struct {
	name    string
	entries []rawEntry
	lim     Limits
	names   string
} {
	big := DefaultLimits()
	return []struct {
		name    string
		entries []rawEntry
		lim     Limits
		names   string
	}{
		{"absolute path", []rawEntry{file(filepath.Join(outside, "abs"), "pwned")}, big, "abs"},
		{"absolute dir", []rawEntry{dir("/" + strings.TrimPrefix(outside, "/") + "/absdir/")}, big, "absdir"},
		{"dotdot", []rawEntry{file("../outside/dotdot", "pwned")}, big, "dotdot"},
		{"dotdot inside", []rawEntry{dir("a/"), file("a/../../outside/dotdot2", "pwned")}, big, "dotdot2"},
		{"dotdot symlink name", []rawEntry{symlink("..", outside)}, big, ".."},
		{"write through symlink", []rawEntry{symlink("l", outside), file("l/through", "pwned")}, big, "l/through"},
		{"write through relative symlink", []rawEntry{symlink("l", "../outside"), file("l/through", "pwned")}, big, "l/through"},
		{"dir through symlink", []rawEntry{symlink("l", outside), dir("l/sub/")}, big, "l/sub"},
		{"deep through symlink", []rawEntry{dir("a/"), symlink("a/l", outside), file("a/l/b/c", "pwned")}, big, "a/l/b/c"},
		{"symlink then file of the same name", []rawEntry{symlink("l", filepath.Join(outside, "target")), file("l", "pwned")}, big, "l"},
		{"symlink then symlink of the same name", []rawEntry{symlink("l", "x"), symlink("l", outside)}, big, "l"},
		{"duplicate file", []rawEntry{file("f", "one"), file("f", "two")}, big, "f"},
		{"file then dir of the same name", []rawEntry{file("f", "one"), dir("f/")}, big, "f"},
		{"file as parent", []rawEntry{file("f", "one"), file("f/g", "two")}, big, "f/g"},
		{"dot dir then escape", []rawEntry{dir("./"), file("./../x", "pwned")}, big, "../x"},
		{"hard link out", []rawEntry{{hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}}}, big, "h"},
		{"hard link in tree", []rawEntry{file("f", "x"), {hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "f"}}}, big, "h"},
		{"char device", []rawEntry{{hdr: tar.Header{Name: "null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}}}, big, "null"},
		{"block device", []rawEntry{{hdr: tar.Header{Name: "sda", Typeflag: tar.TypeBlock, Mode: 0o660, Devmajor: 8}}}, big, "sda"},
		{"fifo", []rawEntry{{hdr: tar.Header{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o644}}}, big, "fifo"},
		{"contiguous file type", []rawEntry{{hdr: tar.Header{Name: "c", Typeflag: tar.TypeCont, Mode: 0o644}}}, big, "c"},
		{"setuid file", []rawEntry{{hdr: tar.Header{Name: "su", Typeflag: tar.TypeReg, Mode: 0o4755}, data: "x"}}, big, "su"},
		{"setgid file", []rawEntry{{hdr: tar.Header{Name: "sg", Typeflag: tar.TypeReg, Mode: 0o2755}, data: "x"}}, big, "sg"},
		{"sticky dir", []rawEntry{{hdr: tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}}}, big, "tmp"},
		{"setgid dir", []rawEntry{{hdr: tar.Header{Name: "sgd/", Typeflag: tar.TypeDir, Mode: 0o2755}}}, big, "sgd"},
		{"name too long", []rawEntry{file(strings.Repeat("n/", 2048)+"x", "x")}, big, "n/n/n/"},
		{"symlink target too long", []rawEntry{symlink("l", strings.Repeat("t", maxNameLen+1))}, big, "l"},
		{"empty symlink target", []rawEntry{symlink("l", "")}, big, "l"},
		{"too many entries", []rawEntry{file("a", ""), file("b", ""), file("c", "")}, Limits{MaxFiles: 2}, "c"},
		{"dirs count as entries", []rawEntry{dir("a/"), dir("b/"), file("c", "")}, Limits{MaxFiles: 2}, "c"},
		{"too many bytes", []rawEntry{file("a", "12345"), file("b", "12345"), file("c", "12345")}, Limits{MaxBytes: 12}, "c"},
		{"one huge header", []rawEntry{{hdr: tar.Header{Name: "huge", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40}, noData: true}}, big, "huge"},
	}
}

func TestUnpackRefusesHostileArchives(t *testing.T) {
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, tt := range hostileCases(outside) {
		t.Run(tt.name, func(t *testing.T) {
			archive := handTar(t, tt.entries...)
			dest := filepath.Join(parent, "dest"+string(rune('a'+i%26))+strings.Repeat("x", i/26))
			if err := os.Mkdir(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			defer treetest.MakeRemovable(dest)
			_, err := Unpack(bytes.NewReader(archive), dest, cas.DigestOf(archive), UnpackOptions{Limits: tt.lim})
			if !errors.Is(err, ErrUnsafe) {
				t.Fatalf("err = %v, want ErrUnsafe", err)
			}
			if !strings.Contains(err.Error(), tt.names) {
				t.Errorf("error does not name %q: %v", tt.names, err)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Fatalf("wrote outside the destination: %v", ents)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != i+2 {
				t.Fatalf("parent holds %d names, want %d", len(ents), i+2)
			}
		})
	}
}

func TestUnpackLimitsAreInclusive(t *testing.T) {
	archive := handTar(t, dir("d/"), file("d/a", "12345"), file("b", "12345"))
	_, err := Unpack(bytes.NewReader(archive), t.TempDir(), cas.DigestOf(archive), UnpackOptions{Limits: Limits{MaxFiles: 3, MaxBytes: 10}})
	if err != nil {
		t.Fatalf("archive exactly at the limits: %v", err)
	}
}

// Things other tar writers do that rezup's does not, and that are safe.
func TestUnpackAcceptsBenignVariants(t *testing.T) {
	tests := []struct {
		name    string
		entries []rawEntry
		check   func(t *testing.T, dest string)
	}{
		{"dot root entry and dot-slash names", []rawEntry{dir("./"), dir("./a/"), file("./a/f", "x")}, func(t *testing.T, dest string) {
			if b, err := os.ReadFile(filepath.Join(dest, "a", "f")); err != nil || string(b) != "x" {
				t.Fatalf("a/f: %q, %v", b, err)
			}
		}},
		{"parents implied", []rawEntry{file("a/b/c", "x")}, func(t *testing.T, dest string) {
			fi, err := os.Stat(filepath.Join(dest, "a", "b"))
			if err != nil || fi.Mode() != os.ModeDir|dirPerm() {
				t.Fatalf("implied parent: %v, %v", fi, err)
			}
		}},
		// As tar does for a non-root user: the canonical mode of what the
		// archive says, less the umask, so a build is as readable as the
		// user's own files, and no more writable than a published build.
		{"modes take the umask", []rawEntry{
			{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o777}},
			{hdr: tar.Header{Name: "d/x", Typeflag: tar.TypeReg, Mode: 0o777, Size: 1}, data: "x"},
			{hdr: tar.Header{Name: "d/f", Typeflag: tar.TypeReg, Mode: 0o666, Size: 1}, data: "x"},
		}, func(t *testing.T, dest string) {
			for name, want := range map[string]os.FileMode{"d": os.ModeDir | dirPerm(), "d/x": fsx.Perm(0o755), "d/f": fsx.Perm(0o644)} {
				if fi, err := os.Stat(filepath.Join(dest, name)); err != nil || fi.Mode() != want {
					t.Errorf("%s: %v (%v), want %v", name, fi.Mode(), err, want)
				}
			}
		}},
		{"dir listed after its contents", []rawEntry{file("a/f", "x"), {hdr: tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: treetest.At(7)}}}, func(t *testing.T, dest string) {
			fi, err := os.Stat(filepath.Join(dest, "a"))
			if err != nil || fi.Mode() != os.ModeDir|dirPerm() || !fi.ModTime().Equal(treetest.At(7)) {
				t.Fatalf("late dir entry: %v %v, %v", fi.Mode(), fi.ModTime(), err)
			}
		}},
		{"duplicate dir", []rawEntry{dir("a/"), dir("a/")}, nil},
		{"symlink to a parent is kept, not followed", []rawEntry{dir("a/"), symlink("a/up", ".."), symlink("abs", "/etc")}, func(t *testing.T, dest string) {
			if target, err := os.Readlink(filepath.Join(dest, "a", "up")); err != nil || target != ".." {
				t.Fatalf("a/up -> %q, %v", target, err)
			}
		}},
		{"pax global header", []rawEntry{{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "hi"}}}, file("f", "x")}, nil},
		{"gnu format", []rawEntry{{hdr: tar.Header{Name: "g", Typeflag: tar.TypeReg, Mode: 0o644, Format: tar.FormatGNU}, data: "x"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			archive := handTar(t, tt.entries...)
			dest := t.TempDir()
			t.Cleanup(func() { treetest.MakeRemovable(dest) })
			if _, err := Unpack(bytes.NewReader(archive), dest, cas.DigestOf(archive), UnpackOptions{}); err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, dest)
			}
		})
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"a/b", "a/b", true},
		{"./a//b/", "a/b", true},
		{".", "", true},
		{"./", "", true},
		{"", "", false},
		{"/a", "", false},
		{"..", "", false},
		{"a/..", "", false},
		{"a/../b", "", false},
		{"..a/b..", "..a/b..", true},
		{"a\x00b", "", false},
	}
	for _, tt := range tests {
		got, err := cleanName(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("cleanName(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// Rewrite sees every small file once, with its destination path, and its
// result is what lands on disk, with the entry's mode and mtime; larger
// files bypass it and are listed; Relink retargets symlinks.
func TestUnpackRewrite(t *testing.T) {
	root := t.TempDir()
	big := strings.Repeat("OLD big\n", RewriteMax/8+1)
	treetest.WriteTree(t, root, []treetest.Node{
		{Name: "bin", Kind: 'd', Perm: 0o755, MTime: treetest.At(1)},
		{Name: "bin/rez", Kind: 'f', Perm: 0o755, Data: "#!OLD/bin/python\n", MTime: treetest.At(2)},
		{Name: "bin/python", Kind: 'l', Data: "OLD/python3", MTime: treetest.At(3)},
		{Name: "keep.txt", Kind: 'f', Perm: 0o644, Data: "nothing to see\n", MTime: treetest.At(4)},
		{Name: "big.so", Kind: 'f', Perm: 0o644, Data: big, MTime: treetest.At(5)},
	})
	archive, digest, _ := packTree(t, root, PackOptions{})
	dest := t.TempDir()
	var mu sync.Mutex
	seen := map[string]int{}
	st, err := Unpack(bytes.NewReader(archive), dest, digest, UnpackOptions{
		Rewrite: func(p string, data []byte) []byte {
			mu.Lock()
			seen[p]++
			mu.Unlock()
			if !bytes.Contains(data, []byte("OLD")) {
				return nil
			}
			return bytes.ReplaceAll(data, []byte("OLD"), []byte("/new/prefix"))
		},
		Relink: func(target string) string {
			if rest, ok := strings.CutPrefix(target, "OLD"); ok {
				return "/new/prefix" + rest
			}
			return ""
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rez, keep, bigPath := filepath.Join(dest, "bin", "rez"), filepath.Join(dest, "keep.txt"), filepath.Join(dest, "big.so")
	if want := map[string]int{rez: 1, keep: 1}; !maps.Equal(seen, want) {
		t.Errorf("Rewrite saw %v, want %v", seen, want)
	}
	if !slices.Equal(st.Unseen, []string{bigPath}) {
		t.Errorf("Unseen = %q, want %q", st.Unseen, bigPath)
	}
	for p, want := range map[string]string{rez: "#!/new/prefix/bin/python\n", keep: "nothing to see\n", bigPath: big} {
		if b, err := os.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("%s = %.40q (%v), want %.40q", p, b, err, want)
		}
	}
	fi, err := os.Stat(rez)
	if err != nil || fi.Mode().Perm() != fsx.Perm(0o755) || !fi.ModTime().Equal(treetest.At(2)) {
		t.Errorf("rewritten file lost its mode or mtime: %v %v (%v)", fi.Mode(), fi.ModTime(), err)
	}
	if got, err := os.Readlink(filepath.Join(dest, "bin", "python")); err != nil || got != "/new/prefix/python3" {
		t.Errorf("symlink -> %q (%v), want /new/prefix/python3", got, err)
	}
}

// Written sees every small file once it is on disk, with the bytes it
// holds (Rewrite's) and its mode; larger files are listed instead. With
// ReadOnly, files come without write bits and directories keep theirs.
func TestUnpackWrittenReadOnly(t *testing.T) {
	root := t.TempDir()
	big := strings.Repeat("big\n", RewriteMax/4+1)
	treetest.WriteTree(t, root, []treetest.Node{
		{Name: "bin", Kind: 'd', Perm: 0o755, MTime: treetest.At(1)},
		{Name: "bin/rez", Kind: 'f', Perm: 0o755, Data: "#!OLD/bin/python\n", MTime: treetest.At(2)},
		{Name: "keep.txt", Kind: 'f', Perm: 0o644, Data: "nothing to see\n", MTime: treetest.At(3)},
		{Name: "big.so", Kind: 'f', Perm: 0o644, Data: big, MTime: treetest.At(4)},
	})
	archive, digest, _ := packTree(t, root, PackOptions{})
	dest := t.TempDir()
	t.Cleanup(func() { treetest.MakeRemovable(dest) })
	type seenFile struct {
		data string
		perm os.FileMode
	}
	var mu sync.Mutex
	seen := map[string]seenFile{}
	st, err := Unpack(bytes.NewReader(archive), dest, digest, UnpackOptions{
		ReadOnly: true,
		Rewrite: func(p string, data []byte) []byte {
			return bytes.ReplaceAll(data, []byte("OLD"), []byte("/new"))
		},
		Written: func(p string, data []byte, perm os.FileMode) {
			// On disk, whole, when it is called.
			b, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(b, data) {
				t.Errorf("Written(%s): on disk %q (%v), given %q", p, b, err, data)
			}
			mu.Lock()
			defer mu.Unlock()
			if _, ok := seen[p]; ok {
				t.Errorf("Written(%s) twice", p)
			}
			seen[p] = seenFile{string(data), perm}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rez, keep, bigPath := filepath.Join(dest, "bin", "rez"), filepath.Join(dest, "keep.txt"), filepath.Join(dest, "big.so")
	exe, data := fsx.Perm(0o555), fsx.Perm(0o444)
	if want := map[string]seenFile{rez: {"#!/new/bin/python\n", exe}, keep: {"nothing to see\n", data}}; !maps.Equal(seen, want) {
		t.Errorf("Written saw %v, want %v", seen, want)
	}
	if !slices.Equal(st.Unseen, []string{bigPath}) {
		t.Errorf("Unseen = %q, want %q", st.Unseen, bigPath)
	}
	if want := map[string]os.FileMode{filepath.Join(dest, "bin"): dirPerm()}; !maps.Equal(st.Dirs, want) {
		t.Errorf("Dirs = %v, want %v", st.Dirs, want)
	}
	for p, want := range map[string]os.FileMode{rez: exe, keep: data, bigPath: data, filepath.Join(dest, "bin"): os.ModeDir | dirPerm()} {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode() != want {
			t.Errorf("%s: %v (%v), want %v", p, fi.Mode(), err, want)
		}
	}
	if fi, err := os.Lstat(rez); err != nil || !fi.ModTime().Equal(treetest.At(2)) {
		t.Errorf("%s: mtime %v (%v), want %v", rez, fi.ModTime(), err, treetest.At(2))
	}
}

func TestPackFile(t *testing.T) {
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	packed, digest, pst := packTree(t, src, PackOptions{})
	a, err := PackFile(t.TempDir(), src, PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != digest || a.Size != int64(len(packed)) || !bytes.Equal(b, packed) || a.PackStats != pst {
		t.Fatalf("PackFile = %+v; want digest %s, %d bytes, %+v", a, digest, len(packed), pst)
	}
	// A tree Pack refuses leaves no file behind.
	dir := t.TempDir()
	if _, err := PackFile(dir, filepath.Join(src, "pyvenv.cfg"), PackOptions{}); err == nil {
		t.Fatal("packed a file as a tree")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("failed PackFile left %v", ents)
	}
}

// Pack records canonical modes: a tree packs to the same bytes whatever
// its write bits, group bits and private bits, so a published build, made
// read-only, and builds made under umasks 022 and 002 have one digest.
func TestPackRecordsCanonicalModes(t *testing.T) {
	plain, odd := t.TempDir(), t.TempDir()
	treetest.WriteTree(t, plain, treetest.SampleTree())
	treetest.WriteTree(t, odd, treetest.OddModes())
	t.Cleanup(func() { treetest.MakeRemovable(odd) })
	a, da, _ := packTree(t, plain, PackOptions{})
	b, db, _ := packTree(t, odd, PackOptions{})
	if da != db || !bytes.Equal(a, b) {
		t.Errorf("a tree and the same tree with other modes packed to %s and %s", da, db)
	}
	want := map[string]int64{}
	for _, n := range treetest.Canonical(treetest.SampleTree()) {
		name := n.Name
		if n.Kind == 'd' {
			name += "/"
		}
		want[name] = int64(n.Perm)
		if n.Kind == 'l' {
			want[name] = 0o777
		}
	}
	tr := tarReader(t, b)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Mode != want[h.Name] {
			t.Errorf("%s: mode %#o recorded, want %#o", h.Name, h.Mode, want[h.Name])
		}
	}
}

// An archive that says a directory is 0000 or 0555, or a file 0000, is not
// refused for it, and its modes are not obeyed: every directory comes out
// with its owner's rwx (the caller fills, relocates and removes it), every
// file readable by its owner, each with its canonical mode less the umask.
// Old archives, which recorded whatever modes their tree had, unpack the
// same way.
func TestUnpackNormalizesModes(t *testing.T) {
	d := func(name string, mode int64) rawEntry {
		return rawEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}}
	}
	f := func(name string, mode int64) rawEntry {
		return rawEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode}, data: name}
	}
	archive := handTar(t,
		d("closed/", 0o000), f("closed/secret", 0o000), d("closed/sub/", 0o000), f("closed/sub/x", 0o755),
		d("ro/", 0o555), f("ro/a", 0o444), d("ro/.rezup/", 0o555), f("ro/.rezup/manifest.json", 0o400),
		d("group/", 0o775), f("group/g", 0o664),
		d("private/", 0o700), f("private/exe", 0o100), f("private/data", 0o600),
		f("implied/parent/file", 0o000),
		d("late/", 0o755), f("late/y", 0o644), d("late/", 0o500),
	)
	dest := t.TempDir()
	t.Cleanup(func() { treetest.MakeRemovable(dest) })
	if _, err := Unpack(bytes.NewReader(archive), dest, cas.DigestOf(archive), UnpackOptions{}); err != nil {
		t.Fatal(err)
	}
	dirMode, exe, data := os.ModeDir|dirPerm(), fsx.Perm(0o755), fsx.Perm(0o644)
	for name, want := range map[string]os.FileMode{
		"closed": dirMode, "closed/secret": data, "closed/sub": dirMode, "closed/sub/x": exe,
		"ro": dirMode, "ro/a": data, "ro/.rezup": dirMode, "ro/.rezup/manifest.json": data,
		"group": dirMode, "group/g": data,
		"private": dirMode, "private/exe": exe, "private/data": data,
		"implied": dirMode, "implied/parent": dirMode, "implied/parent/file": data,
		"late": dirMode, "late/y": data,
	} {
		fi, err := os.Lstat(filepath.Join(dest, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode() != want {
			t.Errorf("%s: %v, want %v", name, fi.Mode(), want)
		}
	}
	if dirMode.Perm()&0o700 != 0o700 {
		t.Errorf("directories are %v: the owner cannot fill or remove them", dirMode)
	}
}
