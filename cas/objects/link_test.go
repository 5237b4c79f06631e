package objects

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
)

func TestParseLinkMode(t *testing.T) {
	for _, m := range []LinkMode{Hardlink, Clone, Copy} {
		got, err := ParseLinkMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseLinkMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if got := []string{Hardlink.String(), Clone.String(), Copy.String()}; !slices.Equal(got, []string{"hardlink", "clone", "copy"}) {
		t.Errorf("names: %v", got)
	}
	var zero LinkMode
	if zero != Hardlink {
		t.Error("the zero LinkMode is not Hardlink")
	}
	for _, bad := range []string{"", "Hardlink", "symlink", "reflink", " copy"} {
		_, err := ParseLinkMode(bad)
		if err == nil {
			t.Errorf("ParseLinkMode(%q) accepted", bad)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "hardlink, clone, copy") || !strings.Contains(msg, strconv.Quote(bad)) {
			t.Errorf("ParseLinkMode(%q): %q does not name the value and the valid ones", bad, msg)
		}
	}
	if s := LinkMode(7).String(); s != "LinkMode(7)" {
		t.Errorf("LinkMode(7) = %q", s)
	}
	if s := LinkMode(-1).String(); s != "LinkMode(-1)" {
		t.Errorf("LinkMode(-1) = %q", s)
	}
	for h, want := range map[How]string{Hardlinked: "hardlinked", Cloned: "cloned", Copied: "copied", 0: "How(0)", 4: "How(4)"} {
		if h.String() != want {
			t.Errorf("How %d = %q, want %q", int(h), h.String(), want)
		}
	}
}

// checkMade checks that dst holds data with the object's read-only mode,
// as its own file (same: a hard link of the object) and with nothing
// else left beside it.
func checkMade(t *testing.T, s *Store, d cas.Digest, exec bool, dst string, data []byte, same bool) {
	t.Helper()
	if got := mustRead(t, dst); !bytes.Equal(got, data) {
		t.Errorf("%s: wrong content", dst)
	}
	dfi, err := os.Lstat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !dfi.Mode().IsRegular() || dfi.Mode().Perm() != objectPerm(exec) {
		t.Errorf("%s: mode %v, want %v", dst, dfi.Mode(), objectPerm(exec))
	}
	ofi, err := os.Lstat(s.path(d, exec))
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(ofi, dfi) != same {
		t.Errorf("%s: same file as the object: %v, want %v", dst, !same, same)
	}
	if tmps := tempNames(t, filepath.Dir(dst)); len(tmps) != 0 {
		t.Errorf("temps left beside %s: %v", dst, tmps)
	}
}

// Each mode makes the file it says on one filesystem (Clone falls back to
// a copy where there is no reflink, and says so).
func TestLinkModes(t *testing.T) {
	s := newStore(t)
	data := content(10, 200_000)
	tree := t.TempDir()
	for _, exec := range []bool{false, true} {
		d := put(t, s, data, exec)
		for _, tc := range []struct {
			mode LinkMode
			want []How
		}{
			{Hardlink, []How{Hardlinked}},
			{Clone, []How{Cloned, Copied}},
			{Copy, []How{Copied}},
		} {
			dst := filepath.Join(tree, tc.mode.String()+strconv.FormatBool(exec))
			how, err := s.Link(d, exec, dst, tc.mode)
			if err != nil || !slices.Contains(tc.want, how) {
				t.Fatalf("Link(%v, exec=%v) = %v, %v; want one of %v", tc.mode, exec, how, err, tc.want)
			}
			if tc.mode == Clone {
				t.Logf("Clone on %s: %v (no reflink on this filesystem when copied)", tree, how)
			}
			checkMade(t, s, d, exec, dst, data, how == Hardlinked)
		}
	}
}

// An existing dst is an error in every mode, and stays as it was; a
// missing object is ErrMissing; a missing directory is an error, not
// ErrMissing (putting the object again would not help).
func TestLinkErrors(t *testing.T) {
	s := newStore(t)
	data := content(11, 5000)
	d := put(t, s, data, false)
	absent := cas.DigestOf([]byte("absent"))
	tree := t.TempDir()
	existing := filepath.Join(tree, "existing")
	if err := os.WriteFile(existing, []byte("mine"), 0o666); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []LinkMode{Hardlink, Clone, Copy} {
		how, err := s.Link(d, false, existing, mode)
		if !errors.Is(err, fs.ErrExist) || how != 0 {
			t.Errorf("%v over an existing file = %v, %v; want ErrExist", mode, how, err)
		}
		if got := mustRead(t, existing); string(got) != "mine" {
			t.Errorf("%v replaced an existing file", mode)
		}
		dst := filepath.Join(tree, "absent-"+mode.String())
		how, err = s.Link(absent, false, dst, mode)
		if !errors.Is(err, ErrMissing) || how != 0 {
			t.Errorf("%v of a missing object = %v, %v; want ErrMissing", mode, how, err)
		}
		how, err = s.Link(d, true, dst, mode) // put only without exec
		if !errors.Is(err, ErrMissing) || how != 0 {
			t.Errorf("%v of the missing exec object = %v, %v; want ErrMissing", mode, how, err)
		}
		if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v of a missing object made %s", mode, dst)
		}
		how, err = s.Link(d, false, filepath.Join(tree, "no", "dir"), mode)
		if err == nil || errors.Is(err, ErrMissing) || how != 0 {
			t.Errorf("%v into a missing directory = %v, %v; want an error that is not ErrMissing", mode, how, err)
		}
	}
	if tmps := tempNames(t, tree); len(tmps) != 0 {
		t.Errorf("temps left: %v", tmps)
	}
	if _, err := s.Link(d, false, filepath.Join(tree, "x"), LinkMode(9)); err == nil {
		t.Error("an unknown mode linked")
	}
}

// A tree of hard links shares its inodes with the objects: every object
// has one more link per tree, and the tree's files are the objects.
func TestLinkedTreeSharesInodes(t *testing.T) {
	s := newStore(t)
	const files = 50
	b := s.NewBatch()
	defer b.Close()
	var ds []cas.Digest
	for i := range files {
		data := content(uint64(1000+i), 100+i*37)
		d := cas.DigestOf(data)
		ds = append(ds, d)
		if err := b.Put(d, i%3 == 0, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for tree := range 2 {
		root := t.TempDir()
		for i, d := range ds {
			dst := filepath.Join(root, strconv.Itoa(i))
			if how, err := s.Link(d, i%3 == 0, dst, Hardlink); err != nil || how != Hardlinked {
				t.Fatalf("Link: %v, %v", how, err)
			}
			checkMade(t, s, d, i%3 == 0, dst, content(uint64(1000+i), 100+i*37), true)
		}
		links := map[string]uint64{}
		if err := s.Walk(func(o Object) error { links[o.Path] = o.Links; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(links) != files {
			t.Fatalf("Walk found %d objects, want %d", len(links), files)
		}
		for p, n := range links {
			if n != uint64(tree+2) {
				t.Errorf("after %d trees %s has %d links, want %d", tree+1, p, n, tree+2)
			}
		}
	}
}
