package materialize

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
)

// This file is the store's side of the object store (cas/objects): the
// builds of one root share their files on disk. When a build is complete
// in staging (built, or unpacked from an archive) and before it is made
// read-only and published, every regular file that does not hold the
// build's prefix is put into .store/objects and replaced by a link to its
// object (Options.LinkMode: hard link, else clone, else copy, per file).
// A file that holds the prefix stays the build's own: it is what
// relocation rewrote, and no other build has those bytes.
//
// The build's object list, .store/<key>.objects, says which objects its
// files are links or clones of. It lives beside the build, not in it: the
// build's tree is what an archive packs, and the list is this machine's
// business (whether a file could be linked here), not the build's. It is
// written before the build is renamed into place and removed with it.
//
// The object store's lock (.store/objects.lock) is what keeps gc from
// removing an object between the Put that made it and the list that names
// it: a build holds it shared from before its first Put until it is
// published; gc's object phase takes it exclusively, without waiting long.
//
// Dedupe never fails a build: whatever goes wrong is one warning, and the
// files it could not link stay plain files.

const (
	objectsName     = "objects"
	objectsLockName = "objects.lock"
	objectListExt   = ".objects"
	// objectListHeader is the first line of an object list: its format.
	objectListHeader = "rezup-objects 1"
	// objectsLockWait bounds how long a build waits for gc's object phase
	// before it publishes its files unshared.
	objectsLockWait = time.Minute
)

// ObjectsDir is .store/objects, the object store of the root.
func (r Root) ObjectsDir() string { return filepath.Join(r.StoreDir(), objectsName) }

func (r Root) objectsLockPath() string { return filepath.Join(r.StoreDir(), objectsLockName) }

// objectListPath is .store/<key>.objects, the object list of build k.
func (r Root) objectListPath(k cas.Key) string {
	return filepath.Join(r.StoreDir(), k.String()+objectListExt)
}

// ObjectRef names an object: a content, and whether it is executable
// (the object store keeps the two modes as two objects).
type ObjectRef struct {
	Digest cas.Digest
	Exec   bool
}

// ObjectUse is how a build uses one object.
type ObjectUse struct {
	// Size is the object's size in bytes.
	Size int64
	// Links is how many of the build's files are hard links of the
	// object; 0 when they are clones.
	Links int
}

// ObjectList is a build's object list: the objects its files are links or
// clones of. Files that are copies are not listed: they share nothing.
type ObjectList map[ObjectRef]ObjectUse

// LinkedBytes is what the build's hard links hold: bytes on disk once for
// every build that links them.
func (l ObjectList) LinkedBytes() int64 {
	var n int64
	for _, u := range l {
		n += u.Size * int64(u.Links)
	}
	return n
}

// marshal writes the list, one object a line in digest order:
// "<digest> <x|-> <size> <links>", zstd-compressed (half the size: 190
// KB, not 380, for a build of 5,000 files; parseObjectList reads both).
func (l ObjectList) marshal() []byte {
	refs := make([]ObjectRef, 0, len(l))
	for r := range l {
		refs = append(refs, r)
	}
	slices.SortFunc(refs, func(a, b ObjectRef) int {
		if c := bytes.Compare(a.Digest[:], b.Digest[:]); c != 0 {
			return c
		}
		switch {
		case a.Exec == b.Exec:
			return 0
		case b.Exec:
			return -1
		}
		return 1
	})
	var b bytes.Buffer
	b.WriteString(objectListHeader + "\n")
	for _, r := range refs {
		x := "-"
		if r.Exec {
			x = "x"
		}
		u := l[r]
		fmt.Fprintf(&b, "%s %s %d %d\n", r.Digest, x, u.Size, u.Links)
	}
	return objectListCodec().enc.EncodeAll(b.Bytes(), nil)
}

// zstdMagic starts a zstd frame: an object list written compressed.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// objectListCodec is the encoder and the bounded decoder of object lists,
// made on first use (a launch never needs them); EncodeAll and DecodeAll
// are safe for concurrent use.
var objectListCodec = sync.OnceValue(func() (c struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}) {
	// Neither fails with these options.
	c.enc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	c.dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxObjectList))
	return c
})

