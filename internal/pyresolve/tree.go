package pyresolve

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TreeHash is the content hash of the source directory root, in hex: the
// sha256 of a listing that has, for each regular file and symlink in
// walk order (sorted by name within each directory), its kind, its executable bit, its path and
// the sha256 of its bytes (or its link target). Directories count only by
// what they hold, and only the executable bit of a mode counts, as in git:
// the same checkout hashes the same under any umask, on any machine.
//
// Left out, as build outputs and caches that do not change what is built:
// .git, .hg, .svn, __pycache__, .tox, .nox, .venv and *.egg-info
// directories anywhere, *.pyc and *.pyo files, a .git file (a worktree's), and build/ and dist/ at the
// top. Other special files (sockets, FIFOs) are skipped.
func TreeHash(root string) (string, error) {
	info, err := os.Stat(root)
	if err != nil {
		return "", fmt.Errorf("hash directory %s: %w", root, err)
	}
	if !info.IsDir() {
		return "", fmt.Errorf("hash directory %s: not a directory", root)
	}
	h := sha256.New()
	io.WriteString(h, "rezup-tree/1\x00")
	// WalkDir visits entries in lexical order, which makes the listing
	// sorted by relative path.
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		name := d.Name()
		if d.IsDir() {
			if skipDir(rel, name) {
				return filepath.SkipDir
			}
			return nil
		}
		if name == ".git" || strings.HasSuffix(name, ".pyc") || strings.HasSuffix(name, ".pyo") {
			return nil
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "l\x00%s\x00%s\x00", rel, filepath.ToSlash(target))
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			sum, err := fileSHA256(p)
			if err != nil {
				return err
			}
			exec := "-"
			if info.Mode()&0o111 != 0 {
				exec = "x"
			}
			fmt.Fprintf(h, "f\x00%s\x00%s\x00%s\x00", exec, rel, sum)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash directory %s: %w", root, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func skipDir(rel, name string) bool {
	switch name {
	case ".git", ".hg", ".svn", "__pycache__", ".tox", ".nox", ".venv":
		return true
	}
	return strings.HasSuffix(name, ".egg-info") || rel == "build" || rel == "dist"
}
