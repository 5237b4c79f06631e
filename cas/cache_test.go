package cas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/fsx"
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
				if !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "not supported yet") {
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

// newTestCache returns a DirCache with a fixed clock.
func newTestCache(t *testing.T) *DirCache {
	c := NewDirCache(filepath.Join(t.TempDir(), "cache"))
	c.now = func() time.Time { return time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC) }
	return c
}

func testEntry(key Key) Entry {
	return Entry{
		Key:          key,
		Prefix:       "/home/td/.rezup/.store/" + key.String(),
		Interpreter:  Interpreter{Implementation: "cpython", Version: "3.11.9", Platform: "linux-x86_64"},
		RezupVersion: "0.1.0-test",
	}
}

func packWriter(root string, opt PackOptions) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := Pack(w, root, opt)
		return err
	}
}

// fetch is what a node does: look up, open, verify and unpack.
func fetch(t *testing.T, c Cache, key Key) (Entry, string) {
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
	t.Cleanup(func() { makeRemovable(dest) })
	st, err := Unpack(rc, dest, e.Digest, UnpackOptions{})
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
	if !c.Writable() {
		t.Fatal("fresh cache in a temp dir is not writable")
	}
	src := t.TempDir()
	writeTree(t, src, sampleTree())
	key := KeyOf([]byte("publish test"))
	_, wantDigest, pst := packTree(t, src, PackOptions{})

	got, err := c.Publish(context.Background(), testEntry(key), packWriter(src, PackOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	want := testEntry(key)
	want.Digest = wantDigest
	want.Size = got.Size
	want.Files, want.Bytes = pst.Files, pst.Bytes
	want.Created = c.now()
	if got != want {
		t.Fatalf("published\n %+v\nwant\n %+v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(c.String(), key.String(), wantDigest.String()+".tar.zst")); err != nil || fi.Size() != got.Size || fi.Mode().Perm() != fsx.Perm(0o444) {
		t.Fatalf("archive file: %v, %v", fi, err)
	}

	e, dest := fetch(t, c, key)
	if e != got {
		t.Fatalf("lookup\n %+v\nwant\n %+v", e, got)
	}
	diffSnapshots(t, snapshot(t, src, true), snapshot(t, dest, true))

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

// Files and Bytes come from e when write does not pack straight onto the
// writer it is given.
func TestPublishWithOwnWriter(t *testing.T) {
	c := newTestCache(t)
	src := t.TempDir()
	writeTree(t, src, sampleTree())
	archive, digest, _ := packTree(t, src, PackOptions{})
	e := testEntry(KeyOf([]byte("own writer")))
	e.Files, e.Bytes = 42, 43
	e.Created = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := c.Publish(context.Background(), e, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(archive))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != digest || got.Size != int64(len(archive)) || got.Files != 42 || got.Bytes != 43 || !got.Created.Equal(e.Created) {
		t.Fatalf("got %+v", got)
	}
}

func TestPublishFailureLeavesNothing(t *testing.T) {
	boom := errors.New("pip exploded")
	tests := []struct {
		name  string
		ctx   func() context.Context
		write func(io.Writer) error
		want  error
	}{
		{"write fails", context.Background, func(w io.Writer) error {
			w.Write([]byte("partial archive"))
			return boom
		}, boom},
		{"nothing written", context.Background, func(io.Writer) error { return nil }, nil},
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, func(w io.Writer) error {
			_, err := w.Write([]byte("x"))
			return err
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t)
			key := KeyOf([]byte(tt.name))
			_, err := c.Publish(tt.ctx(), testEntry(key), tt.write)
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
// pack at another level, so two different archives land: every publisher
// succeeds, and entry.json names a complete one.
func TestConcurrentPublishers(t *testing.T) {
	c := newTestCache(t)
	src := t.TempDir()
	writeTree(t, src, sampleTree())
	key := KeyOf([]byte("contended"))
	const n = 8
	var wg sync.WaitGroup
	entries := make([]Entry, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Each goroutine is its own "machine": its own DirCache value.
			mc := NewDirCache(c.String())
			level := 3
			if i%2 == 1 {
				level = 1
			}
			entries[i], errs[i] = mc.Publish(context.Background(), testEntry(key), packWriter(src, PackOptions{Level: level}))
		}()
	}
	close(start)
	wg.Wait()
	digests := map[Digest]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("publisher %d: %v", i, errs[i])
		}
		digests[entries[i].Digest] = true
	}
	if len(digests) != 2 {
		t.Fatalf("%d distinct archives, want 2", len(digests))
	}
	e, dest := fetch(t, c, key)
	if !digests[e.Digest] {
		t.Fatalf("entry names %s, which no publisher wrote", e.Digest)
	}
	diffSnapshots(t, snapshot(t, src, true), snapshot(t, dest, true))
	ents, _ := os.ReadDir(filepath.Join(c.String(), key.String()))
	for _, de := range ents {
		if strings.Contains(de.Name(), fsx.TempSuffix) {
			t.Errorf("temp file left: %s", de.Name())
		}
	}
	if len(ents) != 3 {
		t.Errorf("key dir holds %d files, want 2 archives and entry.json", len(ents))
	}
}

func TestLookupMisses(t *testing.T) {
	key := KeyOf([]byte("miss"))
	other := KeyOf([]byte("other"))
	good := func(t *testing.T, c *DirCache) Entry {
		e, err := c.Publish(context.Background(), testEntry(key), func(w io.Writer) error {
			_, err := w.Write([]byte("archive bytes"))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	writeEntry := func(t *testing.T, c *DirCache, v any) {
		b, ok := v.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := fsx.WriteFile(filepath.Join(c.String(), key.String(), "entry.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, c *DirCache)
		why   string
	}{
		{"no cache dir", func(*testing.T, *DirCache) {}, "no entry"},
		{"no key dir", func(t *testing.T, c *DirCache) { good(t, c); os.RemoveAll(filepath.Join(c.String(), key.String())) }, "no entry"},
		{"only temp files", func(t *testing.T, c *DirCache) {
			os.MkdirAll(filepath.Join(c.String(), key.String()), 0o755)
			os.WriteFile(filepath.Join(c.String(), key.String(), ".entry.json.123"+fsx.TempSuffix), []byte("{}"), 0o644)
		}, "no entry"},
		{"garbage entry.json", func(t *testing.T, c *DirCache) { good(t, c); writeEntry(t, c, []byte("\x00garbage{")) }, "unreadable"},
		{"truncated entry.json", func(t *testing.T, c *DirCache) {
			good(t, c)
			b, _ := os.ReadFile(filepath.Join(c.String(), key.String(), "entry.json"))
			writeEntry(t, c, b[:len(b)/2])
		}, "unreadable"},
		{"bad digest", func(t *testing.T, c *DirCache) {
			good(t, c)
			writeEntry(t, c, map[string]any{"key": key.String(), "digest": "XYZ", "size": 3})
		}, "unreadable"},
		{"entry of another key", func(t *testing.T, c *DirCache) {
			e := good(t, c)
			e.Key = other
			writeEntry(t, c, e)
		}, "names key"},
		{"empty object", func(t *testing.T, c *DirCache) { good(t, c); writeEntry(t, c, []byte("{}")) }, "names key"},
		{"no digest", func(t *testing.T, c *DirCache) {
			good(t, c)
			writeEntry(t, c, map[string]any{"key": key.String()})
		}, "names no archive"},
		{"archive missing", func(t *testing.T, c *DirCache) {
			e := good(t, c)
			os.Remove(c.archivePath(key, e.Digest))
		}, "missing"},
		{"archive of the wrong size", func(t *testing.T, c *DirCache) {
			e := good(t, c)
			e.Size++
			writeEntry(t, c, e)
		}, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t)
			tt.setup(t, c)
			_, err := c.Lookup(context.Background(), key)
			if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.why) || !strings.Contains(err.Error(), key.String()) {
				t.Fatalf("err = %v, want ErrNotFound saying %q", err, tt.why)
			}
		})
	}
}

func TestOpenMissingArchive(t *testing.T) {
	c := newTestCache(t)
	_, err := c.Open(context.Background(), testEntry(KeyOf(nil)))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestKeysIgnoresOtherNames(t *testing.T) {
	c := newTestCache(t)
	if keys, err := c.Keys(context.Background()); err != nil || len(keys) != 0 {
		t.Fatalf("keys of a missing cache: %v, %v", keys, err)
	}
	var want []Key
	for i := range 3 {
		k := KeyOf([]byte(strconv.Itoa(i)))
		want = append(want, k)
		os.MkdirAll(filepath.Join(c.String(), k.String()), 0o755)
	}
	os.WriteFile(filepath.Join(c.String(), KeyOf([]byte("file")).String()), nil, 0o644) // a file, not a key dir
	os.MkdirAll(filepath.Join(c.String(), "not-a-key"), 0o755)
	os.MkdirAll(filepath.Join(c.String(), strings.ToUpper(want[0].String())), 0o755)
	got, err := c.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(a, b Key) int { return strings.Compare(a.String(), b.String()) })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := KeyOf([]byte("remove"))
	e, err := c.Publish(ctx, testEntry(key), func(w io.Writer) error { _, err := w.Write([]byte("a")); return err })
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
}

// entry.json goes before any archive: when removing an archive fails, the
// key is already a miss, never an entry naming a missing archive.
func TestRemoveEntryFirst(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := KeyOf([]byte("remove order"))
	if _, err := c.Publish(ctx, testEntry(key), func(w io.Writer) error { _, err := w.Write([]byte("a")); return err }); err != nil {
		t.Fatal(err)
	}
	// An archive name that cannot be removed: a non-empty directory.
	stuck := filepath.Join(c.String(), key.String(), DigestOf([]byte("stuck")).String()+".tar.zst")
	os.MkdirAll(filepath.Join(stuck, "x"), 0o755)
	if err := c.Remove(ctx, key); err == nil {
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
	c := newTestCache(t)
	if !c.Writable() || !c.Writable() {
		t.Fatal("temp dir cache not writable")
	}
	if ents, _ := os.ReadDir(c.String()); len(ents) != 0 {
		t.Fatalf("writable probe left %v", ents)
	}
	// A cache under a regular file can never be created, even by root.
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if NewDirCache(filepath.Join(f, "cache")).Writable() {
		t.Fatal("cache under a file reported writable")
	}
}

func TestKeyTimeIsNewestWrite(t *testing.T) {
	c := NewDirCache(t.TempDir())
	k := KeyOf([]byte("keytime"))
	if _, err := c.KeyTime(context.Background(), k); err == nil {
		t.Fatal("KeyTime of a missing key succeeded")
	}
	dir := filepath.Join(c.String(), k.String())
	os.MkdirAll(dir, 0o755)
	old := time.Now().Add(-48 * time.Hour)
	f := filepath.Join(dir, "x"+".rezup-tmp")
	os.WriteFile(f, nil, 0o644)
	os.Chtimes(f, old, old)
	os.Chtimes(dir, old, old)
	got, err := c.KeyTime(context.Background(), k)
	if err != nil || !got.Equal(old) {
		t.Fatalf("KeyTime = %v, %v; want %v", got, err, old)
	}
	newer := old.Add(time.Hour)
	os.Chtimes(f, newer, newer)
	if got, _ := c.KeyTime(context.Background(), k); !got.Equal(newer) {
		t.Fatalf("KeyTime = %v, want the newest file's %v", got, newer)
	}
}
