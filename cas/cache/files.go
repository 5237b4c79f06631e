package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/files"
)

// The file-level format (cas/files) in the cache:
//
//	<key>/<index-digest>.index            a key's index: files.Marshal's bytes, named by their digest
//	packs/<2 hex>/<pack-digest>.pack      packs, shared by every key, named by their digest
//
// The two hex characters are the first two of the pack's digest, so that
// no directory holds more than a few thousand packs. "packs" is not a
// key, so Keys ignores the pack tree; an index is not an archive, so
// Archives does not list it; Remove removes a key's indexes, never a pack.

const (
	// IndexExt is the extension of an index in the cache.
	IndexExt = ".index"
	// packsDir is the top directory of the packs.
	packsDir = "packs"
)

func indexName(k cas.Key, d cas.Digest) string { return k.String() + "/" + d.String() + IndexExt }
func packName(d cas.Digest) string {
	s := d.String()
	return packsDir + "/" + s[:2] + "/" + s + files.Ext
}
func isIndexName(name string) bool { return strings.HasSuffix(name, IndexExt) && !isTempName(name) }

// parsePackName is the digest of a pack's name, ok false for any other
// name (a temp name, a marker, a name in the wrong directory).
func parsePackName(name string) (cas.Digest, bool) {
	rest, ok := strings.CutPrefix(name, packsDir+"/")
	if !ok {
		return cas.Digest{}, false
	}
	dir, base, ok := strings.Cut(rest, "/")
	if !ok || len(dir) != 2 || !strings.HasSuffix(base, files.Ext) {
		return cas.Digest{}, false
	}
	d, err := cas.ParseDigest(strings.TrimSuffix(base, files.Ext))
	if err != nil || !strings.HasPrefix(base, dir) {
		return cas.Digest{}, false
	}
	return d, true
}

// isImmutableName says which objects are never changed once stored
// (archives, indexes, packs): the directory backend stores them
// read-only.
func isImmutableName(name string) bool {
	if _, ok := parsePackName(name); ok {
		return true
	}
	return isArchiveName(name) || isIndexName(name)
}

// Build is what PublishBuild stores for a key: an archive, an index of
// the file-level format with its packs, or both.
type Build struct {
	// Archive is an archive file (archive.PackFile's).
	Archive *archive.Archive
	// Index is a build's index (files.Scan, then files.Pack), at the
	// entry's Prefix; PackDir is the directory files.Pack wrote its new
	// packs to (PackOptions.Dir): a pack the index names and the cache
	// lacks is uploaded from there.
	Index   *files.Index
	PackDir string
}

// PublishFiles publishes ix, an index of the file-level format, and
// its packs, as PublishBuild does.
func (c *Cache) PublishFiles(ctx context.Context, e Entry, ix *files.Index, packDir string) (Entry, error) {
	return c.PublishBuild(ctx, e, Build{Index: ix, PackDir: packDir})
}

// PublishBuild stores b under e.Key and then commits e as the key's
// entry, with what b holds: an archive (Digest, Size, Files, Bytes, as
// Publish), an index (Format FormatFiles, Index, IndexSize; Files and
// Bytes from the index when there is no archive), or both. Signing and
// the commit are Publish's.
//
// An index is stored as <key>/<digest>.index (files.Marshal's bytes),
// before its packs: a collector that reads every index of the keys it
// keeps sees which packs a publish in flight reuses. Then every pack the
// index names that the cache lacks (a Stat each) is put from
// b.PackDir/<digest>.pack, create-only (a pack of the same name holds
// the same bytes: it is kept); packs are shared by every key, at
// packs/<2 hex>/<digest>.pack. entry.json is put last. Once committed,
// each pack is checked again (a Stat, its size): an entry naming a pack
// that went meanwhile (a collector that planned before the index was
// put) is removed, and PublishBuild fails with an error wrapping
// ErrNotFound.
func (c *Cache) PublishBuild(ctx context.Context, e Entry, b Build) (Entry, error) {
	got, err := c.publishBuild(ctx, e, b)
	if err != nil {
		return Entry{}, fmt.Errorf("publish %s to %s: %w", e.Key, c, err)
	}
	return got, nil
}

