package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/rezup/rezup/cas/files"
	"github.com/rezup/rezup/internal/fsx"
)

// counting counts the reads a cache makes of its backend: Open calls,
// and the bytes read from the bodies, by name.
type counting struct {
	backend.Backend
	mu     sync.Mutex
	opens  int
	bytes  int64
	byName map[string]int64
}

func (b *counting) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := b.Backend.Open(ctx, name, offset, length)
	b.mu.Lock()
	b.opens++
	b.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: rc, b: b, name: name}, nil
}

func (b *counting) reset() (opens int, bytes int64, byName map[string]int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	opens, bytes, byName = b.opens, b.bytes, b.byName
	b.opens, b.bytes, b.byName = 0, 0, map[string]int64{}
	return opens, bytes, byName
}

type countingReader struct {
	io.ReadCloser
	b    *counting
	name string
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.b.mu.Lock()
	r.b.bytes += int64(n)
	if r.b.byName == nil {
		r.b.byName = map[string]int64{}
	}
	r.b.byName[r.name] += int64(n)
	r.b.mu.Unlock()
	return n, err
}

// filesBuild is a tree, scanned and packed over an optional base.
type filesBuild struct {
	key      cas.Key
	root     string
	ix       *files.Index
	packDir  string
	newPacks []files.PackFile
	data     map[cas.Digest][]byte // every content of the tree
}

// writeFiles writes files (path: data) and a symlink under root.
func writeFiles(t *testing.T, root string, fs map[string][]byte) {
	t.Helper()
	for name, data := range fs {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("lib/a0.so", filepath.Join(root, "link")); err != nil && !errors.Is(err, os.ErrExist) {
		t.Fatal(err)
	}
}

// noise is n bytes that do not compress, the same for the same seed.
func noise(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 22))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// baseTree is 40 files of 48 KiB that do not compress; rev changes three
// of them and adds one.
func baseTree() map[string][]byte {
	fs := map[string][]byte{}
	for i := range 40 {
		fs[fmt.Sprintf("lib/a%d.so", i)] = noise(uint64(i), 48<<10)
	}
	fs["bin/tool"] = []byte("#!/bin/sh\necho tool\n")
	return fs
}

func revTree() map[string][]byte {
	fs := baseTree()
	for _, i := range []int{3, 17, 31} {
		fs[fmt.Sprintf("lib/a%d.so", i)] = noise(uint64(1000+i), 48<<10)
	}
	fs["lib/extension.so"] = noise(2000, 30<<10)
	return fs
}

