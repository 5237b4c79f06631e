//go:build linux

package materialize

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
)

// These tests run part of themselves as other accounts (testkit.Account):
// what an account may do to files is the kernel's to say, and root, which
// the tests run as, may do anything.

// plainEntry publishes into s a ready entry of k with no venv (so that no
// interpreter is needed wherever it is fetched): a few directories and
// files, one of them executable, and its manifest.
func plainEntry(t *testing.T, s *Store, k cas.Key) {
	t.Helper()
	staging, err := s.stage(k)
	if err != nil {
		t.Fatal(err)
	}
	for rel, body := range map[string]string{
		"lib/a/b/mod.py": "X = 1\n",
		"lib/a/data.txt": "built at " + s.opt.Root.EntryDir(k) + "\n",
		"bin/tool":       "#!/bin/sh\necho tool\n",
	} {
		p := filepath.Join(staging, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(staging, "bin", "tool"), fsx.Perm(0o777)); err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Key: k, Prefix: s.opt.Root.EntryDir(k), RezVersion: "2.113.0", Created: time.Now().UTC(), Origin: &Origin{How: OriginBuilt}}
	if err := s.publish(staging, m); err != nil {
		t.Fatal(err)
	}
}

// rewriteModes is archive src (tar + zstd) with each header passed through
// edit first: what an account that can write an unauthenticated cache can
// publish, modes Pack never writes included.
func rewriteModes(t *testing.T, src []byte, edit func(h *tar.Header)) []byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		edit(h)
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// plantHostileModes publishes, as the only entry of k in a new cache at
// cacheDir, k's archive from the cache of admin with hostile modes: every
// directory 0555 or 0000, .rezup 0555, every file 0000 but the manifest.
func plantHostileModes(t *testing.T, admin *Store, k cas.Key, cacheDir string) cache.Entry {
	t.Helper()
	ctx := context.Background()
	e, err := admin.Publish(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(admin.opt.Cache.String(), k.String(), e.Digest.String()+archive.Ext))
	if err != nil {
		t.Fatal(err)
	}
	bad := rewriteModes(t, src, func(h *tar.Header) {
		switch {
		case h.Typeflag == tar.TypeDir && (h.Name == ".rezup/" || strings.Count(h.Name, "/") == 1):
			h.Mode = 0o555
		case h.Typeflag == tar.TypeDir:
			h.Mode = 0o000
		case h.Name == manifestName:
			h.Mode = 0o444
		default:
			h.Mode = 0o000
		}
	})
	p := filepath.Join(t.TempDir(), "hostile"+archive.Ext)
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	a := archive.Archive{Path: p, Digest: cas.DigestOf(bad), Size: int64(len(bad)), PackStats: archive.PackStats{Files: e.Files, Bytes: e.Bytes}}
	planted := e
	planted.Digest, planted.Size, planted.RezupVersion = a.Digest, a.Size, "hostile"
	if _, err := openCache(t, cacheDir).Publish(ctx, planted, a); err != nil {
		t.Fatal(err)
	}
	return planted
}

// An archive whose directories say 0000 or 0555 (an unauthenticated
// cache) is fetched by an account that is not root as any other: it is
// not refused for its modes, it does not fail with "permission denied",
// it is published read-only, the next launch does not download it again,
// nothing is left in .tmp, and its owner can remove it. Before, the fetch
// failed, was tried again at every launch, and left staging its owner
// could not delete.
func TestHostileModesFetchedByAnAccount(t *testing.T) {
	ctx := context.Background()
	k := cas.KeyOf([]byte("hostile modes"))
	if arg, ok := testkit.Child(t); ok {
		cacheDir, nodeRoot, _ := strings.Cut(arg, "|")
		rep := &countingReporter{}
		for i := range 2 { // two launches: two processes' stores
			node := newStore(t, nodeRoot, openCache(t, cacheDir), rep)
			m, err := node.made(ctx, Request{Key: k})
			if err != nil {
				t.Fatalf("launch %d: %v", i+1, err)
			}
			if m.Origin == nil || m.Origin.How != OriginFetched {
				t.Fatalf("origin %+v, want fetched", m.Origin)
			}
		}
		if n := rep.count("fetching"); n != 1 {
			t.Errorf("%d downloads in two launches, want 1: %q", n, rep.lines)
		}
		node := newStore(t, nodeRoot, openCache(t, cacheDir), nil)
		entry := node.opt.Root.EntryDir(k)
		if w := writable(t, entry); len(w) > 0 {
			t.Errorf("not read-only:\n%s", strings.Join(w, "\n"))
		}
		if b, err := os.ReadFile(filepath.Join(entry, "lib", "a", "b", "mod.py")); err != nil || string(b) != "X = 1\n" {
			t.Errorf("a file under a 0000 directory: %q, %v", b, err)
		}
		if left, err := node.opt.Root.TmpLeftovers(); err != nil || len(left) != 0 {
			t.Errorf("left in .tmp: %+v, %v", left, err)
		}
		if err := node.RemoveEntry(k, nil); err != nil {
			t.Fatalf("removing its own read-only build: %v", err)
		}
		if ents, err := os.ReadDir(node.opt.Root.TmpDir()); err != nil || len(ents) != 0 {
			t.Errorf(".tmp holds %v (%v), want nothing", ents, err)
		}
		return
	}

	base := testkit.SharedDir(t)
	admin := newStore(t, filepath.Join(base, "admin"), openCache(t, filepath.Join(base, "admin-cache")), nil)
	plainEntry(t, admin, k)
	cacheDir := filepath.Join(base, "cache")
	plantHostileModes(t, admin, k, cacheDir)
	nodeRoot := filepath.Join(base, "node")
	testkit.Nobody.RunAs(t, cacheDir+"|"+nodeRoot)
	if _, err := os.Stat(filepath.Join(nodeRoot, ".store", k.String())); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the build is still there: %v", err)
	}
}