func (c *Cache) publishBuild(ctx context.Context, e Entry, b Build) (Entry, error) {
	e.Format, e.Digest, e.Size, e.Index, e.IndexSize = "", cas.Digest{}, 0, cas.Digest{}, 0
	if b.Archive == nil && b.Index == nil {
		return Entry{}, errors.New("nothing to publish: neither an archive nor an index")
	}
	if a := b.Archive; a != nil {
		e.Digest, e.Size, e.Files, e.Bytes = a.Digest, a.Size, a.Files, a.Bytes
	}
	var ixBytes []byte
	if ix := b.Index; ix != nil {
		if ix.Prefix != e.Prefix {
			return Entry{}, fmt.Errorf("the index was built at %s, the entry at %s", ix.Prefix, e.Prefix)
		}
		data, d, err := files.Marshal(ix)
		if err != nil {
			return Entry{}, err
		}
		ixBytes = data
		e.Format, e.Index, e.IndexSize = FormatFiles, d, int64(len(data))
		if b.Archive == nil {
			e.Files, e.Bytes = int64(len(ix.Entries)), 0
			for _, en := range ix.Entries {
				e.Bytes += en.Size
			}
		}
	}
	if e.Created.IsZero() {
		e.Created = c.now().UTC()
	}
	e.Signatures = nil
	if c.signer != nil {
		var err error
		if e, err = Sign(e, *c.signer); err != nil {
			return Entry{}, err
		}
	}
	if b.Archive != nil {
		if err := c.putArchive(ctx, e, *b.Archive); err != nil {
			return Entry{}, err
		}
	}
	if b.Index != nil {
		if err := c.putNamed(ctx, indexName(e.Key, e.Index), backend.BytesSource(ixBytes)); err != nil {
			return Entry{}, err
		}
		if err := c.putPacks(ctx, b.Index.Packs, b.PackDir); err != nil {
			return Entry{}, err
		}
	}
	got, err := c.commit(ctx, e)
	if err != nil || b.Index == nil || got.Index != e.Index {
		return got, err
	}
	// Committed: check the packs are all still there.
	if missing, err := c.missingPacks(ctx, b.Index.Packs); err != nil {
		return got, err
	} else if len(missing) > 0 {
		if err := c.b.Delete(ctx, entryName(e.Key)); err != nil && !backend.IsNotExist(err) {
			return got, fmt.Errorf("the entry names %d packs that went since they were checked (%s), and it could not be removed: %w", len(missing), missing[0], err)
		}
		return Entry{}, fmt.Errorf("packs went while the entry was committed (%s, …: %d), so it was removed again: %w", missing[0], len(missing), ErrNotFound)
	}
	return got, nil
}

