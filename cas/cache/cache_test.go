package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/internal/treetest"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyid"
)

func TestOpenLocation(t *testing.T) {
	abs := t.TempDir()
	tests := []struct {
		loc     string
		wantDir string // "" means an error
		unsup   bool
	}{
		{loc: abs, wantDir: abs},
		{loc: "file://" + filepath.ToSlash(abs), wantDir: abs},
		{loc: "file://localhost" + filepath.ToSlash(abs), wantDir: abs},
		{loc: "file://fileserver/share"},
		{loc: "file:relative"},
		{loc: "file:" + filepath.ToSlash(abs), wantDir: abs},
		{loc: ""},
		{loc: "http://cache.example/rezup", unsup: true},
		{loc: "https://cache.example/rezup", unsup: true},
		{loc: "s3://bucket/rezup", unsup: true},
		{loc: "gopher://x", unsup: true},
	}
	for _, tt := range tests {
		t.Run(tt.loc, func(t *testing.T) {
			c, err := Open(tt.loc)
			switch {
			case tt.unsup:
				if !errors.Is(err, backend.ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "not supported") {
					t.Fatalf("err = %v, want ErrUnsupported", err)
				}
			case tt.wantDir == "":
				if err == nil {
					t.Fatalf("Open(%q) = %v, want an error", tt.loc, c)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if c.String() != tt.wantDir {
					t.Fatalf("dir %q, want %q", c.String(), tt.wantDir)
				}
			}
		})
	}
	t.Run("relative path becomes absolute", func(t *testing.T) {
		c, err := Open("some/cache")
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsAbs(c.String()) {
			t.Fatalf("%q is not absolute", c.String())
		}
	})
}

// newTestCache returns a cache in a directory, as Open makes it, with a
// fixed clock.
func newTestCache(t *testing.T) *Cache {
	return newCacheIn(filepath.Join(t.TempDir(), "cache"))
}

func newCacheIn(dir string) *Cache {
	c := NewCache(backend.NewDirBackend(dir, backend.DirOptions{ReadOnly: isImmutableName}))
	c.now = func() time.Time { return time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC) }
	return c
}

func testEntry(key cas.Key) Entry {
	return Entry{
		Key:          key,
		Prefix:       "/home/td/.rezup/.store/" + key.String(),
		Interpreter:  pyid.ID{Implementation: "cpython", Version: "3.11.9", Platform: "linux-x86_64"},
		RezupVersion: "0.1.0-test",
	}
}

