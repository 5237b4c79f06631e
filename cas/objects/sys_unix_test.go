//go:build unix

package objects

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

// linkNew gives a temp its name, never over a file already there: the
// temp is gone once named, and stays, with the file there untouched,
// when the name is taken.
func TestLinkNewNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	tmp, final := filepath.Join(dir, "tmp"), filepath.Join(dir, "final")
	if err := os.WriteFile(tmp, []byte("new"), 0o444); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Lstat(tmp)
	if err := linkNew(tmp, final); err != nil {
		t.Fatal(err)
	}
	if after, err := os.Lstat(final); err != nil || !os.SameFile(before, after) {
		t.Errorf("final is not the temp's file: %v", err)
	}
	if _, err := os.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the temp is still there: %v", err)
	}

	if err := os.WriteFile(tmp, []byte("other"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := linkNew(tmp, final); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("linkNew over a file: %v, want fs.ErrExist", err)
	}
	if b, err := os.ReadFile(final); err != nil || string(b) != "new" {
		t.Errorf("final was replaced: %q, %v", b, err)
	}
	if b, err := os.ReadFile(tmp); err != nil || string(b) != "other" {
		t.Errorf("the temp did not stay: %q, %v", b, err)
	}
	if err := linkNew(tmp, filepath.Join(dir, "no-such-dir", "final")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("linkNew into a missing directory: %v, want fs.ErrNotExist (Commit makes the shard then)", err)
	}
}

// createTemp's temp has its object's mode from the start (no window in
// which an object's inode is writable) and a name Temps recognises, and
// its descriptor writes.
func TestCreateTempIsReadOnly(t *testing.T) {
	s := newStore(t)
	n := name(cas.DigestOf(content(1, 10)), true)
	f, err := createTemp(s.Dir(), n, objectPerm(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("bytes")); err != nil {
		t.Errorf("write to the temp: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if want := fsx.Perm(0o555); fi.Mode().Perm() != want || fi.Size() != 5 {
		t.Errorf("temp: mode %v, %d bytes; want %v, 5", fi.Mode(), fi.Size(), want)
	}
	if !isTemp(filepath.Base(f.Name())) {
		t.Errorf("%s is not named as a temp", f.Name())
	}
}