// putPacks puts the packs of refs that the cache lacks from dir.
func (c *Cache) putPacks(ctx context.Context, refs []files.PackRef, dir string) error {
	for _, p := range refs {
		name := packName(p.Digest)
		fi, err := c.b.Stat(ctx, name)
		switch {
		case err == nil && fi.Size == p.Size:
			continue // content-named: the same bytes
		case err == nil:
			return fmt.Errorf("%s exists with %d bytes, not %d: it is damaged, remove it", name, fi.Size, p.Size)
		case !backend.IsNotExist(err):
			return err
		}
		if err := c.putPack(ctx, p, dir); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cache) putPack(ctx context.Context, p files.PackRef, dir string) error {
	if dir == "" {
		return fmt.Errorf("pack %s is not in the cache, and no pack directory was given", p.Digest)
	}
	src, err := backend.OpenFileSource(filepath.Join(dir, p.Digest.String()+files.Ext))
	if err != nil {
		return fmt.Errorf("pack %s is not in the cache: %w", p.Digest, err)
	}
	defer src.Close() // read-only: a close error loses nothing
	if src.Length() != p.Size {
		return fmt.Errorf("%s has %d bytes, not the %d the index states", src.Name(), src.Length(), p.Size)
	}
	return c.putNamed(ctx, packName(p.Digest), src)
}

// missingPacks names the packs of refs that are not in the cache with
// their size.
func (c *Cache) missingPacks(ctx context.Context, refs []files.PackRef) ([]string, error) {
	var missing []string
	for _, p := range refs {
		fi, err := c.b.Stat(ctx, packName(p.Digest))
		switch {
		case backend.IsNotExist(err), errors.Is(err, backend.ErrNotRegular), err == nil && fi.Size != p.Size:
			missing = append(missing, p.Digest.String())
		case err != nil:
			return nil, err
		}
	}
	return missing, nil
}

// OpenIndex reads, verifies and parses the index e names (an entry or a
// pin of FormatFiles), as files.Parse does within its default limits,
// and checks it was built at e.Prefix. The read is bounded as Open's: at
// most e.IndexSize bytes, in the time that many allow. An index that is
// not what e names (another digest, truncated, longer, hostile) is an
// error wrapping files.ErrCorrupt (so archive.ErrCorrupt); a missing one
// wraps ErrNotFound. data is the index as stored, verified (its digest
// is e.Index): what a node keeps of it, without encoding it again.
func (c *Cache) OpenIndex(ctx context.Context, e Entry) (ix *files.Index, data []byte, err error) {
	if !e.HasIndex() || e.IndexSize <= 0 {
		return nil, nil, fmt.Errorf("open the index of %s in %s: the entry holds no index (format %q): %w", e.Key, c, e.Format, ErrNotFound)
	}
	ix, data, err = c.readIndex(ctx, e.Key, e.Index, e.IndexSize)
	if err != nil {
		return nil, nil, fmt.Errorf("read index %s of %s in %s: %w", e.Index, e.Key, c, err)
	}
	if ix.Prefix != e.Prefix {
		return nil, nil, fmt.Errorf("open the index of %s in %s: it was built at %s, the entry says %s: %w", e.Key, c, ix.Prefix, e.Prefix, files.ErrCorrupt)
	}
	return ix, data, nil
}

// ReadIndex reads the index d of key, size bytes long, as OpenIndex does
// without an entry: what a collector reads to know which packs an index
// names (see Indexes).
func (c *Cache) ReadIndex(ctx context.Context, key cas.Key, d cas.Digest, size int64) (*files.Index, error) {
	ix, _, err := c.readIndex(ctx, key, d, size)
	if err != nil {
		return nil, fmt.Errorf("read index %s of %s in %s: %w", d, key, c, err)
	}
	return ix, nil
}

// readIndex reads, verifies and parses index d of key, and returns it with
// its bytes.
func (c *Cache) readIndex(ctx context.Context, key cas.Key, d cas.Digest, size int64) (*files.Index, []byte, error) {
	lim := files.DefaultLimits()
	if size <= 0 || size > lim.MaxIndexSize {
		return nil, nil, fmt.Errorf("an index of %d bytes (at most %d): %w", size, lim.MaxIndexSize, files.ErrCorrupt)
	}
	name := indexName(key, d)
	ctx, cancel := c.bounded(ctx, name, size)
	rc, err := c.b.Open(ctx, name, 0, -1)
	if err != nil {
		cancel()
		if backend.IsNotExist(err) {
			return nil, nil, fmt.Errorf("%s is missing: %w", name, ErrNotFound)
		}
		return nil, nil, err
	}
	r := &cappedReader{rc: rc, left: size, name: name, cancel: cancel}
	defer r.Close() // read-only: a close error loses nothing
	data, err := io.ReadAll(r)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// Retries resume a dropped read: a body that still ends early is
		// an index shorter than the one named.
		return nil, nil, fmt.Errorf("%w (%w)", err, files.ErrCorrupt)
	}
	if err != nil {
		return nil, nil, err
	}
	ix, err := files.Parse(data, d, lim)
	if err != nil {
		return nil, nil, err
	}
	return ix, data, nil
}