// parseObjectList reads an object list, compressed or as text (as
// written before it was compressed).
func parseObjectList(data []byte) (ObjectList, error) {
	if bytes.HasPrefix(data, zstdMagic) {
		var err error
		if data, err = objectListCodec().dec.DecodeAll(data, nil); err != nil {
			return nil, fmt.Errorf("not an object list: %w", err)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	if !sc.Scan() || sc.Text() != objectListHeader {
		return nil, errors.New("not an object list")
	}
	l := ObjectList{}
	for n := 2; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) != 4 {
			return nil, fmt.Errorf("line %d: want 4 fields", n)
		}
		d, err := cas.ParseDigest(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		size, err1 := strconv.ParseInt(f[2], 10, 64)
		links, err2 := strconv.Atoi(f[3])
		if (f[1] != "x" && f[1] != "-") || err1 != nil || err2 != nil || size < 0 || links < 0 {
			return nil, fmt.Errorf("line %d: bad fields", n)
		}
		l[ObjectRef{Digest: d, Exec: f[1] == "x"}] = ObjectUse{Size: size, Links: links}
	}
	return l, sc.Err()
}

// maxObjectList bounds what is read of an object list: a build of a
// million files.
const maxObjectList = 100 << 20

// ObjectList reads build k's object list. A build without one (made before
// the object store, by a rezup with REZUP_LINK_MODE=copy, or where linking
// failed) has an empty list; an unreadable one is an error: the caller
// cannot tell which objects the build uses.
func (s *Store) ObjectList(k cas.Key) (ObjectList, error) {
	b, err := fsx.ReadMeta(s.opt.Root.objectListPath(k), maxObjectList)
	if errors.Is(err, fs.ErrNotExist) {
		return ObjectList{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("object list of %s: %w", k, err)
	}
	l, err := parseObjectList(b)
	if err != nil {
		return nil, fmt.Errorf("object list of %s: %s: %w", k, s.opt.Root.objectListPath(k), err)
	}
	return l, nil
}

// removeObjectList removes build k's object list, once its build is gone.
func (s *Store) removeObjectList(k cas.Key) {
	// Best effort: a list whose build is gone names nothing gc reads, and
	// the next publish of k replaces it.
	_ = os.Remove(s.opt.Root.objectListPath(k))
}

// Objects opens the root's object store, or returns nil when the root has
// none yet. It creates nothing.
func (s *Store) Objects() (*objects.Store, error) {
	dir := s.opt.Root.ObjectsDir()
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return objects.Open(dir)
}

// LockObjects takes the object store's lock exclusively, as gc does
// before it removes objects, waiting at most wait for the builds that hold
// it (shared, from their first Put until they are published). It fails
// with ErrInUse when they still hold it then. Close releases it.
func (s *Store) LockObjects(ctx context.Context, wait time.Duration) (*fsx.Lock, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	l, err := fsx.Exclusive(ctx, s.opt.Root.objectsLockPath(), nil)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("lock the object store: %w", ErrInUse)
	}
	return l, err
}

// shardsAheadFrom is how many files an archive must hold for its unpack
// to make the object store's missing shard directories while it runs
// (objects.Store.MakeShards): that many files' objects land in most of
// the 256 shards, and a fresh node's commit would otherwise make them
// one by one while the build waits.
const shardsAheadFrom = 256

// dedupeStats counts what dedupe did, for -D.
type dedupeStats struct {
	files, prefixed                 int
	hardlinked, cloned, copied, bad int
	put                             int
}

// dedupe makes the complete build staged in staging, for entry k, share
// its files through the object store, and writes its object list. An
// unpacked archive's tree (unpacked, nil for a build) is not walked, and
// its small files not read again. It returns what releases the object
// store's lock: the caller calls it once the build is published or
// discarded. It never fails: a failure is one warning, and the files not
// linked by then stay plain files. list is the object list it wrote, not
// synced yet ("" for none): publish's sync makes it durable with the
// build.
func (s *Store) dedupe(staging string, k cas.Key, unpacked *unpackedTree) (release func(), list string) {
	release = func() {}
	if s.opt.LinkMode == objects.Copy {
		s.opt.Reporter.Debugf("link mode copy: the files of %s are its own", k)
		return release, ""
	}
	start := time.Now()
	warn := func(err error) {
		s.opt.Reporter.Warnf("the files of %s are not shared with other builds: %v", k, err)
	}
	root := s.opt.Root
	release, err := s.lockObjects()
	if err != nil {
		warn(err)
		return release, ""
	}
	st, err := objects.Open(root.ObjectsDir())
	if err != nil {
		warn(err)
		return release, ""
	}
	linked, stats, err := s.linkTree(st, staging, []byte(root.EntryDir(k)), unpacked)
	s.opt.Reporter.Debugf("shared the files of %s in %v: %d file(s), %d naming the prefix kept, %d object(s) put; %d hard-linked, %d cloned, %d copied, %d left as they were",
		k, time.Since(start).Round(time.Millisecond), stats.files, stats.prefixed, stats.put, stats.hardlinked, stats.cloned, stats.copied, stats.bad)
	if err != nil {
		warn(err)
	}
	list, err = s.writeObjectList(k, linked)
	if err != nil {
		warn(fmt.Errorf("write its object list: %w", err))
	}
	return release, list
}

// writeObjectList writes list as build k's object list (none: removes
// it), and returns its path ("" for none). It is called with the object
// store's lock held, before the build is in place: gc, once it holds the
// lock, sees every object a build links named. It is not synced here:
// publish syncs it with the build (fsx.SyncTree), before the build goes
// into place, in the one sync pass the build needs anyway.
func (s *Store) writeObjectList(k cas.Key, list ObjectList) (string, error) {
	if len(list) == 0 {
		s.removeObjectList(k)
		return "", nil
	}
	p := s.opt.Root.objectListPath(k)
	if err := fsx.ReplaceStaged(p, list.marshal(), 0o666); err != nil {
		return "", err
	}
	return p, nil
}

// lockObjects holds the object store's lock shared, waiting for gc's
// object phase at most objectsLockWait; release ends it (a no-op when the
// lock could not be had).
func (s *Store) lockObjects() (release func(), err error) {
	release = func() {}
	root := s.opt.Root
	if err := root.mkdir(root.StoreDir()); err != nil {
		return release, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), objectsLockWait)
	defer cancel()
	lock, err := fsx.Shared(ctx, root.objectsLockPath(), func() {
		s.opt.Reporter.Infof("waiting for gc to finish with the object store")
	})
	if err != nil {
		return release, fmt.Errorf("lock the object store: %w", err)
	}
	return func() { lock.Close() }, nil
}

