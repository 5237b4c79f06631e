//go:build unix

package fsx

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReadMeta(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	regular := write("entry.json", `{"key":"k"}`)
	exact := write("exact.json", strings.Repeat("x", 16))
	big := write("big.json", strings.Repeat("x", 17))
	symlink := filepath.Join(dir, "link.json")
	if err := os.Symlink(regular, symlink); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.json")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.json")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, path, want string
		wantErr          error
		msg              string
	}{
		{"regular", regular, `{"key":"k"}`, nil, ""},
		{"exactly the limit", exact, strings.Repeat("x", 16), nil, ""},
		{"over the limit", big, "", ErrTooLarge, "over the 16-byte limit"},
		{"symlink", symlink, "", ErrNotRegular, "is a symlink"},
		{"dangling symlink", dangling, "", ErrNotRegular, "is a symlink"},
		{"fifo", fifo, "", ErrNotRegular, "is a FIFO"},
		{"dev zero", "/dev/zero", "", ErrNotRegular, "is a character device"},
		{"directory", sub, "", ErrNotRegular, "is a directory"},
		{"missing", filepath.Join(dir, "none.json"), "", fs.ErrNotExist, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A FIFO or a device must be refused, not waited on or read
			// without end: run the read aside and fail if it does not
			// come back.
			type result struct {
				b   []byte
				err error
			}
			done := make(chan result, 1)
			go func() {
				b, err := ReadMeta(tt.path, 16)
				done <- result{b, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("ReadMeta(%s) still blocked after 10s", tt.path)
			}
			if tt.wantErr == nil {
				if r.err != nil || string(r.b) != tt.want {
					t.Fatalf("got %q, %v; want %q", r.b, r.err, tt.want)
				}
				return
			}
			if !errors.Is(r.err, tt.wantErr) || !strings.Contains(r.err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v with %q", r.err, tt.wantErr, tt.msg)
			}
			if strings.Contains(r.err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", r.err)
			}
		})
	}
}

func TestRealDir(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	for _, d := range []string{"a/b", "venv/rez"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(root, ".rezup")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("b", filepath.Join(root, "a", "c")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// root reached through a symlink is the caller's business.
	linkedRoot := filepath.Join(t.TempDir(), "root")
	if err := os.Symlink(root, linkedRoot); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		root, rel string
		wantErr   error
	}{
		{root, "", nil},
		{root, "a/b", nil},
		{linkedRoot, "venv/rez", nil},
		{root, ".rezup", ErrNotRealDir},
		{root, "a/c", ErrNotRealDir},
		{root, "file", ErrNotRealDir},
		{root, "../" + filepath.Base(outside), ErrNotRealDir},
		{root, outside, ErrNotRealDir},
		{root, "none", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.rel, func(t *testing.T) {
			err := RealDir(tt.root, tt.rel)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
