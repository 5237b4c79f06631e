//go:build unix

package materialize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/internal/pyenv"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/recipe"
)

// countingBackend counts the reads a cache makes of its backend: Open
// calls and body bytes, those of packs apart.
type countingBackend struct {
	backend.Backend
	mu               sync.Mutex
	opens, packOpens int
	bytes, packBytes int64
	packNames        map[string]bool
	openedNames      []string
}

func (b *countingBackend) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := b.Backend.Open(ctx, name, offset, length)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opens++
	b.openedNames = append(b.openedNames, name)
	pack := strings.HasPrefix(name, "packs/")
	if pack {
		b.packOpens++
	}
	if err != nil {
		return nil, err
	}
	return &countedBody{ReadCloser: rc, b: b, pack: pack}, nil
}

func (b *countingBackend) reset() (opens, packOpens int, bytes, packBytes int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	opens, packOpens, bytes, packBytes = b.opens, b.packOpens, b.bytes, b.packBytes
	b.opens, b.packOpens, b.bytes, b.packBytes, b.openedNames = 0, 0, 0, 0, nil
	return
}

type countedBody struct {
	io.ReadCloser
	b    *countingBackend
	pack bool
}

func (r *countedBody) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.b.mu.Lock()
	r.b.bytes += int64(n)
	if r.pack {
		r.b.packBytes += int64(n)
	}
	r.b.mu.Unlock()
	return n, err
}

// sharedModule is the body of shared module i: incompressible, the same
// in every build.
func sharedModule(i int) string {
	r := rand.New(rand.NewPCG(uint64(i), 22))
	var b strings.Builder
	b.WriteString("# shared module\nDATA = '")
	for range 12 << 10 {
		b.WriteByte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[r.IntN(62)])
	}
	b.WriteString("'\n")
	return b.String()
}

// deltaEntry writes a ready store entry by hand, as fakeEntry does, with
// files every such entry shares (40 modules of 12 KiB, an executable, an
// empty file, one content in both modes) and one of its own (variant).
func deltaEntry(t *testing.T, s *Store, k cas.Key, variant string) {
	t.Helper()
	py, err := pyenv.Probe(context.Background(), testkit.Python(t), os.Environ())
	if err != nil {
		t.Fatal(err)
	}
	final := s.opt.Root.EntryDir(k)
	staging, err := s.stage(k)
	if err != nil {
		t.Fatal(err)
	}
	venv := filepath.Join(staging, "venv", "rez")
	write := func(rel, body string, mode os.FileMode) {
		p := filepath.Join(venv, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(venv, "bin"), 0o755)
	// As venv writes it: its command names the venv, so the build's path.
	write("pyvenv.cfg", fmt.Sprintf("home = %s\nversion = %s\ncommand = %s -m venv %s\n",
		filepath.Dir(py.Executable), py.Version, py.Executable, filepath.Join(final, "venv", "rez")), 0o644)
	if err := os.Symlink(py.Executable, filepath.Join(venv, "bin", "python")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(final, "venv", "rez", "pyvenv.cfg"), filepath.Join(venv, "cfg-link")); err != nil {
		t.Fatal(err)
	}
	write("bin/rez/rez-env", pyenv.Shebang(filepath.Join(final, "venv", "rez", "bin", "python"), []string{"-E"})+
		"import sys\nprint(sys.flags.ignore_environment)\n", 0o755)
	big := strings.Repeat("# padding line of a large generated module\n", archive.RewriteMax/40)
	write("lib/big.py", big+"ROOT = '"+final+"/venv/rez'\n", 0o644)
	for i := range 40 {
		write(fmt.Sprintf("lib/pkg/mod%02d.py", i), sharedModule(i), 0o644)
	}
	write("bin/tool", "#!/bin/sh\necho tool\n", 0o755)
	write("lib/empty.py", "", 0o644)
	write("lib/same.txt", "same content, two modes\n", 0o644)
	write("bin/same", "same content, two modes\n", 0o755)
	write("lib/variant.py", "VARIANT = '"+variant+"'\n"+sharedModule(1000+len(variant)), 0o644)
	m := &Manifest{Key: k, Prefix: final, Venvs: []string{"rez"}, RezVersion: "2.113.0",
		Interpreters: map[string]pyenv.Interpreter{"": py}}
	if err := s.publish(staging, m); err != nil {
		t.Fatal(err)
	}
}

// deltaFixture is an admin that publishes in the files format to a
// directory cache, and the cache read through a counting backend.
type deltaFixture struct {
	dir   string
	admin *Store
	cnt   *countingBackend
}

func newDeltaFixture(t *testing.T, format string) *deltaFixture {
	dir := filepath.Join(t.TempDir(), "cache")
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), openCache(t, dir), nil)
	admin.opt.CacheFormat = format
	return &deltaFixture{dir: dir, admin: admin, cnt: &countingBackend{Backend: backend.NewDirBackend(dir, backend.DirOptions{})}}
}