// keepObjectList writes the object list of build k, whose files are
// already links of objects (fetched by index): under the object store's
// lock, as dedupe writes its list, so that gc, once it holds the lock,
// sees every object the build links named. It returns what releases the
// lock, and the path of the list, for publish to sync ("" for none). A
// failure is one warning: the objects are then kept by their hard links
// alone (gc removes no object a build links).
func (s *Store) keepObjectList(k cas.Key, linked ObjectList) (release func(), list string) {
	warn := func(err error) {
		s.opt.Reporter.Warnf("the object list of %s is not written: %v", k, err)
	}
	release, err := s.lockObjects()
	if err == nil {
		list, err = s.writeObjectList(k, linked)
	}
	if err != nil {
		warn(err)
	}
	return release, list
}

// stagedFile is a regular file of a staged build that names no prefix.
type stagedFile struct {
	path string
	ref  ObjectRef
	size int64
	had  bool // the object was in the store before this build
	// adopted: the file itself became its object (objects.Batch.Adopt),
	// so it is a hard link of it already.
	adopted bool
	// hashed: ref.Digest was taken as the file was written (unpackedTree),
	// with the mode perm; it is not read again.
	hashed bool
	perm   fs.FileMode
}

// unpackedTree is every regular file an unpack wrote, by path, as it
// knew them: the small ones from the bytes they were written from
// (archive.UnpackOptions.Written: size, mode, whether they name the
// build's prefix, and, for dedupe, their digest), the large ones
// (UnpackStats.Unseen) as they are once relocated. An archive's tree has
// no other regular files: publish counts the tree, and dedupe lists its
// files, from it, walking nothing, and dedupe reads none of the small
// ones again. The writers call written on several goroutines at once.
type unpackedTree struct {
	prefix []byte // the build's final prefix
	meta   string // its .rezup directory: the manifest, never shared
	hash   bool   // hash the small files, for dedupe
	// batch, when set (hard links), takes each hashed file as its object
	// as it is written (objects.Batch.AdoptWritten), for dedupe to
	// commit: a fresh node's pull then has nothing left to look up per
	// file once the unpack ends. It names nothing: Commit does, once
	// synced.
	batch *objects.Batch
	mu    sync.Mutex
	files map[string]unpackedFile
	// dirs are its directories, with their modes (UnpackStats.Dirs).
	dirs map[string]fs.FileMode
}

