//go:build unix

package files

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rezup/rezup/cas/archive"
)

// TestScanRefusesWhatArchiveRefuses: what archive.Pack refuses to pack,
// Scan refuses to describe, naming it.
func TestScanRefusesWhatArchiveRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, root string) string // returns the offending name
	}{
		{"fifo", func(t *testing.T, root string) string {
			if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
				t.Fatal(err)
			}
			return "fifo"
		}},
		{"socket", func(t *testing.T, root string) string {
			l, err := net.Listen("unix", filepath.Join(root, "sock"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return "sock"
		}},
		{"setuid", func(t *testing.T, root string) string {
			p := filepath.Join(root, "bin", "su")
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte("x"), 0o755)
			if err := os.Chmod(p, 0o755|os.ModeSetuid); err != nil {
				t.Fatal(err)
			}
			return "bin/su"
		}},
		{"setgid", func(t *testing.T, root string) string {
			p := filepath.Join(root, "sg")
			os.WriteFile(p, []byte("x"), 0o755)
			if err := os.Chmod(p, 0o755|os.ModeSetgid); err != nil {
				t.Fatal(err)
			}
			return "sg"
		}},
		{"sticky", func(t *testing.T, root string) string {
			p := filepath.Join(root, "st")
			os.WriteFile(p, []byte("x"), 0o644)
			if err := os.Chmod(p, 0o644|os.ModeSticky); err != nil {
				t.Fatal(err)
			}
			return "st"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			name := tt.setup(t, root)
			_, err := Scan(root, testPrefix, ScanOptions{})
			if !errors.Is(err, archive.ErrUnsafe) || !strings.Contains(err.Error(), name) {
				t.Fatalf("err = %v, want ErrUnsafe naming %s", err, name)
			}
		})
	}
}

// TestScanDropsDirectoryBits: setgid and sticky directories (a shared
// build dir) scan as plain 0755 ones, as archive packs them.
func TestScanDropsDirectoryBits(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "shared")
	os.Mkdir(d, 0o755)
	if err := os.Chmod(d, 0o2775|os.ModeSetgid|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	ix, err := Scan(root, testPrefix, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e := ix.Entries[0]; e.Mode != 0o755 || e.Type != Dir {
		t.Errorf("%+v, want a 0755 directory", e)
	}
}