// packFiles scans and packs tree for key, over base when given. Frames
// of 32 KiB keep each 48 KiB content in a frame of its own.
func packFiles(t *testing.T, key cas.Key, tree map[string][]byte, base *filesBuild) *filesBuild {
	t.Helper()
	root := t.TempDir()
	writeFiles(t, root, tree)
	prefix := testEntry(key).Prefix
	ix, err := files.Scan(root, prefix, files.ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opt := files.PackOptions{Dir: t.TempDir(), FrameSize: 32 << 10}
	if base != nil {
		opt.Have = files.Known(base.ix)
	}
	packs, err := files.Pack(ix, root, opt)
	if err != nil {
		t.Fatal(err)
	}
	b := &filesBuild{key: key, root: root, ix: ix, packDir: opt.Dir, newPacks: packs, data: map[cas.Digest][]byte{}}
	for _, data := range tree {
		b.data[cas.DigestOf(data)] = data
	}
	return b
}

func (b *filesBuild) publish(t *testing.T, c *Cache) Entry {
	t.Helper()
	e, err := c.PublishFiles(context.Background(), testEntry(b.key), b.ix, b.packDir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// fetchAll fetches what need selects and checks every content handed out
// is the tree's.
func fetchAll(t *testing.T, c *Cache, b *filesBuild, ix *files.Index, need func(files.Content) bool) (map[cas.Digest]bool, error) {
	t.Helper()
	got := map[cas.Digest]bool{}
	err := c.FetchContents(context.Background(), ix, need, 256<<10, func(ct files.Content, r io.Reader) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if want, ok := b.data[ct.Digest]; !ok || !bytes.Equal(data, want) {
			t.Errorf("content %s: %d bytes, not the tree's", ct.Digest, len(data))
		}
		got[ct.Digest] = true
		return nil
	})
	return got, err
}

// The delta path: a node that has the first build's contents fetches
// only what the second adds, in one read of the index and one per range.
func TestFilesPublishAndDeltaFetch(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	cnt := &counting{Backend: backend.NewDirBackend(dir, backend.DirOptions{ReadOnly: isImmutableName})}
	c := NewCache(cnt)

	k1, k2 := cas.KeyOf([]byte("files-1")), cas.KeyOf([]byte("files-2"))
	b1 := packFiles(t, k1, baseTree(), nil)
	e1 := b1.publish(t, c)
	b2 := packFiles(t, k2, revTree(), b1)
	if len(b2.newPacks) != 1 {
		t.Fatalf("the second build packed %d new packs, want 1", len(b2.newPacks))
	}
	e2 := b2.publish(t, c)
	if e1.Format != FormatFiles || !e1.HasIndex() || e1.HasArchive() || e1.Files != int64(len(b1.ix.Entries)) {
		t.Fatalf("entry %+v", e1)
	}

	// A fresh node: everything, in as many reads as ranges, plus the index.
	cnt.reset()
	l1, err := c.Lookup(ctx, k1)
	if err != nil {
		t.Fatal(err)
	}
	cnt.reset() // the entry's read is the look-up's
	ix1, data1, err := c.OpenIndex(ctx, l1)
	if err != nil {
		t.Fatal(err)
	}
	if cas.DigestOf(data1) != l1.Index || int64(len(data1)) != l1.IndexSize {
		t.Fatalf("OpenIndex's bytes: %d bytes of digest %s, want the entry's %d bytes of %s", len(data1), cas.DigestOf(data1), l1.IndexSize, l1.Index)
	}
	got, err := fetchAll(t, c, b1, ix1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ix1.Contents) {
		t.Fatalf("fetched %d contents, want %d", len(got), len(ix1.Contents))
	}
	opens, _, _ := cnt.reset()
	if want := len(files.Plan(ix1, func(files.Content) bool { return true }, 256<<10)) + 1; opens != want {
		t.Fatalf("%d reads for a cold fetch, want %d", opens, want)
	}

	// The node has b1's contents: only b2's new ones are read.
	have := map[cas.Digest]bool{}
	for _, ct := range ix1.Contents {
		have[ct.Digest] = true
	}
	need := func(ct files.Content) bool { return !have[ct.Digest] }
	l2, err := c.Lookup(ctx, k2)
	if err != nil || l2.Index != e2.Index {
		t.Fatalf("Lookup = %+v, %v", l2, err)
	}
	cnt.reset()
	ix2, _, err := c.OpenIndex(ctx, l2)
	if err != nil {
		t.Fatal(err)
	}
	got, err = fetchAll(t, c, b2, ix2, need)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("fetched %d contents, want the 4 new ones", len(got))
	}
	for d := range got {
		if have[d] {
			t.Errorf("content %s was fetched, the node had it", d)
		}
	}
	opens, read, byName := cnt.reset()
	ranges := files.Plan(ix2, need, 256<<10)
	if opens != len(ranges)+1 || len(ranges) != 1 {
		t.Fatalf("%d reads for %d ranges, want ranges+1 (and 1 range: the new contents are one pack)", opens, len(ranges))
	}
	newPack := b2.newPacks[0]
	if got := byName[packName(newPack.Digest)]; got != newPack.Size {
		t.Errorf("read %d bytes of the new pack, want its %d", got, newPack.Size)
	}
	if read != newPack.Size+l2.IndexSize {
		t.Errorf("read %d bytes in all, want the new pack's %d and the index's %d", read, newPack.Size, l2.IndexSize)
	}
	t.Logf("delta: %d reads, %d bytes (the whole second build: %d bytes of packs)", opens, read, b1.newPacks[0].Size+newPack.Size)

	// Packs are shared: each is stored once, whoever published it.
	packs, err := c.Packs(ctx)
	if err != nil || len(packs) != 2 {
		t.Fatalf("Packs = %+v, %v; want the two packs", packs, err)
	}
	for _, p := range packs {
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(packName(p.Digest)))); err != nil || fi.Size() != p.Size || fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("pack %s: %v, %v (want %d bytes, read-only)", p.Digest, fi, err, p.Size)
		}
	}
	// Publishing the second build again uploads nothing new.
	cnt.reset()
	if again, err := c.PublishFiles(ctx, testEntry(k2), b2.ix, t.TempDir()); err != nil || again.Index != e2.Index {
		t.Fatalf("publishing again: %+v, %v", again, err)
	}
}

