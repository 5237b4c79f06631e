package cas

import (
	"archive/tar"
	"bytes"
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

	"github.com/klauspost/compress/zstd"
)

// node describes one entry of a test tree.
type node struct {
	name   string // slash-separated, relative to the root
	kind   byte   // 'd' directory, 'f' file, 'l' symlink
	perm   fs.FileMode
	data   string // file contents, or symlink target
	mtime  time.Time
	nomode bool // a symlink: perm does not apply
}

// at returns a time with a non-zero nanosecond part, distinct per i.
func at(i int) time.Time { return time.Unix(1_700_000_000+int64(i)*3600, int64(123_456_789+i)) }

// sampleTree is what a venv looks like, in miniature: an executable, a
// read-only file, an empty directory, a read-only directory, absolute
// symlinks to the base interpreter, relative symlinks, a symlink to a
// directory.
func sampleTree() []node {
	return []node{
		{name: "bin", kind: 'd', perm: 0o755, mtime: at(1)},
		{name: "bin/python", kind: 'l', data: "/usr/bin/python3.11", mtime: at(2)},
		{name: "bin/python3", kind: 'l', data: "python", mtime: at(3)},
		{name: "bin/rez", kind: 'f', perm: 0o755, data: "#!/usr/bin/env python\nprint('rez')\n", mtime: at(4)},
		{name: "empty", kind: 'd', perm: 0o700, mtime: at(5)},
		{name: "lib", kind: 'd', perm: 0o755, mtime: at(6)},
		{name: "lib/python3.11", kind: 'd', perm: 0o755, mtime: at(7)},
		{name: "lib/python3.11/site-packages", kind: 'd', perm: 0o755, mtime: at(8)},
		{name: "lib/python3.11/site-packages/rez.py", kind: 'f', perm: 0o644, data: strings.Repeat("import os\n", 1000), mtime: at(9)},
		{name: "lib/python3.11/site-packages/rez.pyc", kind: 'f', perm: 0o644, data: "\x00\x01binary\xff", mtime: at(10)},
		{name: "lib64", kind: 'l', data: "lib", mtime: at(11)},
		{name: "pyvenv.cfg", kind: 'f', perm: 0o444, data: "home = /usr/bin\n", mtime: at(12)},
		{name: "readonly", kind: 'd', perm: 0o555, mtime: at(13)},
		{name: "readonly/inside", kind: 'f', perm: 0o600, data: "", mtime: at(14)},
		{name: "up", kind: 'l', data: "../outside/of/tree", mtime: at(15)},
	}
}

// writeTree creates nodes under root, then sets every mode and mtime
// (directories last, so that creating their contents does not move them).
func writeTree(t testing.TB, root string, nodes []node) {
	t.Helper()
	for _, n := range nodes {
		p := filepath.Join(root, filepath.FromSlash(n.name))
		var err error
		switch n.kind {
		case 'd':
			err = os.MkdirAll(p, 0o755)
		case 'f':
			err = os.WriteFile(p, []byte(n.data), 0o644)
		case 'l':
			err = os.Symlink(n.data, p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		p := filepath.Join(root, filepath.FromSlash(n.name))
		if n.kind != 'l' {
			if err := os.Chmod(p, n.perm); err != nil {
				t.Fatal(err)
			}
		}
		if err := lchtimes(p, n.mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot describes every entry under root: kind, mode, mtime to the
// nanosecond, and content hash or symlink target.
func snapshot(t testing.TB, root string, symlinkTimes bool) map[string]string {
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

func diffSnapshots(t testing.TB, want, got map[string]string) {
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

// packTree packs root into memory and returns the archive and its digest.
func packTree(t testing.TB, root string, opt PackOptions) ([]byte, Digest, PackStats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Pack(&buf, root, opt)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), DigestOf(buf.Bytes()), st
}

// rawEntry is one entry of a hand-written (possibly hostile) tar.
type rawEntry struct {
	hdr  tar.Header
	data string
	// noData writes the header only, leaving the stream truncated where
	// the data should be (a header that lies about its size).
	noData bool
}

// handTar writes entries with archive/tar and compresses them with zstd,
// with none of Pack's checks: the way an attacker would.
func handTar(t testing.TB, entries ...rawEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	truncated := false
	for _, e := range entries {
		h := e.hdr
		if h.Format == tar.FormatUnknown {
			h.Format = tar.FormatPAX
		}
		if h.ModTime.IsZero() && h.Typeflag != tar.TypeXGlobalHeader {
			h.ModTime = at(0)
		}
		if h.Typeflag == tar.TypeReg && h.Size == 0 && !e.noData {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("write header %q: %v", h.Name, err)
		}
		if e.noData {
			truncated = true
			break
		}
		if _, err := tw.Write([]byte(e.data)); err != nil {
			t.Fatalf("write %q: %v", h.Name, err)
		}
	}
	if !truncated {
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
	} else if err := tw.Flush(); err == nil {
		t.Fatal("flush of a truncated tar succeeded")
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, data string) rawEntry {
	return rawEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, data: data}
}

func dir(name string) rawEntry {
	return rawEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func symlink(name, target string) rawEntry {
	return rawEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

// makeRemovable undoes read-only directory modes so t.TempDir cleanup can
// remove the tree even when tests do not run as root.
func makeRemovable(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700) // best effort: cleanup reports anything left
		}
		return nil
	})
}
