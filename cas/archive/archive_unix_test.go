//go:build unix

package archive

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestPackRefuses(t *testing.T) {
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			name := tt.setup(t, root)
			_, err := Pack(io.Discard, root, PackOptions{})
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), name) {
				t.Fatalf("err = %v, want ErrUnsafe naming %s", err, name)
			}
		})
	}
	t.Run("not a directory", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, nil, 0o644)
		if _, err := Pack(io.Discard, p, PackOptions{}); err == nil {
			t.Fatal("packed a file as a tree")
		}
	})
}