func (f *deltaFixture) publish(t *testing.T, k cas.Key, variant string) cache.Entry {
	t.Helper()
	deltaEntry(t, f.admin, k, variant)
	e, err := f.admin.Publish(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *deltaFixture) node(t *testing.T, rep Reporter) *Store {
	return newStore(t, filepath.Join(t.TempDir(), "node"), cache.NewCache(f.cnt), rep)
}

// objectPath is where the object store of s keeps content b.
func objectPath(s *Store, b []byte, exec bool) string {
	d := cas.DigestOf(b).String()
	p := filepath.Join(objectsDir(s.opt.Root), d[:2], d)
	if exec {
		p += ".x"
	}
	return p
}

// A build published in the files format is fetched on a node by its
// index into the object store, its tree made of hard links to the
// objects, read-only, but for the files that hold the build's path:
// new files, relocated. A second build that shares most files costs the
// node only the contents it lacks.
func TestDeltaFetchLinksAndFetchesOnlyWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	f := newDeltaFixture(t, CacheFormatFiles)
	ka, kb := cas.KeyOf([]byte("delta A")), cas.KeyOf([]byte("delta B"))
	ea := f.publish(t, ka, "a")
	if !ea.HasIndex() || ea.HasArchive() || ea.Format != cache.FormatFiles {
		t.Fatalf("published entry %+v: want an index and no archive", ea)
	}
	rep := &debugReporter{}
	node := f.node(t, rep)
	start := time.Now()
	if _, err := node.made(ctx, Request{Key: ka}); err != nil {
		t.Fatal(err)
	}
	coldA := time.Since(start)
	_, packOpensA, _, packBytesA := f.cnt.reset()
	if packOpensA == 0 || packBytesA < 300<<10 {
		t.Fatalf("the cold fetch read %d bytes of packs in %d reads, want most of the 480 KiB of shared modules (6 bits a byte)", packBytesA, packOpensA)
	}
	if n := rep.count("fetched " + ka.String() + " from"); n != 1 {
		t.Fatalf("%d fetches: %q", n, rep.lines)
	}

	check := func(k cas.Key) {
		t.Helper()
		root := node.opt.Root.EntryDir(k)
		venv := filepath.Join(root, "venv", "rez")
		for _, c := range []struct {
			rel  string
			body string
			exec bool
		}{{"lib/pkg/mod07.py", sharedModule(7), false}, {"bin/tool", "#!/bin/sh\necho tool\n", true},
			{"lib/same.txt", "same content, two modes\n", false}, {"bin/same", "same content, two modes\n", true},
			{"lib/empty.py", "", false}} {
			p := filepath.Join(venv, c.rel)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			oi, err := os.Stat(objectPath(node, []byte(c.body), c.exec))
			if err != nil {
				t.Fatalf("%s: no object: %v", c.rel, err)
			}
			if !os.SameFile(fi, oi) {
				t.Errorf("%s is not a hard link of its object", c.rel)
			}
			if fi.Mode()&0o222 != 0 || (fi.Mode()&0o111 != 0) != c.exec {
				t.Errorf("%s has mode %v", c.rel, fi.Mode())
			}
		}
		// Relocated: the small ones as they were written (nothing renames
		// pyvenv.cfg while settle reads it), only the one over
		// archive.RewriteMax by settle.
		if n := rep.count(fmt.Sprintf("relocated 1 large file(s) of %s ", k)); n != 1 {
			t.Errorf("%d lines say settle relocated one file of %s, want 1 (lib/big.py): %q", n, k, rep.lines)
		}
		for _, rel := range []string{"bin/rez/rez-env", "lib/big.py", "pyvenv.cfg"} {
			p := filepath.Join(venv, rel)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), root) || strings.Contains(string(b), f.admin.opt.Root.EntryDir(k)) {
				t.Errorf("%s is not relocated to %s", rel, root)
			}
			if n := nlink(t, p); n != 1 {
				t.Errorf("%s, relocated, has %d links", rel, n)
			}
			if fi, _ := os.Stat(p); fi.Mode()&0o222 != 0 {
				t.Errorf("%s is writable: %v", rel, fi.Mode())
			}
		}
		if got, err := os.Readlink(filepath.Join(venv, "cfg-link")); err != nil || got != filepath.Join(root, "venv", "rez", "pyvenv.cfg") {
			t.Errorf("absolute symlink into the build: %q, %v", got, err)
		}
		m, err := node.ReadManifest(k)
		if err != nil || m.Prefix != root || m.Origin == nil || m.Origin.How != OriginFetched || m.Origin.Index == (cas.Digest{}) || m.Origin.Digest != (cas.Digest{}) {
			t.Fatalf("manifest %+v, %v", m, err)
		}
		// publish knew the tree without walking it: its counts are a
		// walk's (the relocated files as they are now), and nothing in
		// it is writable.
		if files, bytes, err := treeSize(root); err != nil || m.Files != files || m.Bytes != bytes {
			t.Errorf("manifest counts %d files, %d bytes; the tree holds %d, %d (%v)", m.Files, m.Bytes, files, bytes, err)
		}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Error(err)
				return err
			}
			if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink == 0 && fi.Mode()&0o222 != 0 && p != root {
				t.Errorf("%s is writable: %v", p, fi.Mode())
			}
			return nil
		})
		// The index is kept as the cache holds it, byte for byte.
		if kept, err := os.ReadFile(indexPath(node.opt.Root, k)); err != nil || cas.DigestOf(kept) != m.Origin.Index {
			t.Errorf("the index of %s is not kept as fetched (%v): digest %s, want %s", k, err, cas.DigestOf(kept), m.Origin.Index)
		}
		// The object list names what the tree links, from the index
		// (not hashed again): gc keeps those objects.
		list, err := node.ObjectList(k)
		if err != nil || len(list) == 0 || list.LinkedBytes() == 0 {
			t.Errorf("object list of %s: %d objects, %d linked bytes, %v", k, len(list), list.LinkedBytes(), err)
		}
		for ref, u := range list {
			if u.Links > 0 && !sameFileAsObject(t, node, ref) {
				t.Errorf("listed object %v (%d links) is linked by no file of the tree", ref.Digest, u.Links)
				break
			}
		}
		// Its files were verified as they were fetched: publish does not
		// hash them again (dedupe, which reads every file, did not run).
		if n := rep.count("shared the files of " + k.String()); n != 0 {
			t.Errorf("the files of %s, fetched by index, were hashed again to be shared: %q", k, rep.lines)
		}
	}
	check(ka)

	f.publish(t, kb, "b")
	// The executable object of a content the store has in the other mode
	// too is gone (as gc removes what no build links): it is copied from
	// that one, not fetched.
	if err := os.Remove(objectPath(node, []byte("same content, two modes\n"), true)); err != nil {
		t.Fatal(err)
	}
	f.cnt.reset()
	start = time.Now()
	if _, err := node.made(ctx, Request{Key: kb}); err != nil {
		t.Fatal(err)
	}
	warmB := time.Since(start)
	opens, packOpens, bytes, packBytes := f.cnt.reset()
	t.Logf("cold A: %d bytes of packs in %d reads, %v; warm B: %d bytes of packs in %d reads (%d bytes, %d reads in all), %v",
		packBytesA, packOpensA, coldA.Round(time.Millisecond), packBytes, packOpens, bytes, opens, warmB.Round(time.Millisecond))
	if packBytes*10 > packBytesA {
		t.Errorf("the second build read %d bytes of packs, more than a tenth of the first's %d", packBytes, packBytesA)
	}
	check(kb)
	for i := range 40 {
		pa := filepath.Join(node.opt.Root.EntryDir(ka), "venv", "rez", fmt.Sprintf("lib/pkg/mod%02d.py", i))
		pb := filepath.Join(node.opt.Root.EntryDir(kb), "venv", "rez", fmt.Sprintf("lib/pkg/mod%02d.py", i))
		fa, _ := os.Stat(pa)
		fb, _ := os.Stat(pb)
		if !os.SameFile(fa, fb) {
			t.Fatalf("mod%02d.py is two files in the two builds", i)
		}
	}
}