// FetchContents reads from the packs the contents of ix that need says
// are needed (nil: all of them), and hands each to fn with a reader of its
// bytes, as files.ReadRange does: the reader ends with io.EOF only once
// the content's bytes hash to its digest. It makes one ranged read per
// range files.Plan gives (frames at most gap bytes apart merged), one
// after the other, each bounded as Open's reads are: its length in bytes,
// and the time its length allows at the minimum rate. So a fetch of a
// build is 1 + len(Plan(...)) reads, the index's included.
//
// A pack that is missing is an error wrapping ErrNotFound; a content
// that does not hash to its digest, a range that does not decompress or
// ends early, an error wrapping files.ErrCorrupt (so archive.ErrCorrupt),
// naming the pack: fetching again may help, building always does.
// fn's error is returned, wrapped.
func (c *Cache) FetchContents(ctx context.Context, ix *files.Index, need func(files.Content) bool, gap int64, fn func(files.Content, io.Reader) error) error {
	return c.FetchContentsWith(ctx, ix, need, FetchOptions{Gap: gap}, fn)
}

// FetchOptions tune FetchContentsWith.
type FetchOptions struct {
	// Gap is files.Plan's: frames at most Gap bytes apart are read in one
	// request, the bytes between them read and dropped.
	Gap int64
	// Parallel is how many ranges are read at once (<= 1: one after the
	// other). With more than one, fn is called from as many goroutines at
	// once.
	Parallel int
}

// FetchContentsWith is FetchContents with options: several ranges may be
// read at once. The first error stops the reads in flight and is
// returned.
func (c *Cache) FetchContentsWith(ctx context.Context, ix *files.Index, need func(files.Content) bool, opt FetchOptions, fn func(files.Content, io.Reader) error) error {
	if need == nil {
		need = func(files.Content) bool { return true }
	}
	ranges := files.Plan(ix, need, opt.Gap)
	fetch := func(ctx context.Context, rg files.Range) error {
		if err := c.fetchRange(ctx, rg, fn); err != nil {
			return fmt.Errorf("fetch %d bytes at %d of pack %s from %s: %w", rg.Length, rg.Offset, rg.Pack.Digest, c, err)
		}
		return nil
	}
	if opt.Parallel <= 1 || len(ranges) <= 1 {
		for _, rg := range ranges {
			if err := fetch(ctx, rg); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		slots = make(chan struct{}, opt.Parallel)
	)
	for _, rg := range ranges {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if err := fetch(ctx, rg); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fetch from %s: %w", c, err)
	}
	return nil
}

func (c *Cache) fetchRange(ctx context.Context, rg files.Range, fn func(files.Content, io.Reader) error) error {
	name := packName(rg.Pack.Digest)
	ctx, cancel := c.bounded(ctx, name, rg.Length)
	defer cancel()
	rc, err := c.openRange(ctx, name, rg.Offset, rg.Length)
	if backend.IsNotExist(err) {
		return fmt.Errorf("the pack is missing: %w", ErrNotFound)
	}
	if err != nil {
		return err
	}
	defer rc.Close() // read-only: a close error loses nothing
	return files.ReadRange(rc, rg, fn)
}

// openRange opens length bytes of name from offset on, the body ending
// with io.EOF after exactly length bytes, and an error wrapping
// files.ErrCorrupt (and io.ErrUnexpectedEOF) when the object ends first.
// It is the one ranged read of the cache: the backend is asked for the
// range alone (an HTTP Range, an S3 ranged GET), and this reader holds
// it to exactly length bytes whatever the backend sends.
func (c *Cache) openRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := c.b.Open(ctx, name, offset, length)
	if err != nil {
		return nil, err
	}
	return &rangeReader{rc: rc, left: length, name: name}, nil
}

