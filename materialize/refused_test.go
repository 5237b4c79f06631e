package materialize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	"github.com/rezup/rezup/internal/fsx"
)

// publishedCorrupt publishes a fake entry of k to a new directory cache
// and flips a byte of its archive; it returns the cache's directory and
// the entry.
func publishedCorrupt(t *testing.T, k cas.Key) (string, cache.Entry) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	sc := openCache(t, dir)
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), sc, nil)
	fakeEntry(t, admin, k)
	if _, err := admin.Publish(ctx, k); err != nil {
		t.Fatal(err)
	}
	e, err := sc.Lookup(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, k.String(), e.Digest.String()+".tar.zst")
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x55
	os.Chmod(archive, 0o644)
	if err := os.WriteFile(archive, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, e
}

// A refused archive is remembered: the next Materialize of the key does
// not download it again until RefusedTTL has passed; then it does, and
// the expired mark is replaced. gc sees the marks as leftovers.
func TestRefusedArchiveIsRemembered(t *testing.T) {
	ctx := context.Background()
	k := cas.KeyOf([]byte("refused test"))
	dir, e := publishedCorrupt(t, k)
	rep := &countingReporter{}
	node := newStore(t, filepath.Join(t.TempDir(), "node"), openCache(t, dir), rep)
	now := time.Now()
	node.opt.Now = func() time.Time { return now }

	_, err := node.made(ctx, Request{Key: k, Plan: nil})
	var re *RefusedError
	if !errors.As(err, &re) || re.Remembered || !errors.Is(err, ErrNotCached) || !errors.Is(err, archive.ErrCorrupt) {
		t.Fatalf("corrupt archive: %v; want a fresh *RefusedError wrapping ErrNotCached and ErrCorrupt", err)
	}
	if msg := err.Error(); !strings.Contains(msg, k.String()) || !strings.Contains(msg, e.Digest.String()) || strings.Contains(msg, "\n") {
		t.Errorf("the error is not one line naming key and digest: %q", msg)
	}
	mark := node.opt.Root.refusedMark(e.Digest)
	if _, err := os.Stat(mark); err != nil {
		t.Fatalf("no mark for the refused digest: %v", err)
	}
	if rep.count("fetching") != 1 {
		t.Fatalf("fetches: %q", rep.lines)
	}

	// A new process (a new Store: nothing in memory) reads the mark.
	again := newStore(t, node.opt.Root.Dir, openCache(t, dir), rep)
	again.opt.Now = node.opt.Now
	_, err = again.made(ctx, Request{Key: k, Plan: nil})
	if !errors.As(err, &re) || !re.Remembered || !errors.Is(err, ErrNotCached) {
		t.Fatalf("second attempt: %v; want a remembered *RefusedError", err)
	}
	if !strings.Contains(err.Error(), "archive is corrupt") {
		t.Errorf("the remembered refusal does not say why: %v", err)
	}
	if n := rep.count("fetching"); n != 1 {
		t.Errorf("the refused archive was downloaded again (%d fetches)", n)
	}
	if node.ready(k) {
		t.Fatal("a refused archive became a store entry")
	}

	left, err := node.opt.Root.TmpLeftovers()
	if err != nil || len(left) != 1 || left[0].Kind != LeftoverRefused || left[0].Path != mark {
		t.Fatalf("leftovers: %+v, %v; want the one mark", left, err)
	}

	// Once the mark has expired, the archive is tried (and refused) again.
	later := newStore(t, node.opt.Root.Dir, openCache(t, dir), rep)
	later.opt.Now = func() time.Time { return now.Add(RefusedTTL + time.Minute) }
	if _, err := later.made(ctx, Request{Key: k, Plan: nil}); !errors.As(err, &re) || re.Remembered {
		t.Fatalf("after the TTL: %v; want a fresh refusal", err)
	}
	if n := rep.count("fetching"); n != 2 {
		t.Errorf("%d fetches after the TTL, want 2", n)
	}
	if err := node.RemoveLeftover(left[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mark); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("RemoveLeftover left the mark: %v", err)
	}
}

