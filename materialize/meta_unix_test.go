//go:build unix

package materialize

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
	"github.com/rezup/rezup/internal/testkit"
)

// plantArchive publishes what an account that can write the cache could:
// the entry k of admin's store, changed by tamper first, packed as it is.
func plantArchive(t *testing.T, admin *Store, k cas.Key, tamper func(entryDir string)) {
	t.Helper()
	m, err := admin.ReadManifest(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := admin.opt.Root.EntryDir(k)
	testkit.Writable(t, dir) // a published build is read-only, but to root
	tamper(dir)
	// Not Store.pack: it packs the manifest it is given, not the one on
	// disk, which tamper may have changed.
	a, err := archive.PackFile(t.TempDir(), dir, archive.PackOptions{ModTime: packModTime})
	if err != nil {
		t.Fatal(err)
	}
	e := cache.Entry{Key: k, Prefix: m.Prefix, RezupVersion: "test", Created: time.Now().UTC(),
		Digest: a.Digest, Size: a.Size, Files: a.Files, Bytes: a.Bytes}
	if py, ok := m.Interpreters[m.RezPython]; ok {
		e.Interpreter = py.ID
	}
	if _, err := admin.opt.Cache.Publish(context.Background(), e, a); err != nil {
		t.Fatal(err)
	}
}

// An archive whose .rezup is a symlink out of the tree (to a directory
// holding a matching manifest) is refused: nothing outside is read as the
// manifest, nothing is written there, and no entry is made.
func TestFetchRefusesSymlinkedRezup(t *testing.T) {
	ctx := context.Background()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	k := cas.KeyOf([]byte("symlinked .rezup"))
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), sc, nil)
	fakeEntry(t, admin, k)
	outside := filepath.Join(t.TempDir(), "outside")
	plantArchive(t, admin, k, func(dir string) {
		if err := os.Rename(filepath.Join(dir, ".rezup"), outside); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(dir, ".rezup")); err != nil {
			t.Fatal(err)
		}
	})
	manifest := filepath.Join(outside, "manifest.json")
	before, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	// An older mtime, so that a rewrite with the same bytes would show.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(manifest, old, old)

	node := newStore(t, filepath.Join(t.TempDir(), "node"), sc, nil)
	_, err = node.made(ctx, Request{Key: k, Plan: nil})
	if !errors.Is(err, archive.ErrCorrupt) || !errors.Is(err, fsx.ErrNotRealDir) || !strings.Contains(err.Error(), ".rezup is a symlink") {
		t.Fatalf("err = %v; want ErrCorrupt saying .rezup is a symlink", err)
	}
	if node.ready(k) {
		t.Fatal("an entry was made from the archive")
	}
	after, err := os.ReadFile(manifest)
	fi, serr := os.Stat(manifest)
	if err != nil || serr != nil || !bytes.Equal(before, after) || !fi.ModTime().Equal(old) {
		t.Fatalf("the manifest outside was touched: %v %v", err, serr)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Fatalf("files written outside: %v", ents)
	}
}

// A store entry whose .rezup is a symlink (published by an older rezup)
// is not ready to use: its manifest is not read through the symlink.
func TestReadManifestRefusesSymlinkedRezup(t *testing.T) {
	s := newStore(t, t.TempDir(), nil, nil)
	k := cas.KeyOf([]byte("store symlink"))
	fakeEntry(t, s, k)
	dir := s.opt.Root.EntryDir(k)
	testkit.Writable(t, dir) // a published build is read-only, but to root
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.Rename(filepath.Join(dir, ".rezup"), outside); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, ".rezup")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadManifest(k); !errors.Is(err, fsx.ErrNotRealDir) {
		t.Fatalf("err = %v, want ErrNotRealDir", err)
	}
}

// Venv names in a manifest or a revision.json are plain names of venvs
// inside the entry: "../../../../usr" would put /usr/bin first on PATH.
func TestVenvNamesMustBePlain(t *testing.T) {
	tests := []struct {
		venv string
		ok   bool
	}{
		{"rez", true},
		{"my-ext_2.0", true},
		{"a..b", true},
		{"../../../../usr", false},
		{"..", false},
		{".", false},
		{"", false},
		{"/usr", false},
		{"a/b", false},
		{`a\b`, false},
		{"c:x", false},
		{"a\x00b", false},
	}
	for _, tt := range tests {
		err := checkVenvNames("revision.json", []string{"rez", tt.venv})
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrBadVenvName)) {
			t.Errorf("%q: err = %v, want ok %v", tt.venv, err, tt.ok)
		}
	}
}