// A corrupted byte of a pack is refused as a corrupt archive is: the
// entry is a miss (built when there is a plan), nothing is published,
// and no object holds what its name does not say.
func TestDeltaCorruptPackRefused(t *testing.T) {
	ctx := context.Background()
	f := newDeltaFixture(t, CacheFormatFiles)
	k := cas.KeyOf([]byte("delta corrupt"))
	e := f.publish(t, k, "a")
	var packs []string
	filepath.WalkDir(filepath.Join(f.dir, "packs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			packs = append(packs, p)
		}
		return nil
	})
	if len(packs) == 0 {
		t.Fatal("no packs in the cache")
	}
	for _, p := range packs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x55
		os.Chmod(p, 0o644)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	node := f.node(t, nil)
	_, err := node.made(ctx, Request{Key: k})
	var re *RefusedError
	if !errors.As(err, &re) || !errors.Is(err, ErrNotCached) || !errors.Is(err, archive.ErrCorrupt) {
		t.Fatalf("corrupt pack: %v; want a *RefusedError wrapping ErrNotCached and ErrCorrupt", err)
	}
	if re.Digest != e.Index || !re.Index || !strings.Contains(err.Error(), "names index "+e.Index.String()) || strings.Contains(err.Error(), "\n") {
		t.Errorf("refused %s (%q), want the index %s named on one line", re.Digest, err, e.Index)
	}
	if node.ready(k) {
		t.Fatal("a refused entry became a store entry")
	}
	// Every object there is what its name says; no temp is left.
	filepath.WalkDir(objectsDir(node.opt.Root), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, rerr := os.ReadFile(p)
		name := strings.TrimSuffix(d.Name(), ".x")
		if rerr != nil || cas.DigestOf(b).String() != name {
			t.Errorf("object %s holds other bytes (%v)", p, rerr)
		}
		return nil
	})
	// Remembered: no second download.
	f.cnt.reset()
	if _, err := node.made(ctx, Request{Key: k}); !errors.As(err, &re) || !re.Remembered {
		t.Fatalf("second attempt: %v; want a remembered refusal", err)
	}
	if _, packOpens, _, _ := f.cnt.reset(); packOpens != 0 {
		t.Errorf("the refused entry was read again: %d pack reads", packOpens)
	}
}

