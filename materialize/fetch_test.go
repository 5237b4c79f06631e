package materialize

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
	"github.com/rezup/rezup/internal/testkit"
)

// countingReporter counts the "fetched" and "built" reports.
type countingReporter struct {
	mu    sync.Mutex
	lines []string
}

func (r *countingReporter) Infof(f string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(f, a...))
}
func (r *countingReporter) Warnf(f string, a ...any)                            { r.Infof("warning: "+f, a...) }
func (r *countingReporter) Debugf(string, ...any)                               {}
func (r *countingReporter) Progress(string, archive.Progress, archive.Progress) {}

func (r *countingReporter) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// fakeEntry writes a ready store entry by hand, as a build would lay it
// out, without pip: a venv whose pyvenv.cfg names the real interpreter and
// an entry point whose shebang holds the entry's prefix.
func fakeEntry(t *testing.T, s *Store, k cas.Key) {
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
	write("pyvenv.cfg", fmt.Sprintf("home = %s\nversion = %s\n", filepath.Dir(py.Executable), py.Version), 0o644)
	if err := os.Symlink(py.Executable, filepath.Join(venv, "bin", "python")); err != nil {
		t.Fatal(err)
	}
	write("bin/rez/rez-env", pyenv.Shebang(filepath.Join(final, "venv", "rez", "bin", "python"), []string{"-E"})+
		"import sys\nprint(sys.flags.ignore_environment)\n", 0o755)
	// Files too large for Unpack to hand to the relocator in memory: a
	// text file naming the prefix, and a binary one.
	big := strings.Repeat("# padding line of a large generated module\n", archive.RewriteMax/40)
	write("lib/big.py", big+"ROOT = '"+final+"/venv/rez'\n", 0o644)
	write("lib/_big.so", "\x00ELF"+big+final+"\x00", 0o755)
	m := &Manifest{Key: k, Prefix: final, Venvs: []string{"rez"}, RezVersion: "2.113.0",
		Interpreters: map[string]pyenv.Interpreter{"": py}}
	if err := s.publish(staging, m); err != nil {
		t.Fatal(err)
	}
}

// newStore is a store in root, whose read-only builds are made removable
// again when the test ends.
func newStore(t *testing.T, root string, sc *cache.Cache, rep Reporter) *Store {
	testkit.WritableAtEnd(t, root)
	return New(Options{Root: Root{Dir: root}, Environ: os.Environ(), Cache: sc, Reporter: rep, Version: "test", PipCache: testkit.PipCache(t)})
}

func TestFetchRelocatesAndBuildsOnce(t *testing.T) {
	ctx := context.Background()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	k := cas.KeyOf([]byte("fetch test"))
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), sc, nil)
	fakeEntry(t, admin, k)
	if _, err := admin.Publish(ctx, k); err != nil {
		t.Fatal(err)
	}

	// A node root long enough that the shebang switches form.
	rep := &countingReporter{}
	node := newStore(t, filepath.Join(t.TempDir(), strings.Repeat("x", 120)), sc, rep)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = node.made(ctx, Request{Key: k, Plan: nil})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := rep.count("fetched"); n != 1 {
		t.Errorf("%d fetches for 8 concurrent Ensure, want 1", n)
	}
	m, err := node.ReadManifest(k)
	if err != nil {
		t.Fatal(err)
	}
	if m.Prefix != node.opt.Root.EntryDir(k) {
		t.Errorf("manifest prefix %s, want %s", m.Prefix, node.opt.Root.EntryDir(k))
	}
	// Counted from what the unpack wrote, relocated files included, as a
	// walk of the build counts them.
	if files, bytes, err := treeSize(node.opt.Root.EntryDir(k)); err != nil || m.Files != files || m.Bytes != bytes {
		t.Errorf("manifest counts %d files, %d bytes; the build holds %d, %d (%v)", m.Files, m.Bytes, files, bytes, err)
	}
	script := filepath.Join(node.opt.Root.EntryDir(k), "venv", "rez", "bin", "rez", "rez-env")
	out, err := exec.Command(script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("relocated entry point: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(script); !strings.HasPrefix(string(b), "#!/bin/sh\n") {
		t.Errorf("long shebang not in the /bin/sh form:\n%s", b)
	}
	newPrefix := node.opt.Root.EntryDir(k)
	b, err := os.ReadFile(filepath.Join(newPrefix, "venv", "rez", "lib", "big.py"))
	if want := "ROOT = '" + newPrefix + "/venv/rez'\n"; err != nil || !strings.HasSuffix(string(b), want) {
		t.Errorf("large text file not relocated (%v): ends %q, want %q", err, b[max(0, len(b)-len(want)):], want)
	}
	if n := rep.count("warning: 1 binary file(s) hold the build path"); n != 1 ||
		!strings.Contains(strings.Join(rep.lines, "\n"), "e.g. "+filepath.Join(newPrefix, "venv", "rez", "lib", "_big.so")) {
		t.Errorf("the large binary holding the prefix was reported %d times, want once, by its final path: %q", n, rep.lines)
	}
	// Its files share the object store: the small ones hashed as they
	// were unpacked, the large ones read once unpacked; those that name
	// the new prefix (relocated) are its own. All read-only.
	venv := filepath.Join(newPrefix, "venv", "rez")
	for rel, shared := range map[string]bool{"pyvenv.cfg": true, "lib/_big.so": true, "bin/rez/rez-env": false, "lib/big.py": false} {
		p := filepath.Join(venv, rel)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("%s: mode %v, want read-only", rel, fi.Mode())
		}
		if got := sameAsAnObject(t, node.opt.Root.ObjectsDir(), fi); got != shared {
			t.Errorf("%s: an object's inode: %v, want %v", rel, got, shared)
		}
	}
	if l, err := node.ObjectList(k); err != nil || len(l) != 2 {
		t.Errorf("object list: %v (%v), want the 2 shared files' objects", l, err)
	}
}

