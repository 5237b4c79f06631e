package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// A recipe path that is a directory is a recipe error (exit 2) saying
// what to do; a root that is a file is a disk error whose hint is about
// the root, never "fix the recipe".
func TestRecipeDirAndRootFile(t *testing.T) {
	t.Parallel()
	s, wh := newUser(t)
	if err := os.Mkdir(filepath.Join(s.Home, "rezup.toml"), 0o755); err != nil {
		t.Fatal(err)
	}
	res := s.Run("add", "--skip-use")
	if res.Code != 2 || !strings.Contains(res.Stderr, "rezup.toml: is a directory, not a recipe file: remove it or make it a file") {
		t.Fatalf("recipe dir: exit %d, stderr:\n%s", res.Code, res.Stderr)
	}
	if err := os.Remove(filepath.Join(s.Home, "rezup.toml")); err != nil {
		t.Fatal(err)
	}

	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	rootFile := filepath.Join(t.TempDir(), "root")
	if err := os.WriteFile(rootFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Env["REZUP_ROOT_LOCAL"] = rootFile
	res = s.Run("add", "--skip-use")
	if res.Code != 1 || !strings.Contains(res.Stderr, "rezup: hint: a path rezup needs as a directory is a file") || strings.Contains(res.Stderr, "fix the recipe") {
		t.Fatalf("root is a file: exit %d, stderr:\n%s", res.Code, res.Stderr)
	}
}

// Disk errors get a disk hint whatever hint the command attached; a
// command that cannot be launched keeps its own.
func TestDiskHints(t *testing.T) {
	build := func(err error) error {
		return withHint(fmt.Errorf("build k: %w", err), "fix the recipe r or the package index it uses")
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no space", build(&fs.PathError{Op: "write", Path: "/r/.tmp/x", Err: syscall.ENOSPC}), "the disk (or your quota) is full"},
		{"quota", build(&fs.PathError{Op: "write", Path: "/r/.tmp/x", Err: syscall.EDQUOT}), "the disk (or your quota) is full"},
		{"read-only", build(&fs.PathError{Op: "mkdir", Path: "/r/.store", Err: syscall.EROFS}), "read-only"},
		{"permission", build(&fs.PathError{Op: "mkdir", Path: "/r/.store", Err: syscall.EACCES}), "permission denied on the path above"},
		{"root is a file", build(&fs.PathError{Op: "mkdir", Path: "/r/.store", Err: syscall.ENOTDIR}), "is a file"},
		{"pip failed", build(errors.New("pip install failed (exit 1)")), "fix the recipe"},
		{"command not executable", withHint(&fs.PathError{Op: "fork/exec", Path: "./job", Err: syscall.EACCES}, "make it executable"), "make it executable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hintFor(tt.err); !strings.Contains(got, tt.want) {
				t.Fatalf("hint %q, want one with %q", got, tt.want)
			}
			if code := exitCode(tt.err); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
		})
	}
}
