// Package treetest writes and compares the file trees the archive and
// cache tests pack and unpack. Tests only.
package treetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/fsx"
)

// Node describes one entry of a test tree.
type Node struct {
	Name   string // slash-separated, relative to the root
	Kind   byte   // 'd' directory, 'f' file, 'l' symlink
	Perm   fs.FileMode
	Data   string // file contents, or symlink target
	MTime  time.Time
	NoMode bool // a symlink: perm does not apply
}

// at returns a time with a non-zero nanosecond part, distinct per i.
func At(i int) time.Time { return time.Unix(1_700_000_000+int64(i)*3600, int64(123_456_789+i)) }

// SampleTree is what a venv looks like, in miniature: an executable, an
// empty file, an empty directory, absolute symlinks to the base
// interpreter, relative symlinks, a symlink to a directory. Its modes are
// the canonical ones an archive records (archive.CanonicalMode), so it
// comes back from a round trip as it went in; OddModes is a tree whose
// modes do not.
func SampleTree() []Node {
	return []Node{
		{Name: "bin", Kind: 'd', Perm: 0o755, MTime: At(1)},
		{Name: "bin/python", Kind: 'l', Data: "/usr/bin/python3.11", MTime: At(2)},
		{Name: "bin/python3", Kind: 'l', Data: "python", MTime: At(3)},
		{Name: "bin/rez", Kind: 'f', Perm: 0o755, Data: "#!/usr/bin/env python\nprint('rez')\n", MTime: At(4)},
		{Name: "empty", Kind: 'd', Perm: 0o755, MTime: At(5)},
		{Name: "lib", Kind: 'd', Perm: 0o755, MTime: At(6)},
		{Name: "lib/python3.11", Kind: 'd', Perm: 0o755, MTime: At(7)},
		{Name: "lib/python3.11/site-packages", Kind: 'd', Perm: 0o755, MTime: At(8)},
		{Name: "lib/python3.11/site-packages/rez.py", Kind: 'f', Perm: 0o644, Data: strings.Repeat("import os\n", 1000), MTime: At(9)},
		{Name: "lib/python3.11/site-packages/rez.pyc", Kind: 'f', Perm: 0o644, Data: "\x00\x01binary\xff", MTime: At(10)},
		{Name: "lib64", Kind: 'l', Data: "lib", MTime: At(11)},
		{Name: "pyvenv.cfg", Kind: 'f', Perm: 0o644, Data: "home = /usr/bin\n", MTime: At(12)},
		{Name: "other", Kind: 'd', Perm: 0o755, MTime: At(13)},
		{Name: "other/inside", Kind: 'f', Perm: 0o644, Data: "", MTime: At(14)},
		{Name: "up", Kind: 'l', Data: "../outside/of/tree", MTime: At(15)},
	}
}

// OddModes is SampleTree with the modes a tree may have where it was
// built that are not canonical: read-only and private directories and
// files, group-writable ones (a umask of 002), an executable only its
// owner may run. Its owner can read all of it, so that it packs when the
// tests do not run as root. Canonical maps it to what a round trip gives.
func OddModes() []Node {
	perms := map[string]fs.FileMode{
		"bin":                                  0o775,
		"bin/rez":                              0o700,
		"empty":                                0o500, // not 0o000: its owner could not list it, unless root
		"lib":                                  0o555,
		"lib/python3.11":                       0o711,
		"lib/python3.11/site-packages/rez.py":  0o664,
		"lib/python3.11/site-packages/rez.pyc": 0o400,
		"pyvenv.cfg":                           0o444,
		"other":                                0o700,
		"other/inside":                         0o600,
	}
	nodes := SampleTree()
	for i, n := range nodes {
		if p, ok := perms[n.Name]; ok {
			nodes[i].Perm = p
		}
	}
	return nodes
}

// Canonical is nodes with the modes an archive records for them: 0755
// for directories and files with any execute bit, 0644 for other files.
func Canonical(nodes []Node) []Node {
	out := append([]Node(nil), nodes...)
	for i, n := range out {
		switch {
		case n.Kind == 'l':
		case n.Kind == 'd', n.Perm&0o111 != 0:
			out[i].Perm = 0o755
		default:
			out[i].Perm = 0o644
		}
	}
	return out
}

// writeTree creates nodes under root, then sets every mode and mtime
// (directories last, so that creating their contents does not move them).
// The tree is made removable again when the test ends: a user who is not
// root cannot remove what is inside a 0555 directory (the sample's
// "readonly"), so t.TempDir's cleanup would fail.
func WriteTree(t testing.TB, root string, nodes []Node) {
	t.Helper()
	t.Cleanup(func() { MakeRemovable(root) })
	for _, n := range nodes {
		p := filepath.Join(root, filepath.FromSlash(n.Name))
		var err error
		switch n.Kind {
		case 'd':
			err = os.MkdirAll(p, 0o755)
		case 'f':
			err = os.WriteFile(p, []byte(n.Data), 0o644)
		case 'l':
			err = os.Symlink(n.Data, p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		p := filepath.Join(root, filepath.FromSlash(n.Name))
		if n.Kind != 'l' {
			if err := os.Chmod(p, n.Perm); err != nil {
				t.Fatal(err)
			}
		}
		if err := fsx.Lchtimes(p, n.MTime); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot describes every entry under root: kind, mode, mtime to the
// nanosecond, and content hash or symlink target.
func Snapshot(t testing.TB, root string, symlinkTimes bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		mt := fi.ModTime().UTC().Format(time.RFC3339Nano)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if !symlinkTimes {
				mt = "-"
			}
			out[filepath.ToSlash(rel)] = fmt.Sprintf("symlink -> %s %s", target, mt)
		case fi.IsDir():
			out[filepath.ToSlash(rel)] = fmt.Sprintf("dir %v %s", fi.Mode(), mt)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[filepath.ToSlash(rel)] = fmt.Sprintf("file %v %s %s", fi.Mode(), mt, hex.EncodeToString(sum[:8]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func DiffSnapshots(t testing.TB, want, got map[string]string) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if want[n] != got[n] {
			t.Errorf("%s:\n  want %q\n  got  %q", n, want[n], got[n])
		}
	}
}

// makeRemovable undoes read-only directory modes so t.TempDir cleanup can
// remove the tree even when tests do not run as root.
func MakeRemovable(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700) // best effort: cleanup reports anything left
		}
		return nil
	})
}
