package fsx

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := WriteFile(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFileFunc(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("half"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "one" {
		t.Fatalf("failed write changed the file: %q", got)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp file left behind: %v", ents)
	}
}

func TestCreateExclusiveNeverOverwrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a")
	w := func(s string) func(io.Writer) error {
		return func(x io.Writer) error { _, err := x.Write([]byte(s)); return err }
	}
	if err := CreateExclusive(p, 0o644, w("first")); err != nil {
		t.Fatal(err)
	}
	if err := CreateExclusive(p, 0o644, w("second")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create: %v, want ErrExist", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "first" {
		t.Fatalf("got %q", got)
	}
}

func TestPublishDirRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.MkdirAll(filepath.Join(a, "x"), 0o755)
	os.MkdirAll(filepath.Join(b, "y"), 0o755)
	if err := PublishDir(a, b); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("err = %v, want ErrExist", err)
	}
	if _, err := os.Stat(filepath.Join(b, "y")); err != nil {
		t.Fatal("existing target was touched")
	}
}

func TestLocksConflict(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k.lock")
	sh, err := TryShared(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryExclusive(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("exclusive under shared: %v", err)
	}
	sh2, err := TryShared(p)
	if err != nil {
		t.Fatalf("second shared: %v", err)
	}
	sh2.Close()
	sh.Close()
	ex, err := TryExclusive(p)
	if err != nil {
		t.Fatalf("exclusive after release: %v", err)
	}
	ex.Close()
	if err := ex.Close(); err == nil {
		t.Error("a second Close reported nothing")
	}
	var none *Lock
	if err := none.Close(); err != nil {
		t.Errorf("Close of a nil lock: %v", err)
	}
}

func TestSyncTree(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "f"), []byte("x"), 0o644)
	os.Symlink("f", filepath.Join(dir, "a", "b", "l"))
	if err := SyncTree(dir); err != nil {
		t.Fatal(err)
	}
	if err := syncEach(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncTree(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("SyncTree of a missing dir succeeded")
	}
	// A file beside the tree, synced with it; one that is not there is
	// an error, not a file taken as synced.
	beside := filepath.Join(t.TempDir(), "list")
	if err := ReplaceStaged(beside, []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := SyncTree(filepath.Join(dir, "a"), beside); err != nil {
		t.Fatalf("SyncTree with a file beside it: %v", err)
	}
	if err := SyncTree(dir, filepath.Join(dir, "gone")); err == nil {
		t.Fatal("SyncTree of a missing file beside the tree succeeded")
	}
}