// unpackedFile is a regular file of an unpackedTree.
type unpackedFile struct {
	size    int64
	perm    fs.FileMode
	digest  cas.Digest
	hashed  bool // digest is the file's
	named   bool // holds the prefix: the build's own
	meta    bool // in .rezup
	adopted bool // taken by the tree's batch as its object
}

func newUnpackedTree(staging, final string, hash bool) *unpackedTree {
	return &unpackedTree{
		prefix: []byte(final),
		meta:   filepath.Join(staging, ".rezup") + string(filepath.Separator),
		hash:   hash,
		files:  map[string]unpackedFile{},
	}
}

// written records the file at path, just written from data, hashing it
// unless it names the prefix (bytecode aside, as scanFile) or is
// metadata.
func (t *unpackedTree) written(path string, data []byte, perm fs.FileMode) {
	f := unpackedFile{size: int64(len(data)), perm: perm, meta: strings.HasPrefix(path, t.meta)}
	if !f.meta {
		f.named = !pyenv.IsBytecode(path) && bytes.Contains(data, t.prefix)
		if !f.named && t.hash {
			f.digest, f.hashed = cas.DigestOf(data), true
		}
		if f.hashed && t.batch != nil {
			// Not adopted (an error: another filesystem, say), dedupe
			// tries the file again as any other.
			f.adopted, _ = t.batch.AdoptWritten(f.digest, perm&0o111 != 0, path, perm)
		}
	}
	t.mu.Lock()
	t.files[path] = f
	t.mu.Unlock()
}

// unpacked records what the unpack says once done: its directories, and
// the files too large for the writers (Unseen), as they are on disk:
// relocated already, and read later by dedupe.
func (t *unpackedTree) unpacked(st archive.UnpackStats) error {
	t.dirs = st.Dirs
	for _, p := range st.Unseen {
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		t.files[p] = unpackedFile{size: fi.Size(), perm: fi.Mode().Perm(), meta: strings.HasPrefix(p, t.meta)}
	}
	return nil
}

// size counts the tree's regular files and their bytes as treeSize
// would, the file at skip (the manifest) aside.
func (t *unpackedTree) size(skip string) (files, bytes int64) {
	for p, f := range t.files {
		if p != skip {
			files++
			bytes += f.size
		}
	}
	return files, bytes
}