// An archive-only entry (every cache before issue 22) is fetched as
// before, without the object store; an entry of both formats is fetched
// by its index, or by its archive on a node that prefers archives.
func TestDeltaArchiveEntriesAndBoth(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		format       string
		fetchArchive bool
		byIndex      bool
	}{
		{CacheFormatArchive, false, false},
		{"", false, false},
		{CacheFormatBoth, false, true},
		{CacheFormatBoth, true, false},
		{CacheFormatFiles, true, true}, // what there is
	} {
		t.Run(fmt.Sprintf("%s,fetchArchive=%v", tc.format, tc.fetchArchive), func(t *testing.T) {
			f := newDeltaFixture(t, tc.format)
			k := cas.KeyOf([]byte("delta formats"))
			e := f.publish(t, k, "a")
			if e.HasArchive() != (tc.format != CacheFormatFiles) || e.HasIndex() != (tc.format == CacheFormatFiles || tc.format == CacheFormatBoth) {
				t.Fatalf("format %q published %+v", tc.format, e)
			}
			node := f.node(t, nil)
			node.opt.FetchArchive = tc.fetchArchive
			if _, err := node.made(ctx, Request{Key: k}); err != nil {
				t.Fatal(err)
			}
			// The object store is there either way (an unpacked archive's
			// files are shared through it too): the pack reads tell.
			_, packOpens, _, _ := f.cnt.reset()
			if (packOpens > 0) != tc.byIndex {
				t.Errorf("pack reads %d; want fetched by index: %v", packOpens, tc.byIndex)
			}
			script := filepath.Join(node.opt.Root.EntryDir(k), "venv", "rez", "bin", "rez", "rez-env")
			if b, err := os.ReadFile(script); err != nil || !strings.Contains(string(b), node.opt.Root.EntryDir(k)) {
				t.Errorf("entry point not relocated (%v)", err)
			}
		})
	}
}