// rangeReader reads the length bytes of a ranged read, no more, and
// refuses a body that ends before them.
type rangeReader struct {
	rc   io.ReadCloser
	left int64
	name string
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.rc.Read(p)
	r.left -= int64(n)
	switch {
	case r.left == 0 && (err == nil || err == io.EOF):
		return n, nil
	case err == io.EOF:
		return n, fmt.Errorf("%s ends %d bytes short of the range read: %w (%w)", r.name, r.left, io.ErrUnexpectedEOF, files.ErrCorrupt)
	}
	return n, err
}

func (r *rangeReader) Close() error { return r.rc.Close() }

// PackInfo is a pack in the cache.
type PackInfo struct {
	Digest   cas.Digest
	Size     int64
	Modified time.Time // when it was stored
}

// Packs lists the packs in the cache (complete ones, named by their
// digest: puts in flight are temp names and not listed), sorted by
// digest. Which are named is for the collector to tell, from the indexes
// of the keys it keeps (Indexes, ReadIndex) and of the pins it knows.
func (c *Cache) Packs(ctx context.Context) ([]PackInfo, error) {
	var out []PackInfo
	err := c.b.List(ctx, packsDir+"/", func(o backend.ObjectInfo) error {
		if d, ok := parsePackName(o.Name); ok && !isTempName(o.Name) {
			out = append(out, PackInfo{Digest: d, Size: o.Size, Modified: o.ModTime})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the packs of %s: %w", c, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest.String() < out[j].Digest.String() })
	return out, nil
}

// RemovePack deletes pack d. No index is read: a pack goes only when no
// index a collector keeps names it, and it is older than the cache grace
// (so that a publish in flight that reuses it has put its index, which
// the collector reads, and a publish that put it has committed). A
// publish that checked the pack was there just before it went notices
// once committed (see PublishBuild). Removing a pack that is not there is
// not an error.
func (c *Cache) RemovePack(ctx context.Context, d cas.Digest) error {
	if err := c.b.Delete(ctx, packName(d)); err != nil && !backend.IsNotExist(err) {
		return fmt.Errorf("remove pack %s from %s: %w", d, c, err)
	}
	return nil
}

// IndexInfo is one index stored under a key.
type IndexInfo struct {
	Digest   cas.Digest
	Size     int64
	Modified time.Time // when it was stored
	// Named says the key's entry.json names it (read without the trust
	// check, as ArchiveInfo.Named).
	Named bool
}

// Indexes lists the indexes stored under key (complete ones, named by
// their digest), sorted by digest, and which one entry.json names: those
// of concurrent publishes, or of a publish in flight or that crashed,
// are not named. A collector reads each (ReadIndex) to know which packs
// it must keep.
func (c *Cache) Indexes(ctx context.Context, key cas.Key) ([]IndexInfo, error) {
	e, ok, err := c.namedEntry(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s in %s: %w", key, c, err)
	}
	stored, err := c.storedUnder(ctx, key, IndexExt)
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s in %s: %w", key, c, err)
	}
	out := make([]IndexInfo, 0, len(stored))
	for _, o := range stored {
		out = append(out, IndexInfo{Digest: o.digest, Size: o.Size, Modified: o.ModTime, Named: ok && e.HasIndex() && e.Index == o.digest})
	}
	return out, nil
}

// RemoveIndex deletes index d of key, unless entry.json names it at that
// moment (an error wrapping ErrNamed), as RemoveArchive does. Removing an
// index that is not there is not an error.
func (c *Cache) RemoveIndex(ctx context.Context, key cas.Key, d cas.Digest) error {
	e, ok, err := c.namedEntry(ctx, key)
	if err != nil {
		return fmt.Errorf("remove index %s of %s from %s: %w", d, key, c, err)
	}
	if ok && e.HasIndex() && e.Index == d {
		return fmt.Errorf("remove index %s of %s from %s: %w", d, key, c, ErrNamed)
	}
	if err := c.b.Delete(ctx, indexName(key, d)); err != nil && !backend.IsNotExist(err) {
		return fmt.Errorf("remove index %s of %s from %s: %w", d, key, c, err)
	}
	return nil
}