// With a plan, a refused entry is reported once and the plan is built:
// here a plan for another key, whose refusal to build proves that the
// build was reached. The second time, the refusal is only a debug line.
func TestRefusedEntryFallsBackToThePlan(t *testing.T) {
	ctx := context.Background()
	k := cas.KeyOf([]byte("fallback test"))
	dir, e := publishedCorrupt(t, k)
	rep := &countingReporter{}
	node := newStore(t, filepath.Join(t.TempDir(), "node"), openCache(t, dir), rep)
	plan := &Plan{Key: cas.KeyOf([]byte("another"))}
	for i := range 2 {
		_, err := node.made(ctx, Request{Key: k, Plan: plan})
		if err == nil || !strings.Contains(err.Error(), "the plan is for") {
			t.Fatalf("attempt %d: %v; want the build step", i, err)
		}
	}
	if n := rep.count("warning: the cache entry of " + k.String() + " names archive " + e.Digest.String()); n != 1 {
		t.Errorf("%d warnings naming key and digest, want 1: %q", n, rep.lines)
	}
	if n := rep.count("fetching"); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// A root where no mark can be written still refuses a digest only once per
// process: the refusal is remembered in memory.
func TestRefusedRememberedWithoutWriting(t *testing.T) {
	ctx := context.Background()
	k := cas.KeyOf([]byte("read-only tmp"))
	dir, _ := publishedCorrupt(t, k)
	rep := &countingReporter{}
	node := newStore(t, filepath.Join(t.TempDir(), "node"), openCache(t, dir), rep)
	if err := os.MkdirAll(node.opt.Root.TmpDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	// .tmp/refused is a file: no mark can be written under it.
	if err := os.WriteFile(node.opt.Root.refusedDir(), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := node.made(ctx, Request{Key: k, Plan: nil}); !errors.Is(err, ErrNotCached) {
			t.Fatalf("%v; want a refusal", err)
		}
	}
	if n := rep.count("fetching"); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// stallingBackend serves a directory cache, except that reading an
// archive yields nothing and blocks until the reader is closed, as a
// hung file server would.
type stallingBackend struct {
	backend.Backend
	once    sync.Once
	started chan struct{}
}

func (b *stallingBackend) Open(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if !strings.HasSuffix(name, ".tar.zst") {
		return b.Backend.Open(ctx, name, off, length)
	}
	b.once.Do(func() { close(b.started) })
	return &stalledReader{closed: make(chan struct{})}, nil
}

type stalledReader struct {
	once   sync.Once
	closed chan struct{}
}

func (r *stalledReader) Read([]byte) (int, error) {
	<-r.closed
	return 0, os.ErrClosed
}

func (r *stalledReader) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

// A fetch whose archive read stalls gives up after the idle timeout, or
// at once when its context ends, and leaves the key's lock free; a stall
// is not a refusal.
func TestStalledFetchReleasesTheLock(t *testing.T) {
	k := cas.KeyOf([]byte("stall test"))
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), openCache(t, dir), nil)
	fakeEntry(t, admin, k)
	if _, err := admin.Publish(ctx, k); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		timeout time.Duration
		cancel  bool
		want    error
	}{
		{"idle timeout", 200 * time.Millisecond, false, backend.ErrStalled},
		{"cancelled", time.Hour, true, context.Canceled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &stallingBackend{Backend: backend.NewDirBackend(dir, backend.DirOptions{}), started: make(chan struct{})}
			sc := cache.NewCache(backend.LimitTransfers(backend.IdleTimeout(b, tt.timeout), 1))
			node := newStore(t, filepath.Join(t.TempDir(), "node"), sc, nil)
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if tt.cancel {
				go func() { <-b.started; cancel() }()
			}
			start := time.Now()
			_, err := node.made(ctx, Request{Key: k, Plan: nil})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), k.String()) {
				t.Fatalf("stalled fetch: %v; want %v naming the key", err, tt.want)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("the stalled fetch took %v", d)
			}
			lk, err := fsx.TryExclusive(node.opt.Root.LockPath(k))
			if err != nil {
				t.Fatalf("the key's lock is not free after the stall: %v", err)
			}
			lk.Close()
			if _, err := os.Stat(node.opt.Root.refusedDir()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a stall was remembered as a refusal: %v", err)
			}
			// The transfer slot came back too: a new fetch can start.
			if _, err := sc.Lookup(context.Background(), k); err != nil {
				t.Errorf("lookup after the stall: %v", err)
			}
		})
	}
}

// An archive whose every entry unpacks, but whose bytes are not the
// digest its entry names (another build of the same key, published
// elsewhere), is refused once the stream ends: no build is made, and the
// files its writers hashed on the way are neither objects nor temps of
// the object store, nor listed.
func TestMismatchedArchiveAdoptsNothing(t *testing.T) {
	ctx := context.Background()
	k := cas.KeyOf([]byte("mismatched test"))
	dir := filepath.Join(t.TempDir(), "cache")
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), openCache(t, dir), nil)
	fakeEntry(t, admin, k)
	if _, err := admin.Publish(ctx, k); err != nil {
		t.Fatal(err)
	}
	e, err := openCache(t, dir).Lookup(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	// The same key built and packed at another prefix: an archive that
	// unpacks whole, under the name of the first one's digest.
	otherDir := filepath.Join(t.TempDir(), "other-cache")
	other := newStore(t, filepath.Join(t.TempDir(), "other"), openCache(t, otherDir), nil)
	fakeEntry(t, other, k)
	oe, err := other.Publish(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(otherDir, k.String(), oe.Digest.String()+archive.Ext))
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, k.String(), e.Digest.String()+archive.Ext)
	os.Chmod(name, 0o644)
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(dir, k.String(), "entry.json")
	ej, err := os.ReadFile(entry)
	if err != nil {
		t.Fatal(err)
	}
	ej = []byte(strings.Replace(string(ej), fmt.Sprintf(`"size": %d`, e.Size), fmt.Sprintf(`"size": %d`, len(b)), 1))
	os.Chmod(entry, 0o644)
	if err := os.WriteFile(entry, ej, 0o644); err != nil {
		t.Fatal(err)
	}

	node := newStore(t, filepath.Join(t.TempDir(), "node"), openCache(t, dir), &countingReporter{})
	_, err = node.made(ctx, Request{Key: k, Plan: nil})
	if !errors.Is(err, archive.ErrCorrupt) || !strings.Contains(err.Error(), "digest is") {
		t.Fatalf("%v; want a refusal of the archive's digest", err)
	}
	root := node.opt.Root
	if node.ready(k) {
		t.Error("the mismatched archive became a build")
	}
	if _, err := os.Lstat(root.EntryDir(k)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: %v, want nothing there", root.EntryDir(k), err)
	}
	if _, err := os.Lstat(root.objectListPath(k)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an object list was written: %v", err)
	}
	if err := filepath.WalkDir(root.StoreDir(), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Dir(p) != root.StoreDir() {
			t.Errorf("%s: in the object store after a refused archive", p)
		}
		return err
	}); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	left, err := root.TmpLeftovers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range left {
		if l.Kind != LeftoverRefused {
			t.Errorf("left in .tmp: %+v", l)
		}
	}
}