// With LinkMode Copy, no file of the build shares an inode with an
// object.
func TestDeltaLinkModeCopy(t *testing.T) {
	ctx := context.Background()
	f := newDeltaFixture(t, CacheFormatFiles)
	k := cas.KeyOf([]byte("delta copy"))
	f.publish(t, k, "a")
	node := f.node(t, nil)
	node.opt.LinkMode = objects.Copy
	if _, err := node.made(ctx, Request{Key: k}); err != nil {
		t.Fatal(err)
	}
	n := 0
	filepath.WalkDir(node.opt.Root.EntryDir(k), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
			if l := nlink(t, p); l != 1 {
				t.Errorf("%s has %d links", p, l)
			}
		}
		return nil
	})
	if n < 40 {
		t.Fatalf("%d files in the build", n)
	}
	// The kept index goes with the build.
	if _, err := os.Stat(indexPath(node.opt.Root, k)); err != nil {
		t.Fatal(err)
	}
	if err := node.RemoveEntry(k, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(indexPath(node.opt.Root, k)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the index of a removed build is left: %v", err)
	}
}

// `rezup add --remote` in the files format pins the index; a node that
// launches the revision fetches the pinned build by it, file by file.
func TestDeltaRemoteRevisionPinsTheIndex(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cache")
	admin := newAddFixture(t, openCache(t, dir))
	admin.s.opt.CacheFormat = CacheFormatFiles
	remote := &Root{Dir: filepath.Join(t.TempDir(), "remote"), Remote: true}
	pinned := admin.mustAdd(t, func(r *AddRequest) { r.Remote = remote })
	pin := pinned.Pin
	if pin == nil || !pin.HasIndex() || pin.HasArchive() || pin.Format != cache.FormatFiles {
		t.Fatalf("the remote revision pins %+v, want the index alone", pin)
	}
	rev, err := remote.Latest("lk")
	if err != nil || rev.Pin() == nil || rev.Pin().Index != pin.Index {
		t.Fatalf("the remote revision reads back as %+v, %v", rev, err)
	}

	rep := &countingReporter{}
	cnt := &countingBackend{Backend: backend.NewDirBackend(dir, backend.DirOptions{})}
	nodeRoot := filepath.Join(t.TempDir(), "node")
	testkit.WritableAtEnd(t, nodeRoot)
	node := New(Options{Root: Root{Dir: nodeRoot}, Environ: os.Environ(), Reporter: rep, Version: "test", PipCache: testkit.PipCache(t)})
	l := &Launcher{Store: node, Remote: remote, OpenCache: func(*recipe.Recipe) (*cache.Cache, error) { return cache.NewCache(cnt), nil }}
	target, err := l.Pick(context.Background(), "lk", false)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if rep.count("fetched") != 1 || rep.count("built") != 0 {
		t.Fatalf("want one fetch and no build: %q", rep.lines)
	}
	if _, packOpens, _, _ := cnt.reset(); packOpens == 0 {
		t.Error("no pack was read")
	}
	m, err := node.ReadManifest(target.Key())
	if err != nil || m.Origin == nil || !m.Origin.Pinned || m.Origin.Index != pin.Index {
		t.Fatalf("origin %+v, %v; want the pinned index %s", m.Origin, err, pin.Index)
	}
}