// sameAsAnObject tells whether fi is the inode of an object in dir.
func sameAsAnObject(t *testing.T, dir string, fi os.FileInfo) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if ofi, err := os.Stat(p); err == nil && os.SameFile(fi, ofi) {
			found = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestEnsureMissAndCorrupt(t *testing.T) {
	ctx := context.Background()
	cacheDir := filepath.Join(t.TempDir(), "cache")
	sc := openCache(t, cacheDir)
	node := newStore(t, filepath.Join(t.TempDir(), "node"), sc, nil)

	if _, err := node.made(ctx, Request{Key: cas.KeyOf([]byte("nowhere"))}); !errors.Is(err, ErrNotCached) {
		t.Fatalf("miss without a plan: %v, want ErrNotCached", err)
	}

	k := cas.KeyOf([]byte("corrupt test"))
	corruptDir, e := publishedCorrupt(t, k)
	node = newStore(t, filepath.Join(t.TempDir(), "node2"), openCache(t, corruptDir), nil)

	_, err := node.made(ctx, Request{Key: k, Plan: nil})
	if !errors.Is(err, archive.ErrCorrupt) || !strings.Contains(err.Error(), k.String()) || !strings.Contains(err.Error(), e.Digest.String()) {
		t.Fatalf("corrupt archive: %v; want ErrCorrupt naming key and digest", err)
	}
	if node.ready(k) {
		t.Fatal("a corrupt archive became a store entry")
	}
	if left, _ := node.opt.Root.TmpLeftovers(); len(left) != 1 || left[0].Kind != LeftoverRefused {
		t.Errorf("leftovers: %+v; want only the mark of the refused archive", left)
	}
}

// A stale staging dir (a builder killed mid-way) is cleared under the lock
// by the next materializer, and never mistaken for an entry.
func TestStaleStagingCleared(t *testing.T) {
	ctx := context.Background()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	k := cas.KeyOf([]byte("stale test"))
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), sc, nil)
	fakeEntry(t, admin, k)
	if _, err := admin.Publish(ctx, k); err != nil {
		t.Fatal(err)
	}
	node := newStore(t, filepath.Join(t.TempDir(), "node"), sc, nil)
	stale, err := node.stage(k)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(stale, "half"), []byte("x"), 0o644)
	if node.ready(k) {
		t.Fatal("a staging dir counts as ready")
	}
	if _, err := node.made(ctx, Request{Key: k, Plan: nil}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale staging dir not cleared: %v", err)
	}
}

