package testkit

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Writable gives the owner back the write bit of everything under dir,
// dir included (symlinks have no mode of their own). A published build is
// read-only (fsx.MakeReadOnly): root writes into it anyway, an ordinary
// user running the tests must call this first, to tamper with a build or
// to remove it.
func Writable(t testing.TB, dir string) {
	t.Helper()
	if err := writable(dir); err != nil {
		t.Fatalf("testkit: make %s writable: %v", dir, err)
	}
}

// WritableAtEnd makes dir Writable when t ends, before the cleanup of the
// t.TempDir that holds it (registered earlier, so run later) removes it:
// for a root whose builds are read-only. In a child RunAs started it does
// nothing: what the child made is its parent's to check, then remove.
func WritableAtEnd(t testing.TB, dir string) {
	t.Helper()
	if os.Getenv(childEnv) != "" {
		return
	}
	t.Cleanup(func() {
		// A root a test never made, or removed itself, is nothing to do;
		// anything else left read-only fails the TempDir cleanup, which
		// names it.
		_ = writable(dir)
	})
}

func writable(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if m := info.Mode(); m&0o200 == 0 {
			return os.Chmod(p, m.Perm()|0o200|m&(fs.ModeSetgid|fs.ModeSticky))
		}
		return nil
	})
}