// linkTree puts the files of the tree at dir that do not hold prefix into
// st (one batch, one commit) and replaces each by a link to its object. It
// returns the objects the tree now links or clones. With unpacked (an
// archive's tree), the tree is not walked, and the files unpacked hashed
// are neither read nor stat'ed: their digests and modes are known. An
// error stops it with the files not linked yet left as they were.
func (s *Store) linkTree(st *objects.Store, dir string, prefix []byte, unpacked *unpackedTree) (ObjectList, dedupeStats, error) {
	var stats dedupeStats
	var files []stagedFile
	var named []bool // by index in files: holds the prefix
	if unpacked != nil {
		for p, f := range unpacked.files {
			if f.meta {
				continue // the manifest: rewritten by every publish
			}
			files = append(files, stagedFile{path: p, size: f.size, ref: ObjectRef{Digest: f.digest, Exec: f.perm&0o111 != 0}, hashed: f.hashed, perm: f.perm, adopted: f.adopted})
			named = append(named, f.named)
		}
	} else {
		meta := filepath.Join(dir, ".rezup")
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case p == meta:
				return filepath.SkipDir // the manifest: rewritten by every publish
			case !d.Type().IsRegular():
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			files = append(files, stagedFile{path: p, size: info.Size(), ref: ObjectRef{Exec: info.Mode().Perm()&0o111 != 0}})
			return nil
		})
		if err != nil {
			return nil, stats, err
		}
		named = make([]bool, len(files))
	}
	stats.files = len(files)

	// Hashing is the cost: one file per core at a time.
	err := forEach(len(files), func(i int) error {
		if files[i].hashed || named[i] {
			return nil
		}
		// Bytecode is never relocated: shared whatever prefix it names.
		find := prefix
		if pyenv.IsBytecode(files[i].path) {
			find = nil
		}
		var err error
		files[i].ref.Digest, named[i], err = scanFile(files[i].path, find)
		return err
	})
	if err != nil {
		return nil, stats, err
	}
	// With hard links, a file this build is the first to have becomes
	// the object itself: nothing is copied (nor read again, when it was
	// hashed as it was written). Otherwise (clones, another filesystem),
	// the object is a copy, put.
	adopt := s.opt.LinkMode == objects.Hardlink
	var mu sync.Mutex
	candidates := files[:0]
	for i, f := range files {
		if named[i] {
			stats.prefixed++
			continue
		}
		// AdoptWritten looks for the object itself: one lstat, not two,
		// for each of a fresh store's files.
		if (!f.hashed || !adopt) && !f.adopted {
			f.had = st.Has(f.ref.Digest, f.ref.Exec)
		}
		candidates = append(candidates, f)
	}
	files = candidates

	b := st.NewBatch()
	if unpacked != nil && unpacked.batch != nil {
		b = unpacked.batch // holding the files it adopted as they were written
	}
	defer b.Close() // what was not committed goes
	err = forEach(len(files), func(i int) error {
		f := &files[i]
		if f.had {
			return nil
		}
		if f.adopted {
			mu.Lock()
			stats.put++
			mu.Unlock()
			return nil
		}
		if adopt {
			var adopted bool
			var err error
			if f.hashed {
				adopted, err = b.AdoptWritten(f.ref.Digest, f.ref.Exec, f.path, f.perm)
			} else {
				adopted, err = b.Adopt(f.ref.Digest, f.ref.Exec, f.path)
			}
			if err != nil {
				return err
			}
			if f.adopted = adopted; adopted {
				mu.Lock()
				stats.put++
				mu.Unlock()
				return nil
			}
			if f.hashed && st.Has(f.ref.Digest, f.ref.Exec) {
				// In the store before this build: read once, then linked,
				// as any object that was there (below).
				f.had = true
				return nil
			}
		}
		mu.Lock()
		stats.put++
		mu.Unlock()
		return putFile(b, f)
	})
	if err != nil {
		return nil, stats, err
	}
	if err := b.Commit(); err != nil {
		return nil, stats, err
	}

	// Put verifies what it stores; an object that was there already is
	// read once here before a build links it: an object rewritten in
	// place (by its owner, or root) must not spread.
	var had []ObjectRef
	seen := map[ObjectRef]bool{}
	for _, f := range files {
		if f.had && !seen[f.ref] {
			seen[f.ref] = true
			had = append(had, f.ref)
		}
	}
	bad := map[ObjectRef]error{}
	_ = forEach(len(had), func(i int) error {
		if err := verifyObject(st, had[i]); err != nil {
			mu.Lock()
			bad[had[i]] = err
			mu.Unlock()
		}
		return nil // a bad object leaves its files as they are, not the others
	})

	list := ObjectList{}
	var firstErr error
	_ = forEach(len(files), func(i int) error {
		f := files[i]
		err := bad[f.ref]         // read only, from here on
		how := objects.Hardlinked // an adopted file is its object
		if err == nil && !f.adopted {
			how, err = linkFile(st, f, s.opt.LinkMode)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			stats.bad++
			firstErr = cmp.Or(firstErr, err)
			return nil // the file stays as it was; the others are linked
		}
		u := list[f.ref]
		u.Size = f.size
		switch how {
		case objects.Hardlinked:
			stats.hardlinked++
			u.Links++
		case objects.Cloned:
			stats.cloned++
		case objects.Copied:
			stats.copied++
			return nil // shares nothing: not listed
		}
		list[f.ref] = u
		return nil
	})
	return list, stats, firstErr
}

