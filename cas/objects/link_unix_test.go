//go:build unix

package objects

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
)

// The errors Hardlink falls back on, and those it reports.
func TestLinkFallsBack(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{unix.EXDEV, true},
		{unix.EPERM, true},
		{unix.EACCES, true},
		{unix.EMLINK, true},
		{unix.ENOTSUP, true},
		{unix.EOPNOTSUPP, true},
		{unix.EEXIST, false},
		{unix.ENOENT, false},
		{unix.ENOSPC, false},
		{unix.EROFS, false},
		{unix.EIO, false},
		{unix.ENAMETOOLONG, false},
		{errors.New("other"), false},
	} {
		err := &os.LinkError{Op: "link", Old: "a", New: "b", Err: tc.err}
		if got := linkFallsBack(err); got != tc.want {
			t.Errorf("linkFallsBack(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func devOf(t testing.TB, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return uint64(st.Dev)
}

// Hardlink into a tree on another filesystem copies, per file, for real
// (EXDEV): a clone cannot cross filesystems either.
func TestLinkAcrossFilesystems(t *testing.T) {
	s := newStore(t)
	other := testkit.OtherFilesystem(t, s.Dir())
	data := content(12, 300_000)
	for _, exec := range []bool{false, true} {
		d := put(t, s, data, exec)
		for _, mode := range []LinkMode{Hardlink, Clone, Copy} {
			dst := filepath.Join(other, fmt.Sprintf("%v-%v", mode, exec))
			how, err := s.Link(d, exec, dst, mode)
			if err != nil || how != Copied {
				t.Fatalf("Link(%v, exec=%v) into %s = %v, %v; want Copied", mode, exec, other, how, err)
			}
			checkMade(t, s, d, exec, dst, data, false)
		}
		// The kernel's own answer, so that the test knows what it tested.
		if err := os.Link(s.path(d, exec), filepath.Join(other, "probe")); !errors.Is(err, syscall.EXDEV) {
			t.Fatalf("link across filesystems = %v, want EXDEV", err)
		}
	}
	t.Logf("store on dev %d, tree on dev %d (%s)", devOf(t, s.Dir()), devOf(t, other), other)
}

// maxLinksTried bounds the search for a filesystem's link limit: ext4's is
// 65,000 (ext2 and ext3: 32,000); tmpfs, XFS and btrfs have none a test
// can reach.
const maxLinksTried = 70_000

// An object at its filesystem's link limit, reached for real (EMLINK), is
// copied, or cloned, for the next file; the others keep linking.
func TestLinkAtTheLinkLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: reaching ext4's link limit makes 65,000 links (a few seconds)")
	}
	// A tmpfs has no link limit: when the temp dir is one (CI's), the
	// store goes on another filesystem, the disk's.
	dir := t.TempDir()
	if testkit.OnTmpfs(dir) {
		dir = testkit.OtherFilesystem(t, dir)
	}
	s, err := Open(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	data := content(13, 10_000)
	d := put(t, s, data, false)
	other := put(t, s, content(14, 100), false)
	links := filepath.Join(filepath.Dir(s.Dir()), "links")
	if err := os.Mkdir(links, 0o777); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n := 1
	for ; ; n++ {
		err := os.Link(s.path(d, false), filepath.Join(links, strconv.Itoa(n)))
		if errors.Is(err, syscall.EMLINK) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == maxLinksTried {
			skipOrFail(t, "the filesystem of %s took %d links to one file without EMLINK: it has no link limit a test can reach (ext4 has, at 65,000)", links, n)
		}
	}
	t.Logf("EMLINK at %d links, reached in %v", n, time.Since(start).Round(time.Millisecond))
	tree := t.TempDir()
	if devOf(t, tree) != devOf(t, s.Dir()) {
		tree = filepath.Join(filepath.Dir(s.Dir()), "tree")
		if err := os.Mkdir(tree, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(tree, "full")
	how, err := s.Link(d, false, dst, Hardlink)
	if err != nil || how == Hardlinked {
		t.Fatalf("Link of an object at the link limit = %v, %v; want a clone or a copy", how, err)
	}
	t.Logf("an object at the link limit was %v", how)
	checkMade(t, s, d, false, dst, data, false)
	if how, err := s.Link(other, false, filepath.Join(tree, "other"), Hardlink); err != nil || how != Hardlinked {
		t.Errorf("Link of another object = %v, %v; want Hardlinked", how, err)
	}
	var got uint64
	if err := s.Walk(func(o Object) error {
		if o.Digest == d {
			got = o.Links
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != uint64(n) {
		t.Errorf("Walk says %d links, want %d", got, n)
	}
}

// AdoptWritten of a file on another filesystem than the store is
// refused (its first file is tried: EXDEV), and the caller puts a copy.
// Should one file be elsewhere than the first all the same, Commit cannot
// link it in (EXDEV): a verified copy is put instead, and the caller's
// file stays where it was, its own.
func TestAdoptWrittenAcrossFilesystems(t *testing.T) {
	s := newStore(t)
	other := testkit.OtherFilesystem(t, s.Dir())
	write := func(dir string, seed uint64) (string, []byte) {
		t.Helper()
		data := content(seed, 20_000)
		p := filepath.Join(dir, fmt.Sprint(seed))
		if err := os.WriteFile(p, data, fsx.Perm(0o555)); err != nil {
			t.Fatal(err)
		}
		return p, data
	}

	p, data := write(other, 15)
	b := s.NewBatch()
	defer b.Close()
	if ok, err := b.AdoptWritten(cas.DigestOf(data), true, p, fsx.Perm(0o555)); err != nil || ok {
		t.Fatalf("AdoptWritten across filesystems = %v, %v; want false, nil", ok, err)
	}
	if got := entries(t, s.Dir()); len(got) != 0 {
		t.Errorf("the refused adoption left %v", got)
	}

	here := filepath.Join(filepath.Dir(s.Dir()), "build")
	if err := os.Mkdir(here, 0o777); err != nil {
		t.Fatal(err)
	}
	first, firstData := write(here, 16)
	p, data = write(other, 17)
	b = s.NewBatch()
	defer b.Close()
	for _, f := range []struct {
		path string
		data []byte
	}{{first, firstData}, {p, data}} { // the first tried is here
		if ok, err := b.AdoptWritten(cas.DigestOf(f.data), true, f.path, fsx.Perm(0o555)); err != nil || !ok {
			t.Fatalf("AdoptWritten(%s) = %v, %v; want adopted", f.path, ok, err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	checkMade(t, s, cas.DigestOf(firstData), true, first, firstData, true)
	checkMade(t, s, cas.DigestOf(data), true, p, data, false)
	if got := tempNames(t, s.Dir()); len(got) != 0 {
		t.Errorf("temps left after Commit: %v", got)
	}
}
