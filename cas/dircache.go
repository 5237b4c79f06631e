package cas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/internal/fsx"
	"github.com/zeebo/blake3"
)

// entryFile is the commit point of a key's directory.
const entryFile = "entry.json"

// archiveExt follows the digest in an archive's file name.
const archiveExt = ".tar.zst"

// DirCache is a Cache in a directory: local disk, NFS or SMB.
//
//	<dir>/<key>/<digest>.tar.zst   archives, never overwritten
//	<dir>/<key>/entry.json         the commit point, replaced atomically
//
// Readers ignore temp files and every archive entry.json does not name.
type DirCache struct {
	dir string
	now func() time.Time

	writableOnce sync.Once
	writable     bool
}

// NewDirCache returns the cache in dir. dir need not exist yet: the first
// Publish creates it.
func NewDirCache(dir string) *DirCache {
	return &DirCache{dir: dir, now: time.Now}
}

// String returns the cache directory.
func (c *DirCache) String() string { return c.dir }

func (c *DirCache) keyDir(k Key) string { return filepath.Join(c.dir, k.String()) }

func (c *DirCache) archivePath(k Key, d Digest) string {
	return filepath.Join(c.keyDir(k), d.String()+archiveExt)
}

// Lookup reads and checks <dir>/<key>/entry.json. It also stats the
// archive the entry names, so that a miss is found here rather than
// halfway through a download.
func (c *DirCache) Lookup(ctx context.Context, key Key) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, fmt.Errorf("look up %s in %s: %w", key, c, err)
	}
	miss := func(why string) error {
		return fmt.Errorf("look up %s in %s: %w: %s", key, c, ErrNotFound, why)
	}
	p := filepath.Join(c.keyDir(key), entryFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, miss("no entry")
	}
	if err != nil {
		return Entry{}, fmt.Errorf("look up %s in %s: %w", key, c, err)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, miss(fmt.Sprintf("%s is unreadable: %v", p, err))
	}
	switch {
	case e.Key != key:
		return Entry{}, miss(fmt.Sprintf("%s names key %s", p, e.Key))
	case e.Digest == Digest{} || e.Size <= 0:
		return Entry{}, miss(fmt.Sprintf("%s names no archive", p))
	}
	fi, err := os.Stat(c.archivePath(key, e.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, miss(fmt.Sprintf("archive %s is missing", e.Digest))
	}
	if err != nil {
		return Entry{}, fmt.Errorf("look up %s in %s: %w", key, c, err)
	}
	if fi.Size() != e.Size {
		return Entry{}, miss(fmt.Sprintf("archive %s has %d bytes, entry says %d", e.Digest, fi.Size(), e.Size))
	}
	return e, nil
}

// Open opens the archive e names.
func (c *DirCache) Open(ctx context.Context, e Entry) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s in %s: %w", e.Key, c, err)
	}
	f, err := os.Open(c.archivePath(e.Key, e.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s in %s: archive %s: %w", e.Key, c, e.Digest, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s in %s: %w", e.Key, c, err)
	}
	return f, nil
}

// Publish streams the archive into a temp file in <dir>/<key>/, hashing
// and counting it; fsyncs it; links it into place as <digest>.tar.zst
// unless that file exists already (it then holds the same bytes, and is
// kept); fsyncs the directory; and only then writes entry.json atomically.
// Concurrent publishers of one key need no lock: each leaves a complete
// archive, and whichever entry.json lands last names one of them.
func (c *DirCache) Publish(ctx context.Context, e Entry, write func(io.Writer) error) (Entry, error) {
	e, err := c.publish(ctx, e, write)
	if err != nil {
		return Entry{}, fmt.Errorf("publish %s to %s: %w", e.Key, c, err)
	}
	return e, nil
}

func (c *DirCache) publish(ctx context.Context, e Entry, write func(io.Writer) error) (Entry, error) {
	dir := c.keyDir(e.Key)
	// Everything takes the umask, like any shared directory the admin
	// set up; archives are read-only besides.
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return e, err
	}
	tmp, err := os.CreateTemp(dir, ".archive.*"+fsx.TempSuffix)
	if err != nil {
		return e, err
	}
	defer func() {
		tmp.Close()           // closed already on success; a second close only errors
		os.Remove(tmp.Name()) // on success the bytes live on under the final name
	}()
	pw := &publishWriter{ctx: ctx, f: tmp, h: blake3.New()}
	if err := write(pw); err != nil {
		return e, err
	}
	if err := ctx.Err(); err != nil {
		return e, err
	}
	if pw.n == 0 {
		return e, errors.New("write produced no archive")
	}
	if err := tmp.Chmod(fsx.Perm(0o444)); err != nil {
		return e, err
	}
	if err := tmp.Sync(); err != nil {
		return e, err
	}
	if err := tmp.Close(); err != nil {
		return e, err
	}
	e.Digest = sumDigest(pw.h)
	e.Size = pw.n
	if pw.stats != nil {
		e.Files, e.Bytes = pw.stats.Files, pw.stats.Bytes
	}
	if e.Created.IsZero() {
		e.Created = c.now().UTC()
	}

	final := c.archivePath(e.Key, e.Digest)
	if err := linkNoReplace(tmp.Name(), final); err != nil {
		return e, err
	}
	fi, err := os.Stat(final)
	if err != nil {
		return e, err
	}
	if fi.Size() != e.Size {
		// Same name means same digest means same bytes: a different size
		// is damage on the cache's disk, and rezup never overwrites.
		return e, fmt.Errorf("%s exists with %d bytes, not %d: it is damaged, remove it", final, fi.Size(), e.Size)
	}
	if err := fsx.SyncDir(dir); err != nil {
		return e, err
	}

	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return e, err
	}
	if err := fsx.WriteFile(filepath.Join(dir, entryFile), append(b, '\n'), 0o666); err != nil {
		return e, err
	}
	return e, nil
}