// forEach calls fn for 0 to n-1, on as many goroutines as there are
// cores, and returns the first error; after one, the calls not started
// are not made.
func forEach(n int, fn func(i int) error) error {
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// scanFile hashes the file at p and tells whether it holds prefix (never,
// for a nil prefix). It stops reading at the first occurrence: such a
// file stays as it is.
func scanFile(p string, prefix []byte) (cas.Digest, bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return cas.Digest{}, false, err
	}
	defer f.Close()
	h := blake3.New()
	bp := scanBufs.Get().(*[]byte)
	defer scanBufs.Put(bp)
	buf := *bp
	keep := max(len(prefix)-1, 0)
	// carry is the tail of what was read, and seam that tail followed by
	// the head of the next read: a prefix may straddle two reads.
	carry := make([]byte, 0, keep)
	seam := make([]byte, 0, 2*keep)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			seam = append(append(seam[:0], carry...), chunk[:min(keep, n)]...)
			if len(prefix) > 0 && (bytes.Contains(seam, prefix) || bytes.Contains(chunk, prefix)) {
				return cas.Digest{}, true, nil
			}
			if n >= keep {
				carry = append(carry[:0], chunk[n-keep:]...)
			} else {
				carry = append(carry, chunk...)
				carry = carry[max(0, len(carry)-keep):]
			}
			h.Write(chunk)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return cas.Digest{}, false, err
		}
	}
	var d cas.Digest
	copy(d[:], h.Sum(nil))
	return d, false, nil
}

// scanBufs are scanFile's read buffers: one per file would be garbage
// the size of every build.
var scanBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func putFile(b *objects.Batch, f *stagedFile) error {
	r, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer r.Close()
	return b.Put(f.ref.Digest, f.ref.Exec, r)
}

// verifyObject hashes an object the store had, and fails with
// objects.ErrCorrupt when it does not hold its content.
func verifyObject(st *objects.Store, ref ObjectRef) error {
	r, err := st.Open(ref.Digest, ref.Exec)
	if err != nil {
		return err
	}
	defer r.Close()
	h := blake3.New()
	if _, err := io.Copy(h, r); err != nil {
		return err
	}
	var d cas.Digest
	copy(d[:], h.Sum(nil))
	if d != ref.Digest {
		return fmt.Errorf("object %s in %s: %w (rewritten in place: remove it)", ref.Digest, st.Dir(), objects.ErrCorrupt)
	}
	return nil
}

// linkFile replaces the staged file f by a link to its object: made beside
// it, then renamed over it, so that the file is whole whatever fails.
func linkFile(st *objects.Store, f stagedFile, mode objects.LinkMode) (objects.How, error) {
	tmp := filepath.Join(filepath.Dir(f.path), fsx.RandomName(".rezup-link-"))
	how, err := st.Link(f.ref.Digest, f.ref.Exec, tmp, mode)
	if err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, f.path); err != nil {
		_ = os.Remove(tmp) // best effort: a leftover in staging goes with the staging dir
		return 0, err
	}
	return how, nil
}