func TestLatestSkipsNotReady(t *testing.T) {
	root := Root{Dir: t.TempDir()}
	now := time.Unix(1700000000, 0)
	for i, ready := range []bool{true, true, false} {
		rev, err := root.writeRevision("c", []byte("[rez]\n"), Meta{Key: cas.KeyOf([]byte{byte(i)})}, now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if !ready {
			os.Remove(filepath.Join(rev.Dir, "revision.json"))
		}
	}
	// Same microsecond twice: successive names, none lost.
	if _, err := root.writeRevision("c", []byte("[rez]\n"), Meta{}, now); err != nil {
		t.Fatal(err)
	}
	revs, err := root.Revisions("c")
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 4 || revs[0].Ready() {
		t.Fatalf("revisions: %d, newest ready=%v", len(revs), revs[0].Ready())
	}
	latest, err := root.Latest("c")
	if err != nil {
		t.Fatal(err)
	}
	if latest.Name != RevisionName(now.Add(time.Second)) {
		t.Errorf("latest = %s, want the newest ready one", latest.Name)
	}
	if _, err := root.Latest("nothing"); !errors.Is(err, ErrNoRevision) {
		t.Errorf("empty container: %v", err)
	}
	// Staging dirs are invisible.
	os.MkdirAll(filepath.Join(root.RevisionsDir("c"), ".staging-x"), 0o755)
	if revs2, _ := root.Revisions("c"); len(revs2) != 4 {
		t.Errorf("a staging dir is listed")
	}
}

func TestLeaseWaitsForBuilderThenRechecks(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, t.TempDir(), nil, nil)
	k := cas.KeyOf([]byte("use test"))
	if _, err := s.hold(ctx, k); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Lease of a missing entry: %v", err)
	}
	fakeEntry(t, s, k)
	lk, err := fsx.TryExclusive(s.opt.Root.LockPath(k))
	if err != nil {
		t.Fatal(err)
	}
	// While a collector holds it exclusively and removes it, Lease waits,
	// then finds it gone.
	done := make(chan error)
	go func() {
		_, err := s.hold(ctx, k)
		done <- err
	}()
	if err := fsx.RemoveAll(s.opt.Root.EntryDir(k), s.opt.Root.TmpDir()); err != nil {
		t.Fatal(err)
	}
	lk.Close()
	if err := <-done; !errors.Is(err, ErrNotReady) {
		t.Fatalf("Lease after removal: %v, want ErrNotReady", err)
	}
}

// openCache opens the directory cache at dir.
func openCache(t *testing.T, dir string) *cache.Cache {
	t.Helper()
	c, err := cache.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A fetched build links the objects an earlier build put, though it
// hashed its files as it unpacked them, after reading each such object
// once: one rewritten in place (by its owner, or root) is not linked,
// and the build keeps its own file, with the right bytes.
func TestFetchedBuildsLinkVerifiedObjects(t *testing.T) {
	ctx := context.Background()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), sc, nil)
	keys := []cas.Key{cas.KeyOf([]byte("shared 1")), cas.KeyOf([]byte("shared 2")), cas.KeyOf([]byte("shared 3"))}
	for _, k := range keys {
		fakeEntry(t, admin, k)
		if _, err := admin.Publish(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	rep := &countingReporter{}
	node := newStore(t, filepath.Join(t.TempDir(), "node"), sc, rep)
	cfg := func(k cas.Key) string { return filepath.Join(node.opt.Root.EntryDir(k), "venv", "rez", "pyvenv.cfg") }
	for _, k := range keys[:2] {
		if _, err := node.made(ctx, Request{Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := os.Stat(cfg(keys[0]))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(cfg(keys[1]))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Fatalf("two fetched builds' pyvenv.cfg (the same bytes) are not one inode")
	}
	want, err := os.ReadFile(cfg(keys[0]))
	if err != nil {
		t.Fatal(err)
	}
	// Rewritten in place: the object and both builds, one inode.
	os.Chmod(cfg(keys[0]), 0o644)
	if err := os.WriteFile(cfg(keys[0]), append([]byte("# rewritten\n"), want...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := node.made(ctx, Request{Key: keys[2]}); err != nil {
		t.Fatal(err)
	}
	c, err := os.Stat(cfg(keys[2]))
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(a, c) {
		t.Error("the third build links the object rewritten in place")
	}
	if got, err := os.ReadFile(cfg(keys[2])); err != nil || string(got) != string(want) {
		t.Errorf("the third build's pyvenv.cfg: %q (%v), want %q", got, err, want)
	}
	if n := rep.count("warning: the files of " + keys[2].String()); n != 1 {
		t.Errorf("%d warnings about the third build's files, want 1: %q", n, rep.lines)
	}
}
