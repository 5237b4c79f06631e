//go:build unix

package materialize

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/internal/pyenv"
	"github.com/rezup/rezup/internal/testkit"
)

// sharing compares the regular files of two builds path by path: which
// are one inode, and which are not. The manifest is left out.
func sharing(t *testing.T, a, b string) (shared, own []string) {
	t.Helper()
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		if !d.Type().IsRegular() || rel == filepath.Join(".rezup", manifestName[len(".rezup/"):]) {
			return nil
		}
		fa, err := os.Stat(p)
		if err != nil {
			return err
		}
		fb, err := os.Stat(filepath.Join(b, rel))
		if err != nil {
			return err
		}
		if os.SameFile(fa, fb) {
			shared = append(shared, rel)
		} else {
			own = append(own, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return shared, own
}

func nlink(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Nlink)
}

// diskUse is what du counts for the trees under roots: the blocks of each
// inode once, however many hard links it has.
func diskUse(t *testing.T, roots ...string) int64 {
	n, _ := diskUseDirs(t, roots...)
	return n
}

// diskUseDirs is diskUse, and what of it is directories.
func diskUseDirs(t *testing.T, roots ...string) (n, dirs int64) {
	t.Helper()
	seen := map[[2]uint64]bool{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(p)
			if err != nil {
				return err
			}
			st := fi.Sys().(*syscall.Stat_t)
			id := [2]uint64{uint64(st.Dev), uint64(st.Ino)}
			if !seen[id] {
				seen[id] = true
				n += st.Blocks * 512
				if d.IsDir() {
					dirs += st.Blocks * 512
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return n, dirs
}

// Two real builds of the same packages (a --fresh add draws a new key)
// share their files' inodes through the object store: every file but
// those that name the build's prefix (the production entry points, the
// venv's scripts, pyvenv.cfg; never a pyc) or differ (RECORD files, which hash those)
// is one inode for both, read-only, also linked from .store/objects; the
// prefixed ones are each build's own, never links. Both launch.
func TestBuildsShareFiles(t *testing.T) {
	t.Parallel()
	f := newAddFixture(t, nil)
	first := f.mustAdd(t, nil)
	fresh := f.mustAdd(t, func(r *AddRequest) { r.Fresh = true })
	r := f.s.opt.Root
	a, b := r.EntryDir(first.Manifest.Key), r.EntryDir(fresh.Manifest.Key)
	shared, own := sharing(t, a, b)
	if len(shared) == 0 || len(shared) < 4*len(own) {
		t.Fatalf("%d file(s) shared, %d not: want most shared\nnot: %s", len(shared), len(own), strings.Join(own, "\n"))
	}
	for _, rel := range own {
		data, err := os.ReadFile(filepath.Join(a, rel))
		if err != nil {
			t.Fatal(err)
		}
		other, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case pyenv.IsBytecode(rel):
			// Compiled relative to the build (staged.compile): the pycs
			// of two builds of the same sources are the same bytes,
			// whatever their keys, so a new revision shares them.
			t.Errorf("%s, bytecode, differs between two builds of the same packages (names the prefix: %t)", rel, bytes.Contains(data, []byte(a)))
		case bytes.Contains(data, []byte(a)):
			if n := nlink(t, filepath.Join(a, rel)); n != 1 {
				t.Errorf("%s names the prefix, and has %d links", rel, n)
			}
		case bytes.Equal(data, other):
			// RECORD files differ without naming the prefix: they hash
			// the scripts that do.
			t.Errorf("%s is the same in both builds, does not name the prefix, and is not shared", rel)
		}
	}
	for _, rel := range shared {
		p := filepath.Join(a, rel)
		if n := nlink(t, p); n < 3 {
			t.Errorf("%s: %d links, want the object's and both builds'", rel, n)
		}
		if data, _ := os.ReadFile(p); bytes.Contains(data, []byte(a)) {
			t.Errorf("%s names the prefix, and is shared", rel)
		}
	}
	for _, m := range []*Manifest{first.Manifest, fresh.Manifest} {
		e := r.EntryDir(m.Key)
		if w := writable(t, e); len(w) > 0 {
			t.Errorf("%s is not read-only:\n%s", e, strings.Join(w, "\n"))
		}
		l, err := f.s.ObjectList(m.Key)
		if err != nil || len(l) == 0 {
			t.Errorf("object list of %s: %d object(s), %v", m.Key, len(l), err)
		}
		if got := f.s.EntryBytes(m.Key); got >= m.Bytes || got != m.Bytes-l.LinkedBytes() {
			t.Errorf("EntryBytes %d of %d bytes, %d linked: the linked bytes count with the objects", got, m.Bytes, l.LinkedBytes())
		}
		// A launch: the production entry point runs the venv's python,
		// which imports rez from the linked files.
		out, err := exec.Command(filepath.Join(prodBin(e, "rez"), "rez-env"), "--version").Output()
		if err != nil {
			t.Fatalf("launch %s: %v\n%s", e, err, out)
		}
		var rep testkit.RezReport
		if err := json.Unmarshal(out, &rep); err != nil || !rep.IgnoreEnvironment || !strings.HasPrefix(rep.Executable, e) {
			t.Errorf("launch %s: %+v, %v\n%s", e, rep, err, out)
		}
	}
	// What du counts for both builds and the objects: the shared files once.
	one, both := diskUse(t, a), diskUse(t, a, b, r.ObjectsDir())
	t.Logf("du: one build %d KiB, two builds and their objects %d KiB (%.2fx)", one>>10, both>>10, float64(both)/float64(one))
	if float64(both) > 1.5*float64(one) {
		t.Errorf("two builds use %d bytes, one %d: want much less than twice", both, one)
	}
}

// stagedBuild publishes a build of files by hand, as a build or a fetch
// does once its tree is complete: "@PREFIX@" in a file becomes the build's
// prefix. It returns the build's directory.
func stagedBuild(t *testing.T, s *Store, k cas.Key, files map[string]string) string {
	t.Helper()
	staging, err := s.stage(k)
	if err != nil {
		t.Fatal(err)
	}
	final := s.opt.Root.EntryDir(k)
	for rel, body := range files {
		p := filepath.Join(staging, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(rel, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(body, "@PREFIX@", final)), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.publish(staging, &Manifest{Key: k, Prefix: final}); err != nil {
		t.Fatal(err)
	}
	return final
}

var sharedFiles = map[string]string{
	"lib/a.py":    "a = 1\n",
	"lib/big.bin": strings.Repeat("\x00big", 1<<16),
	"bin/tool":    "#!/bin/sh\necho tool\n",
	// The prefix straddles the scanner's reads of 256 KiB.
	"lib/far.py": strings.Repeat("#", 256<<10-12) + "R = '@PREFIX@'\n",
	"bin/script": "#!@PREFIX@/bin/python\n",
}

func linkStore(t *testing.T, mode objects.LinkMode, rep Reporter) *Store {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	testkit.WritableAtEnd(t, root)
	return New(Options{Root: Root{Dir: root}, LinkMode: mode, Reporter: rep, PipCache: testkit.PipCache(t)})
}

// In every link mode two builds have the same files, read-only, and those
// that name the prefix are never links; hardlink mode shares the others'
// inodes, copy mode none and makes no object store.
func TestLinkModes(t *testing.T) {
	for _, mode := range []objects.LinkMode{objects.Hardlink, objects.Clone, objects.Copy} {
		t.Run(mode.String(), func(t *testing.T) {
			s := linkStore(t, mode, nil)
			a := stagedBuild(t, s, cas.KeyOf([]byte("a")), maps.Clone(sharedFiles))
			b := stagedBuild(t, s, cas.KeyOf([]byte("b")), maps.Clone(sharedFiles))
			shared, own := sharing(t, a, b)
			slices.Sort(shared)
			slices.Sort(own)
			want := []string{"bin/tool", "lib/a.py", "lib/big.bin"}
			if mode != objects.Hardlink {
				want = nil
			}
			if !slices.Equal(shared, want) {
				t.Errorf("shared %v, want %v (own %v)", shared, want, own)
			}
			for _, rel := range []string{"bin/script", "lib/far.py"} {
				if n := nlink(t, filepath.Join(a, rel)); n != 1 {
					t.Errorf("%s names the prefix and has %d links", rel, n)
				}
			}
			for rel, body := range sharedFiles {
				got, err := os.ReadFile(filepath.Join(b, rel))
				if err != nil || string(got) != strings.ReplaceAll(body, "@PREFIX@", b) {
					t.Errorf("%s: %.40q, %v", rel, got, err)
				}
			}
			if w := writable(t, b); len(w) > 0 {
				t.Errorf("not read-only:\n%s", strings.Join(w, "\n"))
			}
			if out, err := exec.Command(filepath.Join(b, "bin", "tool")).Output(); err != nil || string(out) != "tool\n" {
				t.Errorf("bin/tool: %q, %v", out, err)
			}
			_, err := os.Stat(s.opt.Root.ObjectsDir())
			if (mode == objects.Copy) != os.IsNotExist(err) {
				t.Errorf("object store: %v", err)
			}
		})
	}
}

// An object store on another filesystem (a tmpfs, or the disk when the
// temp dir is a tmpfs) cannot be
// hard-linked: each file is cloned or copied instead, and the build is
// complete and read-only all the same. -D counts the fallbacks.
func TestObjectsOnAnotherFilesystem(t *testing.T) {
	rep := &linkReporter{}
	s := linkStore(t, objects.Hardlink, rep)
	if err := os.MkdirAll(s.opt.Root.StoreDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	other := testkit.OtherFilesystem(t, s.opt.Root.StoreDir())
	if err := os.Symlink(other, s.opt.Root.ObjectsDir()); err != nil {
		t.Fatal(err)
	}
	a := stagedBuild(t, s, cas.KeyOf([]byte("a")), maps.Clone(sharedFiles))
	b := stagedBuild(t, s, cas.KeyOf([]byte("b")), maps.Clone(sharedFiles))
	if shared, _ := sharing(t, a, b); len(shared) != 0 {
		t.Errorf("shared across filesystems: %v", shared)
	}
	for rel, body := range sharedFiles {
		got, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || string(got) != strings.ReplaceAll(body, "@PREFIX@", b) {
			t.Errorf("%s: %.40q, %v", rel, got, err)
		}
	}
	if w := writable(t, b); len(w) > 0 {
		t.Errorf("not read-only:\n%s", strings.Join(w, "\n"))
	}
	if !rep.said("0 hard-linked, 0 cloned, 3 copied") {
		t.Errorf("-D does not count the copies:\n%s", strings.Join(rep.lines, "\n"))
	}
	if len(rep.warnings) > 0 {
		t.Errorf("warned: %v", rep.warnings)
	}
}

// An object rewritten in place (by its owner, after a chmod) is not linked
// into a new build: the build keeps its own file, with the right bytes,
// and the user is warned once. Objects the build puts are verified by Put;
// those already there are read once before the build links them (Has
// trusts names, and costs one lstat).
func TestCorruptObjectIsNotLinked(t *testing.T) {
	rep := &linkReporter{}
	s := linkStore(t, objects.Hardlink, rep)
	a := stagedBuild(t, s, cas.KeyOf([]byte("a")), maps.Clone(sharedFiles))
	p := filepath.Join(a, "lib", "a.py")
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("a = 2\n"), 0o644); err != nil { // the object too: one inode
		t.Fatal(err)
	}
	b := stagedBuild(t, s, cas.KeyOf([]byte("b")), maps.Clone(sharedFiles))
	q := filepath.Join(b, "lib", "a.py")
	if got, err := os.ReadFile(q); err != nil || string(got) != "a = 1\n" {
		t.Errorf("new build's lib/a.py: %q, %v", got, err)
	}
	if n := nlink(t, q); n != 1 {
		t.Errorf("new build's lib/a.py has %d links: linked to the corrupt object", n)
	}
	if len(rep.warnings) != 1 || !strings.Contains(rep.warnings[0], objects.ErrCorrupt.Error()) {
		t.Errorf("warnings: %q", rep.warnings)
	}
	if shared, _ := sharing(t, a, b); !slices.Contains(shared, "lib/big.bin") {
		t.Errorf("the other files are not shared: %v", shared)
	}
}

// A build whose object store fails (here: its directory is a file) is
// published with its own files, after one warning.
func TestDedupeFailureDegrades(t *testing.T) {
	rep := &linkReporter{}
	s := linkStore(t, objects.Hardlink, rep)
	if err := os.MkdirAll(s.opt.Root.StoreDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.opt.Root.ObjectsDir(), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	k := cas.KeyOf([]byte("a"))
	a := stagedBuild(t, s, k, maps.Clone(sharedFiles))
	if n := nlink(t, filepath.Join(a, "lib", "big.bin")); n != 1 {
		t.Errorf("%d links", n)
	}
	if len(rep.warnings) != 1 {
		t.Errorf("warnings: %q", rep.warnings)
	}
	if _, err := s.ReadManifest(k); err != nil {
		t.Error(err)
	}
}

type linkReporter struct {
	mu                     sync.Mutex
	lines, warnings, infos []string
}

func (r *linkReporter) Infof(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.infos = append(r.infos, fmt.Sprintf(f, a...))
}
func (r *linkReporter) Warnf(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, fmt.Sprintf(f, a...))
}
func (r *linkReporter) Debugf(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(f, a...))
}
func (r *linkReporter) Progress(string, archive.Progress, archive.Progress) {}

func (r *linkReporter) said(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.lines, func(l string) bool { return strings.Contains(l, sub) })
}

// distinctContent is the size of the distinct contents of the regular
// files under roots: each content once, in bytes and in 4 KiB blocks.
func distinctContent(t *testing.T, roots ...string) (size, blocks int64) {
	t.Helper()
	seen := map[cas.Digest]bool{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if dg := cas.DigestOf(data); !seen[dg] {
				seen[dg] = true
				size += int64(len(data))
				blocks += (int64(len(data)) + 4095) / 4096 * 4096
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return size, blocks
}

// The disk figure of issue 22: ten builds of the same packages under ten
// keys, fetched into one root (relocated, then shared), use on disk (du,
// each inode once) little more than their distinct content, against ten
// times one build without the object store.
func TestDiskUseOfTenBuilds(t *testing.T) {
	t.Parallel()
	testkit.SkipShort(t, "slow: a real build, packed under ten keys and fetched ten times (TestBuildsShareFiles covers two builds)")
	ctx := context.Background()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	f := newAddFixture(t, nil)
	built := f.mustAdd(t, nil)
	m := built.Manifest
	node := newStore(t, filepath.Join(t.TempDir(), "node"), sc, nil)
	var entries []string
	for i := range 10 {
		k := cas.KeyOf(fmt.Appendf(nil, "disk use %d", i))
		packed := *m
		packed.Key, packed.Created, packed.Origin = k, time.Time{}, nil
		mb, err := json.MarshalIndent(&packed, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		a, err := archive.PackFile(t.TempDir(), f.s.opt.Root.EntryDir(m.Key), archive.PackOptions{Override: map[string][]byte{manifestName: mb}})
		if err != nil {
			t.Fatal(err)
		}
		e := cache.Entry{Key: k, Prefix: m.Prefix, Digest: a.Digest, Size: a.Size, Files: a.Files, Bytes: a.Bytes, Created: time.Now().UTC()}
		if _, err := sc.Publish(ctx, e, a); err != nil {
			t.Fatal(err)
		}
		if _, err := node.made(ctx, Request{Key: k}); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, node.opt.Root.EntryDir(k))
	}
	one := diskUse(t, entries[0])
	all, dirs := diskUseDirs(t, append(entries, node.opt.Root.ObjectsDir())...)
	size, blocks := distinctContent(t, entries...)
	files := all - dirs
	t.Logf("10 builds: du %.1f MiB (files %.1f MiB, directories %.1f MiB); distinct content %.1f MiB (%.1f MiB in 4 KiB blocks); one build %.1f MiB, so 10 copies %.1f MiB",
		mib(all), mib(files), mib(dirs), mib(size), mib(blocks), mib(one), 10*mib(one))
	t.Logf("du / distinct content: %.2fx (its blocks: %.2fx; files only: %.2fx); du / 10 copies: %.2f",
		float64(all)/float64(size), float64(all)/float64(blocks), float64(files)/float64(blocks), float64(all)/float64(10*one))
	// Each build has its own directories (4 KiB each, about a third of
	// this small build's du): what is shared is the files.
	if float64(files) > 1.2*float64(blocks) {
		t.Errorf("10 builds' files use %.2fx their distinct content's blocks, want at most 1.2x", float64(files)/float64(blocks))
	}
	if float64(all) > 0.2*float64(10*one) {
		t.Errorf("10 builds use %.2f of 10 copies, want at most 0.2", float64(all)/float64(10*one))
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// A build takes the object store's lock before its first Put and keeps it
// until it is published: while gc holds it exclusively, the build waits
// (saying so), and goes on once gc lets go.
func TestBuildWaitsForGCsObjectPhase(t *testing.T) {
	rep := &linkReporter{}
	s := linkStore(t, objects.Hardlink, rep)
	if err := os.MkdirAll(s.opt.Root.StoreDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	gcLock, err := s.LockObjects(context.Background(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	k := cas.KeyOf([]byte("a"))
	done := make(chan string)
	go func() { done <- stagedBuild(t, s, k, maps.Clone(sharedFiles)) }()
	waiting := func() bool {
		rep.mu.Lock()
		defer rep.mu.Unlock()
		return slices.ContainsFunc(rep.infos, func(l string) bool { return strings.Contains(l, "waiting for gc") })
	}
	for !waiting() {
		select {
		case <-done:
			t.Fatal("the build was published while gc held the object store")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if st, err := s.Objects(); err == nil && st != nil {
		n := 0
		_ = st.Walk(func(objects.Object) error { n++; return nil })
		if n != 0 {
			t.Errorf("%d objects put while gc held the store", n)
		}
	}
	gcLock.Close()
	a := <-done
	if n := nlink(t, filepath.Join(a, "lib", "big.bin")); n != 2 {
		t.Errorf("lib/big.bin: %d links, want the object's and the build's", n)
	}
}