func TestHostileVenvsRefused(t *testing.T) {
	ctx := context.Background()
	evil := []string{"rez", "../../../../usr"}

	t.Run("manifest in an archive", func(t *testing.T) {
		sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
		k := cas.KeyOf([]byte("hostile venvs"))
		admin := newStore(t, filepath.Join(t.TempDir(), "admin"), sc, nil)
		fakeEntry(t, admin, k)
		plantArchive(t, admin, k, func(dir string) { rewriteVenvs(t, filepath.Join(dir, ".rezup", "manifest.json"), evil) })
		node := newStore(t, filepath.Join(t.TempDir(), "node"), sc, nil)
		_, err := node.made(ctx, Request{Key: k, Plan: nil})
		if !errors.Is(err, archive.ErrCorrupt) || !errors.Is(err, ErrBadVenvName) || !strings.Contains(err.Error(), `"../../../../usr"`) {
			t.Fatalf("err = %v; want ErrCorrupt naming the venv", err)
		}
		if node.ready(k) {
			t.Fatal("an entry was made from the archive")
		}
	})

	t.Run("manifest in the store", func(t *testing.T) {
		s := newStore(t, t.TempDir(), nil, nil)
		k := cas.KeyOf([]byte("hostile store venvs"))
		fakeEntry(t, s, k)
		testkit.Writable(t, s.opt.Root.EntryDir(k)) // a published build is read-only, but to root
		rewriteVenvs(t, s.opt.Root.manifestPath(k), evil)
		if _, err := s.ReadManifest(k); !errors.Is(err, ErrBadVenvName) {
			t.Fatalf("err = %v, want ErrBadVenvName", err)
		}
	})

	t.Run("revision.json", func(t *testing.T) {
		root := Root{Dir: t.TempDir()}
		good, err := root.writeRevision("c", []byte("[rezup]\n"), Meta{Key: cas.KeyOf([]byte("a")), Venvs: []string{"rez"}}, time.Unix(1_700_000_000, 0))
		if err != nil {
			t.Fatal(err)
		}
		bad, err := root.writeRevision("c", []byte("[rezup]\n"), Meta{Key: cas.KeyOf([]byte("b")), Venvs: evil}, time.Unix(1_700_000_100, 0))
		if err != nil {
			t.Fatal(err)
		}
		latest, err := root.Latest("c")
		if err != nil {
			t.Fatal(err)
		}
		if latest.Name != good.Name || len(latest.Skipped) != 1 || !errors.Is(latest.Skipped[0].Err, ErrBadVenvName) {
			t.Fatalf("latest %s, skipped %+v; want %s, with %s skipped as unreadable", latest.Name, latest.Skipped, good.Name, bad.Name)
		}
		if _, err := root.Revision("c", bad.Name); !errors.Is(err, ErrBadVenvName) {
			t.Fatalf("Revision: err = %v, want ErrBadVenvName", err)
		}
	})
}

// revision.json as a FIFO makes the revision unreadable at once, never a
// launch that waits forever.
func TestRevisionJSONFIFO(t *testing.T) {
	root := Root{Dir: t.TempDir()}
	rev, err := root.writeRevision("c", []byte("[rezup]\n"), Meta{Key: cas.KeyOf([]byte("a")), Venvs: []string{"rez"}}, time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(rev.Dir, "revision.json")
	os.Remove(p)
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := root.Latest("c")
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Latest still blocked after 10s")
	}
	if !errors.Is(err, ErrNoRevision) || !strings.Contains(err.Error(), "FIFO") {
		t.Fatalf("err = %v; want no revision, saying revision.json is a FIFO", err)
	}
}

func rewriteVenvs(t *testing.T, path string, venvs []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["venvs"] = venvs
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := fsx.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A pyvenv.cfg whose home is a directory of the planter's choosing: its
// python3.X is never run (a pull promises not to launch anything), and the
// fetch fails naming the interpreter it will not run.
func TestFetchNeverRunsTheArchivesInterpreter(t *testing.T) {
	ctx := context.Background()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	k := cas.KeyOf([]byte("hostile home"))
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), sc, nil)
	fakeEntry(t, admin, k)
	m, err := admin.ReadManifest(k)
	if err != nil {
		t.Fatal(err)
	}
	mm := strings.Split(m.Interpreters[""].Version, ".")
	exe := "python" + mm[0] + "." + mm[1]
	attacker := t.TempDir()
	marker := filepath.Join(t.TempDir(), "ran")
	if err := os.WriteFile(filepath.Join(attacker, exe), []byte("#!/bin/sh\ntouch "+marker+"\nprintf "+m.Interpreters[""].Version+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plantArchive(t, admin, k, func(dir string) {
		cfg := filepath.Join(dir, "venv", "rez", "pyvenv.cfg")
		if err := fsx.WriteFile(cfg, []byte("home = "+attacker+"\nversion = "+m.Interpreters[""].Version+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	node := newStore(t, filepath.Join(t.TempDir(), "node"), sc, nil)
	_, err = node.made(ctx, Request{Key: k, Plan: nil})
	if _, serr := os.Stat(marker); serr == nil {
		t.Fatal("the interpreter the archive chose was run")
	}
	want := filepath.Join(attacker, exe) + " (python " + m.Interpreters[""].Version + ") is not an interpreter of this machine"
	if !errors.Is(err, pyenv.ErrNoPython) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v; want ErrNoPython saying %q", err, want)
	}
	if node.ready(k) {
		t.Fatal("an entry was made from the archive")
	}
}