// packArchive packs root into a temp file, as a publisher does.
func packArchive(t *testing.T, root string, opt archive.PackOptions) archive.Archive {
	t.Helper()
	a, err := archive.PackFile(t.TempDir(), root, opt)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// archiveOf is an Archive holding data, with the stats given: what a
// publisher of an archive made elsewhere passes.
func archiveOf(t *testing.T, data []byte, files, bytes int64) archive.Archive {
	t.Helper()
	p := filepath.Join(t.TempDir(), "archive.tar.zst")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return archive.Archive{Path: p, Digest: cas.DigestOf(data), Size: int64(len(data)), PackStats: archive.PackStats{Files: files, Bytes: bytes}}
}

// fetch is what a node does: look up, open, verify and unpack.
func fetch(t *testing.T, c *Cache, key cas.Key) (Entry, string) {
	t.Helper()
	ctx := context.Background()
	e, err := c.Lookup(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.Open(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dest := t.TempDir()
	t.Cleanup(func() { treetest.MakeRemovable(dest) })
	st, err := archive.Unpack(rc, dest, e.Digest, archive.UnpackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != e.Files || st.Bytes != e.Bytes || st.ArchiveBytes != e.Size {
		t.Fatalf("unpacked %+v, entry says files=%d bytes=%d size=%d", st, e.Files, e.Bytes, e.Size)
	}
	return e, dest
}

func TestPublishLookupOpenUnpack(t *testing.T) {
	c := newTestCache(t)
	if err := c.Writable(context.Background()); err != nil {
		t.Fatalf("fresh cache in a temp dir is not writable: %v", err)
	}
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	key := cas.KeyOf([]byte("publish test"))
	_, wantDigest, pst := packTree(t, src, archive.PackOptions{})

	got, err := c.Publish(context.Background(), testEntry(key), packArchive(t, src, archive.PackOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	want := testEntry(key)
	want.Digest = wantDigest
	want.Size = got.Size
	want.Files, want.Bytes = pst.Files, pst.Bytes
	want.Created = c.now()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("published\n %+v\nwant\n %+v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(c.String(), key.String(), wantDigest.String()+".tar.zst")); err != nil || fi.Size() != got.Size || fi.Mode().Perm() != fsx.Perm(0o444) {
		t.Fatalf("archive file: %v, %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(c.String(), key.String(), "entry.json")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("entry.json: %v, %v", fi, err)
	}

	e, dest := fetch(t, c, key)
	if !reflect.DeepEqual(e, got) {
		t.Fatalf("lookup\n %+v\nwant\n %+v", e, got)
	}
	treetest.DiffSnapshots(t, treetest.Snapshot(t, src, true), treetest.Snapshot(t, dest, true))

	// entry.json is plain JSON with snake_case names, for people and for
	// other tools.
	b, err := os.ReadFile(filepath.Join(c.String(), key.String(), "entry.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"key", "digest", "size", "files", "bytes", "prefix", "interpreter", "created", "rezup_version"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("entry.json lacks %q: %s", f, b)
		}
	}
	if raw["key"] != key.String() || raw["digest"] != wantDigest.String() {
		t.Errorf("entry.json key/digest: %s", b)
	}

	// No temp files are left behind.
	ents, _ := os.ReadDir(filepath.Join(c.String(), key.String()))
	if len(ents) != 2 {
		t.Fatalf("key dir holds %d files, want the archive and entry.json", len(ents))
	}
}

// Files, Bytes, Digest and Size come from the archive; Created from e
// when set.
func TestPublishRecordsTheArchive(t *testing.T) {
	c := newTestCache(t)
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	packed, digest, _ := packTree(t, src, archive.PackOptions{})
	e := testEntry(cas.KeyOf([]byte("own archive")))
	e.Files, e.Bytes = 1, 2 // overridden by the archive's
	e.Created = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := c.Publish(context.Background(), e, archiveOf(t, packed, 42, 43))
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != digest || got.Size != int64(len(packed)) || got.Files != 42 || got.Bytes != 43 || !got.Created.Equal(e.Created) {
		t.Fatalf("got %+v", got)
	}
}

func TestPublishFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() context.Context
		archive func(t *testing.T) archive.Archive
		want    error
	}{
		{"empty archive", context.Background, func(t *testing.T) archive.Archive { return archiveOf(t, nil, 0, 0) }, nil},
		{"archive file gone", context.Background, func(t *testing.T) archive.Archive {
			a := archiveOf(t, []byte("archive"), 1, 1)
			os.Remove(a.Path)
			return a
		}, os.ErrNotExist},
		{"archive file changed", context.Background, func(t *testing.T) archive.Archive {
			a := archiveOf(t, []byte("archive"), 1, 1)
			os.WriteFile(a.Path, []byte("archive, and more"), 0o644)
			return a
		}, nil},
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, func(t *testing.T) archive.Archive { return archiveOf(t, []byte("x"), 1, 1) }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t)
			key := cas.KeyOf([]byte(tt.name))
			_, err := c.Publish(tt.ctx(), testEntry(key), tt.archive(t))
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			ents, _ := os.ReadDir(filepath.Join(c.String(), key.String()))
			if len(ents) != 0 {
				t.Fatalf("failed publish left %v", ents)
			}
			if _, err := c.Lookup(context.Background(), key); !errors.Is(err, ErrNotFound) {
				t.Fatalf("lookup after failed publish: %v", err)
			}
		})
	}
}

// Publishers on many machines race for one key with no lock. Half of them
// pack at another level, so two different archives may land: every
// publisher succeeds, all of them report the one entry that was committed,
// and it names a complete archive.
func TestConcurrentPublishers(t *testing.T) {
	c := newTestCache(t)
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	key := cas.KeyOf([]byte("contended"))
	archives := []archive.Archive{packArchive(t, src, archive.PackOptions{Level: 3}), packArchive(t, src, archive.PackOptions{Level: 1})}
	if archives[0].Digest == archives[1].Digest {
		t.Fatal("both levels packed the same bytes: the test proves nothing")
	}
	const n = 8
	var wg sync.WaitGroup
	entries := make([]Entry, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			// Each goroutine is its own "machine": its own Cache value.
			mc := newCacheIn(c.String())
			entries[i], errs[i] = mc.Publish(context.Background(), testEntry(key), archives[i%2])
		})
	}
	close(start)
	wg.Wait()
	e, dest := fetch(t, c, key)
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("publisher %d: %v", i, errs[i])
		}
		if !reflect.DeepEqual(entries[i], e) {
			t.Errorf("publisher %d reports\n %+v\nthe cache committed\n %+v", i, entries[i], e)
		}
	}
	treetest.DiffSnapshots(t, treetest.Snapshot(t, src, true), treetest.Snapshot(t, dest, true))
	ents, _ := os.ReadDir(filepath.Join(c.String(), key.String()))
	for _, de := range ents {
		if strings.Contains(de.Name(), fsx.TempSuffix) {
			t.Errorf("temp file left: %s", de.Name())
		}
	}
	if len(ents) < 2 || len(ents) > 3 {
		t.Errorf("key dir holds %d files, want 1 or 2 archives and entry.json", len(ents))
	}
}

