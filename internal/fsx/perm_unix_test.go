//go:build unix

package fsx

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Perm must give what the kernel gives a plain create under the same
// umask, and the atomic writers must end with that mode too.
func TestPermMatchesTheKernel(t *testing.T) {
	dir := t.TempDir()
	for i, tc := range []struct {
		mode fs.FileMode
		dir  bool
	}{
		{0o666, false},
		{0o777, false}, // an executable
		{0o444, false},
		{0o777, true},
	} {
		p := filepath.Join(dir, string(rune('a'+i)))
		var err error
		if tc.dir {
			err = os.Mkdir(p, tc.mode)
		} else {
			var f *os.File
			f, err = os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, tc.mode)
			if err == nil {
				f.Close()
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := Perm(tc.mode), fi.Mode().Perm(); got != want {
			t.Errorf("Perm(%#o) = %#o, the kernel made %#o (umask %#o)", tc.mode, got, want, Umask())
		}
		if tc.dir {
			continue
		}
		w := filepath.Join(dir, "w"+string(rune('a'+i)))
		if err := WriteFile(w, []byte("x"), tc.mode); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(w); err != nil || fi.Mode().Perm() != Perm(tc.mode) {
			t.Errorf("WriteFile(%#o) made %v (err %v), want %#o", tc.mode, fi.Mode().Perm(), err, Perm(tc.mode))
		}
	}
}

// readUmask must read the mask the process has, whatever it is; Umask
// caches the first answer, so readUmask is what is checked under others.
func TestReadUmask(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for _, m := range []int{0o022, 0o002, 0o077, 0o027, 0} {
		syscall.Umask(m)
		if got := readUmask(); got != fs.FileMode(m) {
			t.Errorf("umask %#o: readUmask = %#o", m, got)
		}
	}
}