// A node with a plan builds over a corrupt pack (refused, once) and over a
// missing one (the cache's failure: a warning), as over a bad archive or
// an unreachable cache.
func TestDeltaBadPacksFallBackToThePlan(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, warning string
		spoil         func(t *testing.T, pack string)
	}{
		{"corrupt", "warning: the cache entry of ", func(t *testing.T, pack string) {
			b, err := os.ReadFile(pack)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x55
			os.Chmod(pack, 0o644)
			if err := os.WriteFile(pack, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing", "warning: fetch ", func(t *testing.T, pack string) {
			if err := os.Remove(pack); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newDeltaFixture(t, CacheFormatFiles)
			k := cas.KeyOf([]byte("delta fallback"))
			f.publish(t, k, "a")
			packs, _ := filepath.Glob(filepath.Join(f.dir, "packs", "*", "*.pack"))
			if len(packs) == 0 {
				t.Fatal("no pack")
			}
			tc.spoil(t, packs[0])
			rep := &countingReporter{}
			node := f.node(t, rep)
			plan := &Plan{Key: cas.KeyOf([]byte("another"))}
			_, err := node.made(ctx, Request{Key: k, Plan: plan})
			if err == nil || !strings.Contains(err.Error(), "the plan is for") {
				t.Fatalf("%v; want the build step", err)
			}
			if n := rep.count(tc.warning); n != 1 {
				t.Errorf("%d warnings %q, want 1: %q", n, tc.warning, rep.lines)
			}
			if node.ready(k) {
				t.Error("a build was made of a bad pack")
			}
		})
	}
}