// linkNoReplace puts tmp's file at final unless final exists. It prefers
// link(2), which never replaces. On filesystems without hard links (some
// SMB mounts) it falls back to a rename after checking final is absent;
// if another publisher wins that narrow race, the file it replaces holds
// the same bytes, because the name is the digest of the content.
func linkNoReplace(tmp, final string) error {
	err := os.Link(tmp, final)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return nil
	}
	if _, serr := os.Lstat(final); serr == nil {
		return nil
	}
	if rerr := os.Rename(tmp, final); rerr != nil {
		return fmt.Errorf("link %s: %v; rename: %w", final, err, rerr)
	}
	return nil
}

// publishWriter streams the archive to the temp file, hashing and
// counting it. It stops a long write as soon as ctx is done.
type publishWriter struct {
	ctx   context.Context
	f     *os.File
	h     *blake3.Hasher
	n     int64
	stats *PackStats
}

func (w *publishWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n]) // blake3 writes never fail
	w.n += int64(n)
	return n, err
}

func (w *publishWriter) recordPackStats(s PackStats) { w.stats = &s }

// Writable tries once to create (and remove) a temp file in the cache
// directory, creating the directory if needed, and remembers the answer.
func (c *DirCache) Writable() bool {
	c.writableOnce.Do(func() {
		if err := os.MkdirAll(c.dir, 0o777); err != nil {
			return
		}
		f, err := os.CreateTemp(c.dir, ".writable.*"+fsx.TempSuffix)
		if err != nil {
			return
		}
		f.Close()           // empty probe file: nothing to lose
		os.Remove(f.Name()) // a leftover probe is a temp name, ignored by readers
		c.writable = true
	})
	return c.writable
}

// Keys lists the key directories, committed or not. Names that are not
// keys are ignored.
func (c *DirCache) Keys(ctx context.Context) ([]Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", c, err)
	}
	ents, err := os.ReadDir(c.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", c, err)
	}
	var keys []Key
	for _, de := range ents {
		if !de.IsDir() {
			continue
		}
		if k, err := ParseKey(de.Name()); err == nil {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys, nil
}

// Remove deletes entry.json first (readers miss from then on), then the
// archives and any temp files, then the directory. Removing a key that is
// not there is not an error.
func (c *DirCache) Remove(ctx context.Context, key Key) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("remove %s from %s: %w", key, c, err)
	}
	if err := c.remove(key); err != nil {
		return fmt.Errorf("remove %s from %s: %w", key, c, err)
	}
	return nil
}

func (c *DirCache) remove(key Key) error {
	dir := c.keyDir(key)
	if err := os.Remove(filepath.Join(dir, entryFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// The entry is gone for good before any archive goes.
	if err := fsx.SyncDir(dir); err != nil {
		return err
	}
	// Archives, then temp files (a publisher in flight loses its temp file
	// and fails, which is what removing its key means). Names that are
	// neither are not rezup's and are left alone.
	for _, pass := range []func(string) bool{
		func(n string) bool { return strings.HasSuffix(n, archiveExt) && !strings.Contains(n, fsx.TempSuffix) },
		func(n string) bool { return strings.Contains(n, fsx.TempSuffix) },
	} {
		for _, de := range ents {
			if !pass(de.Name()) {
				continue
			}
			if err := os.Remove(filepath.Join(dir, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		if left, rerr := os.ReadDir(dir); rerr == nil && len(left) > 0 {
			// Something that is not rezup's (or an NFS .nfsXXXX file held
			// open by a reader) is still there. The key is already a miss;
			// the directory goes on a later Remove.
			return nil
		}
		return err
	}
	return fsx.SyncDir(c.dir)
}

// KeyTime is when anything was last written under key, committed or not:
// the newest mtime of its directory and the files in it. Collectors age
// keys with no readable entry.json (a crashed or running publish) by it.
func (c *DirCache) KeyTime(ctx context.Context, key Key) (time.Time, error) {
	dir := c.keyDir(key)
	info, err := os.Stat(dir)
	if err != nil {
		return time.Time{}, err
	}
	newest := info.ModTime()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return time.Time{}, err
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	return newest, nil
}