// What a crashed older rezup left in .tmp (an unpack's staging with
// directories nobody can enter, trash with read-only ones) is removed by
// its owner, with no store left to hold the staging's lock in.
func TestLeftoversWithClosedDirectories(t *testing.T) {
	k := cas.KeyOf([]byte("leftovers"))
	if arg, ok := testkit.Child(t); ok {
		s := newStore(t, arg, nil, nil)
		left, err := s.opt.Root.TmpLeftovers()
		if err != nil || len(left) != 2 {
			t.Fatalf("leftovers %+v, %v; want the staging and the trash", left, err)
		}
		for _, l := range left {
			if err := s.RemoveLeftover(l); err != nil {
				t.Errorf("%s: %v", l.Kind, err)
			}
		}
		if ents, err := os.ReadDir(s.opt.Root.TmpDir()); err != nil || len(ents) != 0 {
			t.Errorf(".tmp holds %v (%v), want nothing", ents, err)
		}
		return
	}
	root := filepath.Join(testkit.SharedDir(t), "root")
	tmp := filepath.Join(root, ".tmp")
	staging := filepath.Join(tmp, entryStaging(k)+"old")
	trash := filepath.Join(tmp, "trash-old")
	modes := map[string]fs.FileMode{
		root: 0o755, tmp: 0o755,
		staging: 0o700, filepath.Join(staging, "venv"): 0o000, filepath.Join(staging, "venv", "lib"): 0o000,
		trash: 0o555, filepath.Join(trash, "venv"): 0o555,
	}
	for d := range modes {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(staging, "venv", "lib", "mod.py"), filepath.Join(trash, "venv", "pyvenv.cfg")} {
		if err := os.WriteFile(f, nil, 0o444); err != nil {
			t.Fatal(err)
		}
		testkit.Nobody.Chown(t, f)
	}
	for d, m := range modes {
		testkit.Nobody.Chown(t, d)
		if err := os.Chmod(d, m); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Nobody.RunAs(t, root)
}

// In a group-shared root (group-writable, umask 002), .store, .tmp and
// revisions get the sticky bit, and each member's build is read-only: a
// member can launch another's build, but neither write into it, chmod it,
// rename it aside nor remove it, or another's revision; removals say
// whose it is. Each member removes its own read-only builds; drop keeps
// the builds of others and refuses a container holding their revisions.
func TestGroupSharedRoot(t *testing.T) {
	ctx := context.Background()
	k1, k2, k3 := cas.KeyOf([]byte("member1's")), cas.KeyOf([]byte("member2's")), cas.KeyOf([]byte("member1's, unused"))
	t0 := time.Unix(1_700_000_000, 0)
	if arg, ok := testkit.Child(t); ok {
		phase, rest, _ := strings.Cut(arg, "|")
		root, cacheDir, _ := strings.Cut(rest, "|")
		s := newStore(t, root, openCache(t, cacheDir), nil)
		r := s.opt.Root
		switch phase {
		case "member1 builds":
			for _, k := range []cas.Key{k1, k3} {
				if _, err := s.made(ctx, Request{Key: k}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := r.writeRevision("c1", []byte("[rez]\n"), Meta{Key: k1}, t0); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{r.StoreDir(), r.TmpDir(), r.RevisionsDir("c1")} {
				if fi, err := os.Stat(d); err != nil || fi.Mode()&fs.ModeSticky == 0 || fi.Mode().Perm() != 0o775 {
					t.Errorf("%s: %v (%v), want drwxrwxr-t", d, fi.Mode(), err)
				}
			}
		case "member2 intrudes":
			h, err := s.Materialize(ctx, Request{Key: k1}) // launching it is fine
			if err != nil {
				t.Fatal(err)
			}
			h.Close()
			entry := r.EntryDir(k1)
			mod := filepath.Join(entry, "lib", "a", "b", "mod.py")
			for what, err := range map[string]error{
				"add a file":        os.WriteFile(filepath.Join(entry, "lib", "evil.py"), nil, 0o666),
				"edit a file":       appendTo(mod),
				"chmod it":          os.Chmod(filepath.Join(entry, "lib"), 0o777),
				"rename it in":      os.Rename(entry, entry+"-aside"),
				"rename it to .tmp": os.Rename(entry, filepath.Join(r.TmpDir(), "aside")),
				"remove its lock":   os.Remove(r.LockPath(k1)),
			} {
				if !errors.Is(err, fs.ErrPermission) {
					t.Errorf("%s of member1's build: %v, want permission denied", what, err)
				}
			}
			if err := s.RemoveEntry(k1, nil); !errors.Is(err, fsx.ErrNotOwner) || !strings.Contains(err.Error(), "belongs to another account (uid 64101)") {
				t.Errorf("RemoveEntry of member1's build: %v, want ErrNotOwner naming uid 64101", err)
			}
			if err := s.Repair(k1); !errors.Is(err, fsx.ErrNotOwner) {
				t.Errorf("Repair of member1's build: %v, want ErrNotOwner", err)
			}
			rev, err := r.Latest("c1")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.RemoveRevision(rev, nil); !errors.Is(err, fsx.ErrNotOwner) {
				t.Errorf("RemoveRevision of member1's: %v, want ErrNotOwner", err)
			}
			if _, err := s.Drop(ctx, "c1", true); !errors.Is(err, fsx.ErrNotOwner) {
				t.Errorf("drop of member1's container: %v, want ErrNotOwner", err)
			}
			// Its own container, on member1's builds and on its own.
			if _, err := s.made(ctx, Request{Key: k2}); err != nil {
				t.Fatal(err)
			}
			for i, k := range []cas.Key{k1, k2, k3} {
				if _, err := r.writeRevision("c2", []byte("[rez]\n"), Meta{Key: k}, t0.Add(time.Duration(i)*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.Drop(ctx, "c2", false)
			if err != nil {
				t.Fatal(err)
			}
			// k1 stays as c1 uses it; k3, used by nothing now, as member1's.
			if res.Revisions != 3 || len(res.Entries) != 1 || res.Entries[0] != k2 || len(res.Others) != 1 || res.Others[0] != k3 {
				t.Errorf("drop c2: %+v; want 3 revisions, %s removed, %s kept as member1's", res, k2, k3)
			}
		case "member1 removes":
			if err := s.RemoveEntry(k1, nil); err != nil {
				t.Fatalf("member1 removing its own read-only build: %v", err)
			}
			rev, err := r.Latest("c1")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.RemoveRevision(rev, nil); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unknown phase %q", phase)
		}
		return
	}

	base := testkit.SharedDir(t)
	admin := newStore(t, filepath.Join(base, "admin"), openCache(t, filepath.Join(base, "cache")), nil)
	for _, k := range []cas.Key{k1, k2, k3} {
		plainEntry(t, admin, k)
		if _, err := admin.Publish(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	// The group's root, as an admin makes one: group-writable, setgid.
	root := filepath.Join(base, "shared")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(root, 0, testkit.Team); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o2775); err != nil {
		t.Fatal(err)
	}
	// A .tmp member1 made before rezup set sticky bits: it gets one too.
	tmp := filepath.Join(root, ".tmp")
	if err := os.Mkdir(tmp, 0o775); err != nil {
		t.Fatal(err)
	}
	testkit.Member1.Chown(t, tmp)
	if err := os.Chmod(tmp, 0o775); err != nil {
		t.Fatal(err)
	}
	arg := root + "|" + filepath.Join(base, "cache")
	testkit.Member1.RunAs(t, "member1 builds|"+arg)
	testkit.Member2.RunAs(t, "member2 intrudes|"+arg)
	s := newStore(t, root, nil, nil)
	for _, k := range []cas.Key{k1, k3} {
		if _, err := s.ReadManifest(k); err != nil {
			t.Errorf("member1's build after member2's attempts: %v", err)
		}
		if w := writable(t, s.opt.Root.EntryDir(k)); len(w) > 0 {
			t.Errorf("member1's build is not read-only:\n%s", strings.Join(w, "\n"))
		}
	}
	if _, err := os.Stat(s.opt.Root.EntryDir(k2)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("member2's dropped build: %v", err)
	}
	testkit.Member1.RunAs(t, "member1 removes|"+arg)
	for _, p := range []string{s.opt.Root.EntryDir(k1), s.opt.Root.LockPath(k1)} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still there: %v", p, err)
		}
	}
}

func appendTo(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	return f.Close()
}