func TestLookupMisses(t *testing.T) {
	key := cas.KeyOf([]byte("miss"))
	other := cas.KeyOf([]byte("other"))
	good := func(t *testing.T, c *Cache) Entry {
		e, err := c.Publish(context.Background(), testEntry(key), archiveOf(t, []byte("archive bytes"), 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	entryPath := func(c *Cache) string { return filepath.Join(c.String(), key.String(), "entry.json") }
	writeEntry := func(t *testing.T, c *Cache, v any) {
		b, ok := v.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := fsx.WriteFile(entryPath(c), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T, c *Cache)
		reason MissReason
		why    string
	}{
		{"no cache dir", func(*testing.T, *Cache) {}, MissNoEntry, "no entry"},
		{"no key dir", func(t *testing.T, c *Cache) { good(t, c); os.RemoveAll(filepath.Join(c.String(), key.String())) }, MissNoEntry, "no entry"},
		{"only temp files", func(t *testing.T, c *Cache) {
			os.MkdirAll(filepath.Join(c.String(), key.String()), 0o755)
			os.WriteFile(filepath.Join(c.String(), key.String(), ".entry.json.123"+fsx.TempSuffix), []byte("{}"), 0o644)
		}, MissNoEntry, "no entry"},
		{"garbage entry.json", func(t *testing.T, c *Cache) { good(t, c); writeEntry(t, c, []byte("\x00garbage{")) }, MissBadEntry, "unreadable"},
		{"truncated entry.json", func(t *testing.T, c *Cache) {
			good(t, c)
			b, _ := os.ReadFile(entryPath(c))
			writeEntry(t, c, b[:len(b)/2])
		}, MissBadEntry, "unreadable"},
		{"bad digest", func(t *testing.T, c *Cache) {
			good(t, c)
			writeEntry(t, c, map[string]any{"key": key.String(), "digest": "XYZ", "size": 3})
		}, MissBadEntry, "unreadable"},
		{"entry of another key", func(t *testing.T, c *Cache) {
			e := good(t, c)
			e.Key = other
			writeEntry(t, c, e)
		}, MissBadEntry, "names key"},
		{"empty object", func(t *testing.T, c *Cache) { good(t, c); writeEntry(t, c, []byte("{}")) }, MissBadEntry, "names key"},
		{"no digest", func(t *testing.T, c *Cache) {
			good(t, c)
			writeEntry(t, c, map[string]any{"key": key.String()})
		}, MissBadEntry, "names no archive"},
		{"archive missing", func(t *testing.T, c *Cache) {
			e := good(t, c)
			os.Remove(filepath.Join(c.String(), key.String(), e.Digest.String()+".tar.zst"))
		}, MissNoArchive, "missing"},
		{"archive of the wrong size", func(t *testing.T, c *Cache) {
			e := good(t, c)
			e.Size++
			writeEntry(t, c, e)
		}, MissNoArchive, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t)
			tt.setup(t, c)
			_, err := c.Lookup(context.Background(), key)
			var miss *MissError
			if !errors.Is(err, ErrNotFound) || !errors.As(err, &miss) || miss.Reason != tt.reason || !strings.Contains(err.Error(), tt.why) || !strings.Contains(err.Error(), key.String()) {
				t.Fatalf("err = %v, want a %q miss saying %q", err, tt.reason, tt.why)
			}
			if tt.reason == MissNoEntry {
				return
			}
			// A publish replaces what Lookup misses on.
			want, err := c.Publish(context.Background(), testEntry(key), archiveOf(t, []byte("fresh archive"), 1, 1))
			if err != nil {
				t.Fatal(err)
			}
			if got, err := c.Lookup(context.Background(), key); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("after republishing: %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

func TestOpenMissingArchive(t *testing.T) {
	c := newTestCache(t)
	_, err := c.Open(context.Background(), testEntry(cas.KeyOf(nil)))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestKeysIgnoresOtherNames(t *testing.T) {
	c := newTestCache(t)
	if keys, err := c.Keys(context.Background()); err != nil || len(keys) != 0 {
		t.Fatalf("keys of a missing cache: %v, %v", keys, err)
	}
	var want []cas.Key
	for i := range 3 {
		k := cas.KeyOf([]byte(strconv.Itoa(i)))
		want = append(want, k)
		os.MkdirAll(filepath.Join(c.String(), k.String()), 0o755)
	}
	os.WriteFile(filepath.Join(c.String(), cas.KeyOf([]byte("file")).String()), nil, 0o644) // a file, not a key dir
	os.MkdirAll(filepath.Join(c.String(), "not-a-key"), 0o755)
	os.MkdirAll(filepath.Join(c.String(), strings.ToUpper(want[0].String())), 0o755)
	infos, err := c.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []cas.Key
	for _, ki := range infos {
		got = append(got, ki.Key)
	}
	slices.SortFunc(want, func(a, b cas.Key) int { return strings.Compare(a.String(), b.String()) })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

// Keys tells when anything was last stored under a key, committed or not:
// what gc ages a crashed publish by.
func TestKeysModifiedIsNewestWrite(t *testing.T) {
	c := newTestCache(t)
	k := cas.KeyOf([]byte("keytime"))
	dir := filepath.Join(c.String(), k.String())
	os.MkdirAll(dir, 0o755)
	old := time.Now().Add(-48 * time.Hour).Round(time.Second)
	f := filepath.Join(dir, "x"+fsx.TempSuffix)
	os.WriteFile(f, []byte("partial"), 0o644)
	os.Chtimes(f, old, old)
	keys, err := c.Keys(context.Background())
	if err != nil || len(keys) != 1 || keys[0].Key != k || !keys[0].Modified.Equal(old) || keys[0].Size != 7 {
		t.Fatalf("Keys = %+v, %v; want %s modified %v, 7 bytes", keys, err, k, old)
	}
	newer := old.Add(time.Hour)
	g := filepath.Join(dir, "y"+fsx.TempSuffix)
	os.WriteFile(g, nil, 0o644)
	os.Chtimes(g, newer, newer)
	if keys, _ := c.Keys(context.Background()); !keys[0].Modified.Equal(newer) {
		t.Fatalf("Modified = %v, want the newest file's %v", keys[0].Modified, newer)
	}
	// An empty key dir, as a crash can leave, is aged by the dir itself.
	os.Remove(f)
	os.Remove(g)
	os.Chtimes(dir, old, old)
	if keys, _ := c.Keys(context.Background()); len(keys) != 1 || !keys[0].Modified.Equal(old) {
		t.Fatalf("Keys = %+v, want the empty dir aged %v", keys, old)
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := cas.KeyOf([]byte("remove"))
	e, err := c.Publish(ctx, testEntry(key), archiveOf(t, []byte("a"), 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(c.String(), key.String(), ".x"+fsx.TempSuffix), nil, 0o644)
	if err := c.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.String(), key.String())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key dir still there: %v", err)
	}
	if _, err := c.Open(ctx, e); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open after remove: %v", err)
	}
	if err := c.Remove(ctx, key); err != nil {
		t.Fatalf("removing a removed key: %v", err)
	}
	// An empty key dir goes too; a name that is not rezup's stays.
	os.MkdirAll(filepath.Join(c.String(), key.String()), 0o755)
	if err := c.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.String(), key.String())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty key dir still there: %v", err)
	}
	os.MkdirAll(filepath.Join(c.String(), key.String()), 0o755)
	os.WriteFile(filepath.Join(c.String(), key.String(), "README"), nil, 0o644)
	if err := c.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.String(), key.String(), "README")); err != nil {
		t.Fatalf("a name that is not rezup's was removed: %v", err)
	}
}

// failingDeletes is a backend whose Delete fails for archives.
type failingDeletes struct{ backend.Backend }

func (f failingDeletes) Delete(ctx context.Context, name string) error {
	if strings.HasSuffix(name, archive.Ext) {
		return errors.New("disk on fire")
	}
	return f.Backend.Delete(ctx, name)
}

// entry.json goes before any archive: when removing an archive fails, the
// key is already a miss, never an entry naming a missing archive.
func TestRemoveEntryFirst(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := cas.KeyOf([]byte("remove order"))
	if _, err := c.Publish(ctx, testEntry(key), archiveOf(t, []byte("a"), 1, 1)); err != nil {
		t.Fatal(err)
	}
	broken := NewCache(failingDeletes{c.Backend()})
	if err := broken.Remove(ctx, key); err == nil {
		t.Fatal("remove succeeded with an archive it could not remove")
	}
	if _, err := os.Stat(filepath.Join(c.String(), key.String(), "entry.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("entry.json survived a failed remove: %v", err)
	}
	if _, err := c.Lookup(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup after failed remove: %v", err)
	}
}

func TestWritable(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	if err := c.Writable(ctx); err != nil {
		t.Fatalf("temp dir cache not writable: %v", err)
	}
	if err := c.Writable(ctx); err != nil {
		t.Fatalf("second probe: %v", err)
	}
	if ents, _ := os.ReadDir(c.String()); len(ents) != 0 {
		t.Fatalf("writable probe left %v", ents)
	}
	// A cache under a regular file can never be created, even by root.
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if err := newCacheIn(filepath.Join(f, "cache")).Writable(ctx); err == nil || !strings.Contains(err.Error(), "not writable") {
		t.Fatalf("cache under a file: %v, want not writable", err)
	}
	// A cancelled probe is not remembered.
	c = newTestCache(t)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Writable(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled probe: %v", err)
	}
	if err := c.Writable(ctx); err != nil {
		t.Fatalf("probe after a cancelled one: %v", err)
	}
}

func TestAsBackend(t *testing.T) {
	dir := backend.NewDirBackend(t.TempDir(), backend.DirOptions{})
	c, err := Open(dir.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := backend.AsBackend[*backend.Limited](c.Backend()); !ok {
		t.Fatal("Open's cache is not limited")
	}
	got, ok := backend.AsBackend[*backend.DirBackend](c.Backend())
	if !ok || got.String() != dir.String() {
		t.Fatalf("AsBackend found %v, %v", got, ok)
	}
	if _, ok := backend.AsBackend[*backend.Limited](backend.Backend(dir)); ok {
		t.Fatal("found a wrapper that is not there")
	}
}

// packTree packs root into memory and returns the archive and its digest.
func packTree(t testing.TB, root string, opt archive.PackOptions) ([]byte, cas.Digest, archive.PackStats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := archive.Pack(&buf, root, opt)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), cas.DigestOf(buf.Bytes()), st
}