// A byte changed in a pack is refused as corrupt, naming the pack.
func TestFilesCorruptPackRefused(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	b := packFiles(t, cas.KeyOf([]byte("corrupt")), baseTree(), nil)
	e := b.publish(t, c)
	p := filepath.Join(c.String(), filepath.FromSlash(packName(b.newPacks[0].Digest)))
	os.Chmod(p, 0o644)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x40
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ix, _, err := c.OpenIndex(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fetchAll(t, c, b, ix, nil)
	if !errors.Is(err, files.ErrCorrupt) || !errors.Is(err, archive.ErrCorrupt) || !strings.Contains(err.Error(), b.newPacks[0].Digest.String()) {
		t.Fatalf("fetch of a corrupt pack: %v, want ErrCorrupt naming the pack", err)
	}

	// A truncated pack: the range ends early.
	if err := os.WriteFile(p, data[:len(data)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fetchAll(t, c, b, ix, nil); !errors.Is(err, files.ErrCorrupt) {
		t.Fatalf("fetch of a truncated pack: %v, want ErrCorrupt", err)
	}
	// A missing pack: not found.
	os.Remove(p)
	if _, err := fetchAll(t, c, b, ix, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch of a missing pack: %v, want ErrNotFound", err)
	}
}

// An index that is not the one the entry names is refused.
func TestFilesIndexRefused(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := cas.KeyOf([]byte("index"))
	b := packFiles(t, key, baseTree(), nil)
	e := b.publish(t, c)
	p := filepath.Join(c.String(), filepath.FromSlash(indexName(key, e.Index)))
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) {
		t.Helper()
		os.Chmod(p, 0o644)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(data[:len(data)-5])
	if _, _, err := c.OpenIndex(ctx, e); !errors.Is(err, files.ErrCorrupt) {
		t.Fatalf("a truncated index: %v, want ErrCorrupt", err)
	}
	var miss *MissError
	if _, err := c.Lookup(ctx, key); !errors.As(err, &miss) || miss.Reason != MissNoArchive || !strings.Contains(miss.Detail, "index") {
		t.Fatalf("Lookup of a key whose index is truncated: %v", err)
	}
	write(append(append([]byte(nil), data...), 0))
	if _, _, err := c.OpenIndex(ctx, e); !errors.Is(err, archive.ErrCorrupt) {
		t.Fatalf("a longer index: %v, want ErrCorrupt", err)
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 1
	write(flipped)
	if _, _, err := c.OpenIndex(ctx, e); !errors.Is(err, files.ErrCorrupt) {
		t.Fatalf("a changed index: %v, want ErrCorrupt", err)
	}
	write(data)
	if _, _, err := c.OpenIndex(ctx, e); err != nil {
		t.Fatal(err)
	}
	// The index of another prefix is not this entry's.
	other := e
	other.Prefix = "/elsewhere"
	if _, _, err := c.OpenIndex(ctx, other); !errors.Is(err, files.ErrCorrupt) {
		t.Fatalf("an index of another prefix: %v, want ErrCorrupt", err)
	}
	os.Remove(p)
	if _, _, err := c.OpenIndex(ctx, e); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a missing index: %v, want ErrNotFound", err)
	}
	if _, _, err := c.OpenIndex(ctx, testEntry(key)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an entry without an index: %v, want ErrNotFound", err)
	}
	// An archive-only entry has no index; a files-only one no archive.
	if _, err := c.Open(ctx, e); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of an entry without an archive: %v", err)
	}
}

// The signature covers the index: an entry whose index was changed
// fails verification; an entry holding both stays verifiable by a rezup
// that knows only archives.
func TestFilesSignatures(t *testing.T) {
	ctx := context.Background()
	sk := seededKey(t, "studio-1", 0)
	c := newTestCache(t).WithSigner(sk).WithTrustedKeys(sk.Public())
	k1, k2 := cas.KeyOf([]byte("signed-1")), cas.KeyOf([]byte("signed-2"))
	b1 := packFiles(t, k1, baseTree(), nil)
	e1 := b1.publish(t, c)
	if len(e1.Signatures) != 1 {
		t.Fatalf("signatures %v, want one", e1.Signatures)
	}
	st, _ := Statement(e1)
	if !strings.HasPrefix(string(st), "rezup-entry/2\n"+k1.String()+"\nfiles\n") || !strings.Contains(string(st), e1.Index.String()) {
		t.Fatalf("statement %q does not cover the index", st)
	}
	if _, err := c.Lookup(ctx, k1); err != nil {
		t.Fatal(err)
	}
	b2 := packFiles(t, k2, revTree(), b1)
	e2 := b2.publish(t, c)

	// entry.json altered to name another index.
	for _, alter := range []func(*Entry){
		func(e *Entry) { e.Index, e.IndexSize = e2.Index, e2.IndexSize },
		func(e *Entry) { e.IndexSize++ },
		func(e *Entry) { e.Format = "files2" },
	} {
		bad := e1
		alter(&bad)
		if err := Verify(bad, []PublicKey{sk.Public()}); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify of an altered entry: %v, want ErrBadSignature", err)
		}
	}
	bad := e1
	bad.Index, bad.IndexSize = e2.Index, e2.IndexSize
	writeEntry(t, c, bad)
	var miss *MissError
	if _, err := c.Lookup(ctx, k1); !errors.As(err, &miss) || miss.Reason != MissUntrusted || !strings.Contains(miss.Detail, ErrBadSignature.Error()) {
		t.Fatalf("Lookup of an entry whose index was changed: %v, want MissUntrusted (bad signature)", err)
	}
	// Turned into an archive entry that names an index: refused as such.
	bad = e1
	bad.Format = ""
	writeEntry(t, c, bad)
	if _, err := c.Lookup(ctx, k1); !errors.As(err, &miss) || miss.Reason != MissBadEntry {
		t.Fatalf("Lookup of an archive-format entry naming an index: %v, want MissBadEntry", err)
	}

	// Both an archive and an index: two signatures; an old rezup verifies
	// its archive statement, this one the whole entry.
	k3 := cas.KeyOf([]byte("signed-both"))
	b3 := packFiles(t, k3, baseTree(), nil)
	a := archiveOf(t, []byte("an archive"), 3, 10)
	e3, err := c.PublishBuild(ctx, testEntry(k3), Build{Archive: &a, Index: b3.ix, PackDir: b3.packDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(e3.Signatures) != 2 || !e3.HasArchive() || !e3.HasIndex() || e3.Format != FormatFiles || e3.Files != 3 {
		t.Fatalf("entry %+v", e3)
	}
	if _, err := c.Lookup(ctx, k3); err != nil {
		t.Fatal(err)
	}
	old := Entry{Key: e3.Key, Digest: e3.Digest, Size: e3.Size, Prefix: e3.Prefix, Interpreter: e3.Interpreter}
	oldSt, _ := Statement(old)
	if err := VerifySignatures("old", oldSt, e3.Signatures, []PublicKey{sk.Public()}); err != nil {
		t.Fatalf("an old rezup cannot verify an entry holding both: %v", err)
	}
	altered := e3
	altered.Index = e2.Index
	if err := Verify(altered, []PublicKey{sk.Public()}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("the archive's signature verifies an entry whose index changed: %v", err)
	}
	rc, err := c.Open(ctx, e3)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(body) != "an archive" {
		t.Fatalf("archive of an entry holding both: %q, %v", body, err)
	}
}

func writeEntry(t *testing.T, c *Cache, e Entry) {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(c.String(), filepath.FromSlash(entryName(e.Key)))
	os.Remove(p)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// An archive entry is what it always was: no format, no index, the
// rezup-entry/1 statement.
func TestArchiveEntryUnchanged(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t).WithSigner(seededKey(t, "studio-1", 0))
	key := cas.KeyOf([]byte("archive-only"))
	e, err := c.Publish(ctx, testEntry(key), archiveOf(t, []byte("bytes"), 1, 5))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(c.String(), filepath.FromSlash(entryName(key))))
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"format"`, `"index"`, `"index_size"`} {
		if bytes.Contains(raw, []byte(field)) {
			t.Errorf("an archive entry holds %s:\n%s", field, raw)
		}
	}
	if st, _ := Statement(e); !strings.HasPrefix(string(st), "rezup-entry/1\n") {
		t.Errorf("statement %q", st)
	}
	if len(e.Signatures) != 1 {
		t.Errorf("signatures %v", e.Signatures)
	}
}

// An entry of a format this rezup does not know is a miss it does not
// publish over.
func TestUnknownFormat(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := cas.KeyOf([]byte("future"))
	e := testEntry(key)
	e.Format, e.Index, e.IndexSize = "files/9", cas.DigestOf([]byte("x")), 10
	if err := os.MkdirAll(filepath.Join(c.String(), key.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	writeEntry(t, c, e)
	var miss *MissError
	if _, err := c.Lookup(ctx, key); !errors.As(err, &miss) || miss.Reason != MissFormat {
		t.Fatalf("Lookup: %v, want MissFormat", err)
	}
	if _, err := c.Publish(ctx, testEntry(key), archiveOf(t, []byte("old"), 1, 3)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Publish over a newer entry: %v", err)
	}
	if _, err := c.Pinned(ctx, e); !errors.As(err, &miss) || miss.Reason != MissFormat {
		t.Fatalf("Pinned: %v, want MissFormat", err)
	}
}

// A pin may name an index: Pinned checks it is there, whatever
// entry.json names.
func TestPinnedIndex(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := cas.KeyOf([]byte("pinned-index"))
	b := packFiles(t, key, baseTree(), nil)
	pin := b.publish(t, c)
	got, err := c.Pinned(ctx, pin)
	if err != nil || got.Index != pin.Index || got.Signatures != nil {
		t.Fatalf("Pinned = %+v, %v", got, err)
	}
	if err := c.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	var miss *MissError
	if _, err := c.Pinned(ctx, pin); !errors.As(err, &miss) || miss.Reason != MissNoArchive || !strings.Contains(miss.Detail, "pinned index") {
		t.Fatalf("Pinned of a removed index: %v", err)
	}
	noIndex := pin
	noIndex.IndexSize = 0
	if _, err := c.Pinned(ctx, noIndex); !errors.As(err, &miss) || miss.Reason != MissBadEntry {
		t.Fatalf("Pinned of a pin without an index size: %v", err)
	}
}

// What lists the cache sees packs and indexes for what they are: Keys
// skips the pack tree, Archives lists no index, Remove takes a key's
// indexes but no pack, Packs lists complete packs only.
func TestFilesListing(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	k1, k2 := cas.KeyOf([]byte("list-1")), cas.KeyOf([]byte("list-2"))
	b1 := packFiles(t, k1, baseTree(), nil)
	e1 := b1.publish(t, c)
	b2 := packFiles(t, k2, revTree(), b1)
	e2 := b2.publish(t, c)
	// Leftovers of a pack put in flight, and names that are not packs.
	junk := filepath.Join(c.String(), packsDir, "ab")
	os.MkdirAll(junk, 0o755)
	os.WriteFile(filepath.Join(junk, "x"+fsx.TempSuffix), []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(junk, e1.Index.String()+files.Ext), nil, 0o644) // in the wrong directory
	os.WriteFile(filepath.Join(c.String(), packsDir, "README"), nil, 0o644)

	keys, err := c.Keys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatalf("Keys = %+v, %v; want the two keys", keys, err)
	}
	for _, k := range []cas.Key{k1, k2} {
		if archives, err := c.Archives(ctx, k); err != nil || len(archives) != 0 {
			t.Fatalf("Archives(%s) = %+v, %v; want none", k, archives, err)
		}
	}
	indexes, err := c.Indexes(ctx, k2)
	if err != nil || len(indexes) != 1 || indexes[0].Digest != e2.Index || !indexes[0].Named || indexes[0].Size != e2.IndexSize {
		t.Fatalf("Indexes = %+v, %v", indexes, err)
	}
	packs, err := c.Packs(ctx)
	if err != nil || len(packs) != 2 {
		t.Fatalf("Packs = %+v, %v; want the 2 packs only", packs, err)
	}
	// What a collector does: read every index of the keys it keeps.
	named := map[cas.Digest]bool{}
	for _, ii := range indexes {
		ix, err := c.ReadIndex(ctx, k2, ii.Digest, ii.Size)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ix.Packs {
			named[p.Digest] = true
		}
	}
	if len(named) != 2 {
		t.Fatalf("the second build names %d packs, want both", len(named))
	}
	if err := c.RemoveIndex(ctx, k2, e2.Index); !errors.Is(err, ErrNamed) {
		t.Fatalf("RemoveIndex of the named index: %v", err)
	}

	// Removing the first key leaves the packs the second names.
	if err := c.Remove(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.String(), k1.String())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key dir still there: %v", err)
	}
	if packs, _ := c.Packs(ctx); len(packs) != 2 {
		t.Fatalf("Remove took packs: %+v", packs)
	}
	ix2, _, err := c.OpenIndex(ctx, e2)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := fetchAll(t, c, b2, ix2, nil); err != nil || len(got) != len(ix2.Contents) {
		t.Fatalf("fetch after the base key went: %d, %v", len(got), err)
	}
	for _, p := range packs {
		if err := c.RemovePack(ctx, p.Digest); err != nil {
			t.Fatal(err)
		}
		if err := c.RemovePack(ctx, p.Digest); err != nil {
			t.Fatalf("removing a removed pack: %v", err)
		}
	}
	if packs, err := c.Packs(ctx); err != nil || len(packs) != 0 {
		t.Fatalf("Packs after removal = %+v, %v", packs, err)
	}
}

// A publish whose pack is neither in the cache nor in the pack directory
// fails, and commits nothing.
func TestPublishFilesMissingPack(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	key := cas.KeyOf([]byte("missing-pack"))
	b := packFiles(t, key, baseTree(), nil)
	if _, err := c.PublishFiles(ctx, testEntry(key), b.ix, t.TempDir()); err == nil {
		t.Fatal("published an index whose pack is nowhere")
	}
	var miss *MissError
	if _, err := c.Lookup(ctx, key); !errors.As(err, &miss) || miss.Reason != MissNoEntry {
		t.Fatalf("Lookup after a failed publish: %v", err)
	}
	other := testEntry(key)
	other.Prefix = "/elsewhere"
	if _, err := c.PublishFiles(ctx, other, b.ix, b.packDir); err == nil {
		t.Fatal("published an index of another prefix")
	}
}

// The rezup-entry/2 statement is golden too: changing it makes every
// signed entry of the file-level format a miss.
func TestStatementFilesGolden(t *testing.T) {
	e := goldenEntry()
	e.Format, e.Index, e.IndexSize = FormatFiles, cas.DigestOf([]byte("index")), 678
	st, err := Statement(e)
	if err != nil {
		t.Fatal(err)
	}
	want := "rezup-entry/2\n" +
		"68ca9baf17c67ef7b4560a4455bacf8d\n" +
		"files\n" +
		"1ff28929422717d74e648482a67b31b423e83858609e2ae1aef3ab9f77066c5b\n" +
		"12345\n" +
		cas.DigestOf([]byte("index")).String() + "\n" +
		"678\n" +
		"/home/td/.rezup/.store/68ca9baf17c67ef7b4560a4455bacf8d\n" +
		"cpython\n3.11.9\nlinux-x86_64\n"
	if string(st) != want {
		t.Errorf("statement\n%q\nwant\n%q", st, want)
	}
	e.Digest, e.Size = cas.Digest{}, 0
	st, _ = Statement(e)
	if !strings.Contains(string(st), "files\n"+strings.Repeat("0", 64)+"\n0\n") {
		t.Errorf("statement without an archive: %q", st)
	}
}

// packThief removes a pack the publisher found in the cache just before
// the entry is committed: what a collector that planned before the index
// was put could do.
type packThief struct {
	backend.Backend
	pack string
}

func (b *packThief) Put(ctx context.Context, name string, src backend.Source) error {
	if strings.HasSuffix(name, "/"+entryFile) && b.pack != "" {
		b.Backend.Delete(ctx, b.pack)
	}
	return b.Backend.Put(ctx, name, src)
}

func TestPublishFilesPackGoneMeanwhile(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	thief := &packThief{Backend: backend.NewDirBackend(dir, backend.DirOptions{})}
	c := NewCache(thief)
	b1 := packFiles(t, cas.KeyOf([]byte("gone-1")), baseTree(), nil)
	b1.publish(t, c)
	k2 := cas.KeyOf([]byte("gone-2"))
	b2 := packFiles(t, k2, revTree(), b1)
	thief.pack = packName(b1.newPacks[0].Digest)
	_, err := c.PublishFiles(ctx, testEntry(k2), b2.ix, b2.packDir)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), b1.newPacks[0].Digest.String()) {
		t.Fatalf("publish whose base pack went: %v, want ErrNotFound naming it", err)
	}
	var miss *MissError
	if _, err := c.Lookup(ctx, k2); !errors.As(err, &miss) || miss.Reason != MissNoEntry {
		t.Fatalf("the entry naming a missing pack stayed: %v", err)
	}
}

// A pack read is bounded in time as an archive is: a server that
// trickles is given up on with ErrTooSlow.
func TestFetchContentsBoundedInTime(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	b := packFiles(t, cas.KeyOf([]byte("slow-files")), baseTree(), nil)
	e := b.publish(t, newCacheIn(dir))
	ix, _, err := newCacheIn(dir).OpenIndex(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	reg := backend.NewRegistry()
	reg.Register("slow", func(string) (backend.Backend, error) {
		return trickle{backend.NewDirBackend(dir, backend.DirOptions{}), 2 * time.Millisecond}, nil
	})
	c, err := OpenWith("slow://x", OpenOptions{Schemes: reg, StackOptions: backend.StackOptions{IdleTimeout: 200 * time.Millisecond}, MinRate: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = fetchAll(t, c, b, ix, nil)
	if !errors.Is(err, ErrTooSlow) {
		t.Fatalf("trickled pack: %v, want ErrTooSlow", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("gave up after %v", took)
	}
}

// openRange reads exactly the range, and refuses a body that ends first.
func TestOpenRange(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t)
	if err := c.b.Put(ctx, "obj", backend.BytesSource([]byte("0123456789"))); err != nil {
		t.Fatal(err)
	}
	rc, err := c.openRange(ctx, "obj", 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "23456" {
		t.Fatalf("range = %q, %v", got, err)
	}
	rc, err = c.openRange(ctx, "obj", 8, 5)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, files.ErrCorrupt) || string(got) != "89" {
		t.Fatalf("short range = %q, %v; want ErrUnexpectedEOF and ErrCorrupt", got, err)
	}
}

// Several ranges at once: every needed content once, a read per range,
// and a corrupt one still refused.
func TestFetchContentsParallel(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	cnt := &counting{Backend: backend.NewDirBackend(dir, backend.DirOptions{ReadOnly: isImmutableName})}
	c := NewCache(cnt)
	b := packFiles(t, cas.KeyOf([]byte("parallel")), baseTree(), nil)
	e := b.publish(t, c)
	ix, _, err := c.OpenIndex(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	// Every other content, no gap merged: many ranges.
	need := func(ct files.Content) bool { return ct.Digest[0]%2 == 0 }
	ranges := files.Plan(ix, need, 0)
	if len(ranges) < 4 {
		t.Fatalf("%d ranges: the test needs more", len(ranges))
	}
	cnt.reset()
	var mu sync.Mutex
	got := map[cas.Digest]int{}
	err = c.FetchContentsWith(ctx, ix, need, FetchOptions{Parallel: 3}, func(ct files.Content, r io.Reader) error {
		data, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if !bytes.Equal(data, b.data[ct.Digest]) {
			t.Errorf("content %s is not the tree's", ct.Digest)
		}
		mu.Lock()
		got[ct.Digest]++
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, ct := range ix.Contents {
		if need(ct) {
			want++
			if got[ct.Digest] != 1 {
				t.Errorf("content %s handed out %d times", ct.Digest, got[ct.Digest])
			}
		}
	}
	if len(got) != want {
		t.Errorf("%d contents, want %d", len(got), want)
	}
	if opens, _, _ := cnt.reset(); opens != len(ranges) {
		t.Errorf("%d reads for %d ranges", opens, len(ranges))
	}

	p := filepath.Join(dir, filepath.FromSlash(packName(b.newPacks[0].Digest)))
	os.Chmod(p, 0o644)
	data, _ := os.ReadFile(p)
	for _, rg := range ranges {
		data[rg.Offset+rg.Length/2] ^= 0x10
	}
	os.WriteFile(p, data, 0o644)
	err = c.FetchContentsWith(ctx, ix, need, FetchOptions{Parallel: 3}, func(ct files.Content, r io.Reader) error {
		_, err := io.Copy(io.Discard, r)
		return err
	})
	if !errors.Is(err, files.ErrCorrupt) {
		t.Fatalf("parallel fetch of a corrupt pack: %v, want ErrCorrupt", err)
	}
}
