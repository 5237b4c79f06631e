package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestWriteNew(t *testing.T) {
	dir := t.TempDir()
	mtime := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	p := filepath.Join(dir, "f")
	// Read-only from the start: written through the descriptor that
	// created it all the same.
	if err := WriteNew(p, []byte("data"), Perm(0o444), mtime); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "data" {
		t.Fatalf("read %q, %v; want %q", got, err, "data")
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != Perm(0o444) {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), Perm(0o444))
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), mtime)
	}

	// Never over a file, nor through a symlink.
	if err := WriteNew(p, []byte("other"), 0o644, mtime); !errors.Is(err, fs.ErrExist) {
		t.Errorf("over a file: %v, want ErrExist", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "data" {
		t.Errorf("the file was changed: %q", got)
	}
	if runtime.GOOS == "windows" {
		return
	}
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteNew(link, []byte("through"), 0o644, mtime); !errors.Is(err, fs.ErrExist) {
		t.Errorf("at a dangling symlink: %v, want ErrExist", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the symlink's target was created: %v", err)
	}
}