// A remote revision that pins both an archive and an index is signed so
// that it verifies as it is and as a rezup that knows only archives reads
// it (without the index); one that pins an index alone, as it is.
func TestDeltaRevisionSignedForOldNodes(t *testing.T) {
	sk, pk, err := cache.GenerateKey("studio-1")
	if err != nil {
		t.Fatal(err)
	}
	k := cas.KeyOf([]byte("delta signed"))
	both := cache.Entry{Key: k, Digest: cas.DigestOf([]byte("archive")), Size: 7, Format: cache.FormatFiles, Index: cas.DigestOf([]byte("index")), IndexSize: 5}
	filesOnly := both
	filesOnly.Digest, filesOnly.Size = cas.Digest{}, 0
	for _, tc := range []struct {
		name     string
		pin      cache.Entry
		sigs     int
		oldNodes bool
	}{{"both", both, 2, true}, {"files", filesOnly, 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			root := Root{Dir: t.TempDir(), Remote: true}
			recipeBytes := []byte("[rez]\n")
			pin := tc.pin
			rev, err := root.writeLockedRevision("c", recipeBytes, nil, Meta{Key: k, Archive: &pin, Venvs: []string{"rez"}}, signT0, &sk)
			if err != nil {
				t.Fatal(err)
			}
			rev, err = root.Revision("c", rev.Name)
			if err != nil {
				t.Fatal(err)
			}
			if len(rev.Meta.Signatures) != tc.sigs {
				t.Errorf("%d signatures, want %d", len(rev.Meta.Signatures), tc.sigs)
			}
			msg, err := revisionStatement("c", rev.Name, *rev.Meta, recipeBytes, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cache.VerifySignatures("new", msg, rev.Meta.Signatures, []cache.PublicKey{pk}); err != nil {
				t.Errorf("as it is: %v", err)
			}
			// What an older rezup reads: the pin without format and index.
			old := *rev.Meta
			op, ok := old.Archive.ArchiveOnly()
			if !ok {
				return
			}
			old.Archive = &op
			msg, err = revisionStatement("c", rev.Name, old, recipeBytes, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := cache.VerifySignatures("old", msg, rev.Meta.Signatures, []cache.PublicKey{pk}); (err == nil) != tc.oldNodes {
				t.Errorf("as an older rezup reads it: %v", err)
			}
		})
	}
}

// An entry of both formats whose packs are bad is fetched by its archive:
// the index refused (a warning), the archive unpacked.
func TestDeltaBothFallsBackToTheArchive(t *testing.T) {
	ctx := context.Background()
	f := newDeltaFixture(t, CacheFormatBoth)
	k := cas.KeyOf([]byte("delta both fallback"))
	e := f.publish(t, k, "a")
	packs, _ := filepath.Glob(filepath.Join(f.dir, "packs", "*", "*.pack"))
	for _, p := range packs {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if len(packs) == 0 {
		t.Fatal("no pack")
	}
	rep := &countingReporter{}
	node := f.node(t, rep)
	m, err := node.made(ctx, Request{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	if m.Origin == nil || m.Origin.Digest != e.Digest || m.Origin.Index != (cas.Digest{}) {
		t.Errorf("origin %+v, want the archive %s", m.Origin, e.Digest)
	}
	if n := rep.count("warning: "); n != 1 || !strings.Contains(strings.Join(rep.lines, "\n"), "fetching its archive "+e.Digest.String()+" instead") {
		t.Errorf("%d warnings, want 1 naming the archive: %q", n, rep.lines)
	}
	if n := rep.count("fetched"); n != 1 {
		t.Errorf("%d fetches: %q", n, rep.lines)
	}
}

// A publish over bases whose packs went from the cache (a collector
// removed them) packs everything anew: the build is published whole, and
// a node fetches it.
func TestDeltaPublishWithoutItsBasesPacks(t *testing.T) {
	ctx := context.Background()
	f := newDeltaFixture(t, CacheFormatFiles)
	ka, kb := cas.KeyOf([]byte("delta base A")), cas.KeyOf([]byte("delta base B"))
	f.publish(t, ka, "a")
	packs, _ := filepath.Glob(filepath.Join(f.dir, "packs", "*", "*.pack"))
	if len(packs) == 0 {
		t.Fatal("no pack")
	}
	for _, p := range packs {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	eb := f.publish(t, kb, "b")
	if !eb.HasIndex() {
		t.Fatalf("B published as %+v", eb)
	}
	node := f.node(t, nil)
	if _, err := node.made(ctx, Request{Key: kb}); err != nil {
		t.Fatalf("fetch B: %v", err)
	}
	if _, packOpens, _, packBytes := f.cnt.reset(); packOpens == 0 || packBytes < 300<<10 {
		t.Errorf("B was fetched in %d reads of %d bytes: want it whole", packOpens, packBytes)
	}
}

// sameFileAsObject reports whether the object ref of node's store has
// hard links besides its own name: a build's files.
func sameFileAsObject(t *testing.T, node *Store, ref ObjectRef) bool {
	t.Helper()
	d := ref.Digest.String()
	p := filepath.Join(objectsDir(node.opt.Root), d[:2], d)
	if ref.Exec {
		p += ".x"
	}
	return nlink(t, p) > 1
}
