package objects

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

// Adopt makes a file of a build its object without a copy: once
// committed, the object's name and the file are one inode, read-only; a
// file that is not its digest is refused and leaves nothing; an object
// already there is not adopted again.
func TestAdopt(t *testing.T) {
	s := newStore(t)
	build := filepath.Join(filepath.Dir(s.Dir()), "build")
	if err := os.Mkdir(build, 0o777); err != nil {
		t.Fatal(err)
	}
	data := content(7, 3000)
	d := cas.DigestOf(data)
	file := filepath.Join(build, "lib.py")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}

	b := s.NewBatch()
	defer b.Close()
	if ok, err := b.Adopt(d, false, file); err != nil || !ok {
		t.Fatalf("Adopt = %v, %v; want adopted", ok, err)
	}
	if s.Has(d, false) {
		t.Fatal("an adopted object is visible before Commit")
	}
	if ok, err := b.Adopt(d, false, file); err != nil || ok {
		t.Errorf("Adopt of an object pending in the batch = %v, %v; want false, nil", ok, err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	obj, err := os.Stat(s.path(d, false))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(obj, fi) {
		t.Error("the adopted file is not the object's inode")
	}
	if obj.Mode().Perm() != fsx.Perm(0o444) {
		t.Errorf("adopted object mode %v, want %v", obj.Mode().Perm(), fsx.Perm(0o444))
	}
	if got := tempNames(t, s.Dir()); len(got) != 0 {
		t.Errorf("temps left after Commit: %v", got)
	}

	// Already in the store: nothing to do, the caller links.
	other := filepath.Join(build, "copy.py")
	if err := os.WriteFile(other, data, 0o644); err != nil {
		t.Fatal(err)
	}
	b2 := s.NewBatch()
	defer b2.Close()
	if ok, err := b2.Adopt(d, false, other); err != nil || ok {
		t.Errorf("Adopt of an object in the store = %v, %v; want false, nil", ok, err)
	}

	// A file that is not its digest: refused, nothing left.
	bad := filepath.Join(build, "bad.py")
	if err := os.WriteFile(bad, content(8, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	wrong := cas.DigestOf([]byte("something else"))
	if ok, err := b2.Adopt(wrong, true, bad); ok || !errors.Is(err, ErrCorrupt) {
		t.Errorf("Adopt of a file that is not its digest = %v, %v; want ErrCorrupt", ok, err)
	}
	if err := b2.Commit(); err != nil {
		t.Fatal(err)
	}
	if s.Has(wrong, true) || len(tempNames(t, s.Dir())) != 0 {
		t.Errorf("a refused adoption left %v", entries(t, s.Dir()))
	}
	if fi, err := os.Stat(bad); err != nil || fi.Mode().Perm() != 0o644&^fsx.Umask() {
		t.Errorf("the refused file changed: %v, %v", fi, err)
	}
}

// AdoptWritten takes a file the caller wrote read-only from bytes it
// hashed: nothing is in the store before Commit, which gives the object's
// name to the file's own inode; a file written writable becomes
// read-only; an object in the store or the batch is not adopted again; a
// batch closed uncommitted leaves the caller's files as they are and the
// store empty.
func TestAdoptWritten(t *testing.T) {
	s := newStore(t)
	build := filepath.Join(filepath.Dir(s.Dir()), "build")
	if err := os.Mkdir(build, 0o777); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte, perm os.FileMode) string {
		t.Helper()
		p := filepath.Join(build, name)
		if err := os.WriteFile(p, data, perm); err != nil {
			t.Fatal(err)
		}
		return p
	}
	lib, tool := content(1, 5000), content(2, 300)
	dl, dt := cas.DigestOf(lib), cas.DigestOf(tool)
	libPath := write("lib.py", lib, fsx.Perm(0o444))
	toolPath := write("tool", tool, fsx.Perm(0o755)) // writable: made read-only

	// Uncommitted: nothing anywhere, the files as they were written.
	b := s.NewBatch()
	if ok, err := b.AdoptWritten(dl, false, libPath, fsx.Perm(0o444)); err != nil || !ok {
		t.Fatalf("AdoptWritten = %v, %v; want adopted", ok, err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, s.Dir()); len(got) != 0 {
		t.Errorf("a batch closed uncommitted left %v in the store", got)
	}
	if got, err := os.ReadFile(libPath); err != nil || !bytes.Equal(got, lib) {
		t.Errorf("Close changed the caller's file: %v", err)
	}

	b = s.NewBatch()
	defer b.Close()
	if ok, err := b.AdoptWritten(dl, false, libPath, fsx.Perm(0o444)); err != nil || !ok {
		t.Fatalf("AdoptWritten = %v, %v; want adopted", ok, err)
	}
	if ok, err := b.AdoptWritten(dt, true, toolPath, fsx.Perm(0o755)); err != nil || !ok {
		t.Fatalf("AdoptWritten = %v, %v; want adopted", ok, err)
	}
	if ok, err := b.AdoptWritten(dl, false, write("again.py", lib, fsx.Perm(0o444)), fsx.Perm(0o444)); err != nil || ok {
		t.Errorf("AdoptWritten of an object pending in the batch = %v, %v; want false, nil", ok, err)
	}
	if err := b.Put(dl, false, bytes.NewReader(lib)); err != nil {
		t.Errorf("Put of an object pending in the batch: %v", err)
	}
	if s.Has(dl, false) || s.Has(dt, true) || len(tempNames(t, s.Dir())) != 0 {
		t.Fatalf("AdoptWritten made something in the store before Commit: %v", entries(t, s.Dir()))
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		d    cas.Digest
		exec bool
		perm os.FileMode
	}{{libPath, dl, false, fsx.Perm(0o444)}, {toolPath, dt, true, fsx.Perm(0o555)}} {
		obj, err := os.Stat(s.path(c.d, c.exec))
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(obj, fi) {
			t.Errorf("%s is not its object's inode", c.path)
		}
		if obj.Mode().Perm() != c.perm {
			t.Errorf("object of %s: mode %v, want %v", c.path, obj.Mode().Perm(), c.perm)
		}
	}
	if got := tempNames(t, s.Dir()); len(got) != 0 {
		t.Errorf("temps left after Commit: %v", got)
	}

	// In the store now: the caller links.
	if ok, err := s.NewBatch().AdoptWritten(dl, false, write("copy.py", lib, fsx.Perm(0o444)), fsx.Perm(0o444)); err != nil || ok {
		t.Errorf("AdoptWritten of an object in the store = %v, %v; want false, nil", ok, err)
	}
}
