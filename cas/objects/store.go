package objects

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
)

var (
	// ErrCorrupt means the bytes given for an object are not the ones its
	// digest names: another content, or a truncated or overlong one.
	// Nothing is stored; fetching the content again may help.
	ErrCorrupt = errors.New("object content does not match its digest")

	// ErrMissing means the store has no such object (never put, or
	// removed since by gc): put it again.
	ErrMissing = errors.New("object not in the store")

	// ErrChanged means an object or temp is no longer what Walk or Temps
	// saw: it was linked, replaced or written since. Remove and
	// RemoveTemp leave it.
	ErrChanged = errors.New("changed since it was listed")
)

// execSuffix names the executable copy of a content: a hard link shares
// its inode's mode, so 0444 and 0555 are two objects.
const execSuffix = ".x"

// syncfsOver is the number of objects above which a Commit on Linux syncs
// the whole filesystem (one syncfs) rather than each object (one fsync
// each, each a journal commit): a few fsyncs cost less than flushing
// whatever else is dirty on the filesystem, thousands cost more.
const syncfsOver = 16

// Store is the object store in one directory. Its methods are safe for
// concurrent use, by goroutines and by processes.
type Store struct {
	dir string
}

// Open returns the store in dir, creating dir (and its parents) under the
// umask if it is not there, as mkdir -p would. It writes nothing else.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("open object store: %w", err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the directory the store is in.
func (s *Store) Dir() string { return s.dir }

// name is an object's file name: its digest in hex, and ".x" for the
// executable copy.
func name(d cas.Digest, exec bool) string {
	if exec {
		return d.String() + execSuffix
	}
	return d.String()
}

// path is where an object lives: <dir>/<first 2 hex>/<name>.
func (s *Store) path(d cas.Digest, exec bool) string {
	n := name(d, exec)
	return filepath.Join(s.dir, n[:2], n)
}

// objectPerm is the mode of an object, read-only: 0444, or 0555 for an
// executable, less the umask (as fsx.MakeReadOnly leaves a build's files).
func objectPerm(exec bool) fs.FileMode {
	if exec {
		return fsx.Perm(0o555)
	}
	return fsx.Perm(0o444)
}

// Has reports whether the object is in the store: one lstat, and only a
// regular file counts.
func (s *Store) Has(d cas.Digest, exec bool) bool {
	fi, err := os.Lstat(s.path(d, exec))
	return err == nil && fi.Mode().IsRegular()
}

// Ref names an object: a content, and whether it is the executable copy.
type Ref struct {
	Digest cas.Digest
	Exec   bool
}

// readShardFrom is how many of the objects Which is asked about must be in
// one shard for Which to read the shard's directory rather than lstat
// each: a directory read is a few system calls, for every name in it.
const readShardFrom = 4

// readShard lists a shard directory, in no order.
func readShard(dir string) ([]fs.DirEntry, error) {
	f, err := openDir(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close() // read-only
	return f.ReadDir(-1)
}

// Which reports, for each of refs, whether the store has it, as Has
// would (only a regular file counts), for the many objects a build's
// files name: a shard that holds several of them is read whole, one
// directory read where an lstat per object would cost more; the objects
// of the other shards are asked with Has. A shard that cannot be read is
// asked with Has too.
func (s *Store) Which(refs []Ref) []bool {
	has := make([]bool, len(refs))
	var shards [256][]int // the indexes of refs in each shard
	for i, r := range refs {
		shards[r.Digest[0]] = append(shards[r.Digest[0]], i)
	}
	for shard, in := range shards {
		if len(in) == 0 {
			continue
		}
		if len(in) >= readShardFrom {
			entries, err := readShard(filepath.Join(s.dir, fmt.Sprintf("%02x", shard)))
			if errors.Is(err, fs.ErrNotExist) {
				continue // none of them
			}
			if err == nil {
				regular := make(map[string]bool, len(entries))
				for _, e := range entries {
					regular[e.Name()] = e.Type().IsRegular()
				}
				for _, i := range in {
					has[i] = regular[name(refs[i].Digest, refs[i].Exec)]
				}
				continue
			}
		}
		for _, i := range in {
			has[i] = s.Has(refs[i].Digest, refs[i].Exec)
		}
	}
	return has
}

// Open opens the object for reading: to write a relocated copy of a file
// that names the build's prefix, say. It fails with an error wrapping
// ErrMissing when the object is not there.
func (s *Store) Open(d cas.Digest, exec bool) (*os.File, error) {
	f, err := fsx.OpenRegular(s.path(d, exec))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open object %s: %w", name(d, exec), ErrMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("open object %s: %w", name(d, exec), err)
	}
	return f, nil
}

// Put stores one object, durably: it is Batch.Put and Commit of a batch
// of one, which fsyncs it. To put many, use a Batch: one sync for all.
// An object already there is not read again: Put returns nil without
// reading r.
func (s *Store) Put(d cas.Digest, exec bool, r io.Reader) error {
	b := s.NewBatch()
	defer b.Close() // after Commit, nothing is left to remove
	if err := b.Put(d, exec, r); err != nil {
		return err
	}
	return b.Commit()
}

// Batch is a set of objects being put: each is written and verified by
// Put, and all become visible under their names at Commit, after one sync.
// Close removes what was not committed. A Batch is safe for concurrent
// use; Commit often (per pack fetched, say): an uncommitted object is a
// temp, which gc removes once it is older than its grace.
type Batch struct {
	s       *Store
	mu      sync.Mutex
	pending map[string]string // object path -> its verified temp
	// written: object path -> the caller's file, given its name at Commit
	// (AdoptWritten).
	written map[string]writtenFile
	// linkable says whether the store can hold hard links of the files
	// AdoptWritten is given, once the first one was tried; nil before.
	linkable *bool
}

// writtenFile is a file AdoptWritten took the caller's word for.
type writtenFile struct {
	path string
	d    cas.Digest
	exec bool
}

// NewBatch starts a batch of objects.
func (s *Store) NewBatch() *Batch {
	return &Batch{s: s, pending: make(map[string]string), written: make(map[string]writtenFile)}
}

// has reports whether the object at final is in the batch already. The
// caller holds b.mu.
func (b *Batch) has(final string) bool {
	_, temp := b.pending[final]
	_, written := b.written[final]
	return temp || written
}

// tempFile is a temp Put writes an object to: an *os.File, or on Unix a
// bare descriptor (createTemp).
type tempFile interface {
	io.Writer
	Sync() error
	Chmod(fs.FileMode) error
	Close() error
	Name() string
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Put writes the object read from r to a temp in the store, hashing it
// on the way, and makes it read-only. It fails with an error wrapping
// ErrCorrupt, leaving nothing, when what r gives (up to EOF) does not
// hash to d; with the reader's own error when r fails. The object becomes
// visible at Commit. An object already in the store, or already in the
// batch, is not read: Put returns nil.
func (b *Batch) Put(d cas.Digest, exec bool, r io.Reader) error {
	if b.s.Has(d, exec) {
		return nil
	}
	return b.PutMissing(d, exec, r)
}

// PutMissing is Put of an object the caller has just found missing from
// the store (Which, Has), many at a time: it does not ask the store
// again (an lstat per object). Should the object be there after all, put
// meanwhile by another process, this copy is written and verified, and
// Commit keeps the one there. An object already in the batch is not read.
func (b *Batch) PutMissing(d cas.Digest, exec bool, r io.Reader) (err error) {
	final := b.s.path(d, exec)
	b.mu.Lock()
	dup := b.has(final)
	b.mu.Unlock()
	if dup {
		return nil
	}
	n := name(d, exec)
	tmp, err := createTemp(b.s.dir, n, objectPerm(exec))
	if err != nil {
		return fmt.Errorf("put object %s: %w", n, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()           // already failing; the close error adds nothing
			os.Remove(tmp.Name()) // best effort: a leftover temp is recognised by its name and swept
		}
	}()
	h := blake3.New()
	buf := copyBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(io.MultiWriter(tmp, h), r, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return fmt.Errorf("put object %s: %w", n, err)
	}
	var got cas.Digest
	h.Sum(got[:0])
	if got != d {
		return fmt.Errorf("put object %s: got content %s: %w", n, got, ErrCorrupt)
	}
	if syncInPut {
		if err = tmp.Sync(); err != nil {
			return fmt.Errorf("put object %s: %w", n, err)
		}
	}
	if !createsReadOnly {
		if err = tmp.Chmod(objectPerm(exec)); err != nil {
			return fmt.Errorf("put object %s: %w", n, err)
		}
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("put object %s: %w", n, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.has(final) {
		// Put at once by another goroutine of this batch: one is enough.
		os.Remove(tmp.Name()) // best effort, as above
		return nil
	}
	b.pending[final] = tmp.Name()
	return nil
}

// Link is Store.Link of an object put in the batch and not committed yet
// (from its temp: the same inode, which Commit names), or else of the
// store's: a build's files can be made of what it fetched before Commit,
// whose one sync then covers them too. It must not run during Commit.
// As with Adopt, should Commit find the object given its name meanwhile
// by another process, the file is a link of this batch's copy, not of
// that one: the same bytes, verified, on another inode.
func (b *Batch) Link(d cas.Digest, exec bool, dst string, mode LinkMode) (How, error) {
	return b.s.linkFrom(b.source(d, exec), d, exec, dst, mode)
}

// Open is Store.Open of an object put in the batch and not committed yet
// (its temp), or else of the store's. It must not run during Commit.
func (b *Batch) Open(d cas.Digest, exec bool) (*os.File, error) {
	f, err := fsx.OpenRegular(b.source(d, exec))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open object %s: %w", name(d, exec), ErrMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("open object %s: %w", name(d, exec), err)
	}
	return f, nil
}

// source is the file of an object for Link and Open: its temp while it
// is pending in the batch, else its name in the store.
func (b *Batch) source(d cas.Digest, exec bool) string {
	final := b.s.path(d, exec)
	b.mu.Lock()
	defer b.mu.Unlock()
	if tmp, ok := b.pending[final]; ok {
		return tmp
	}
	return final
}

// Adopt stores the file at path as object d without copying it: the file
// itself becomes the object, linked under a temp name of the store until
// Commit gives it the object's name. It suits a file of a build being
// made, on the store's filesystem, that nobody writes again: the build
// then holds the object's inode already. As Put, it verifies: the file is
// hashed through the new link, and refused (ErrCorrupt, nothing left)
// unless it is d. Its mode becomes the object's (read-only).
//
// adopted is false, with a nil error, when there is nothing to do (the
// object is in the store or in the batch: the caller links the file to
// it) and when the file cannot be linked here (another filesystem, a link
// limit, no hard links): the caller Puts a copy instead.
func (b *Batch) Adopt(d cas.Digest, exec bool, path string) (adopted bool, err error) {
	final := b.s.path(d, exec)
	b.mu.Lock()
	dup := b.has(final)
	b.mu.Unlock()
	if dup || b.s.Has(d, exec) {
		return false, nil
	}
	n := name(d, exec)
	tmp := filepath.Join(b.s.dir, fsx.RandomName("."+n+".")+fsx.TempSuffix)
	if err := os.Link(path, tmp); err != nil {
		if linkFallsBack(err) {
			return false, nil
		}
		return false, fmt.Errorf("adopt object %s: %w", n, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp) // best effort: a leftover temp is recognised by its name and swept
		}
	}()
	f, err := os.Open(tmp)
	if err != nil {
		return false, fmt.Errorf("adopt object %s: %w", n, err)
	}
	defer f.Close() // read-only
	h := blake3.New()
	buf := copyBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(h, f, *buf)
	copyBufs.Put(buf)
	if err != nil {
		return false, fmt.Errorf("adopt object %s: %w", n, err)
	}
	var got cas.Digest
	h.Sum(got[:0])
	if got != d {
		return false, fmt.Errorf("adopt object %s: %s holds %s: %w", n, path, got, ErrCorrupt)
	}
	if err = os.Chmod(tmp, objectPerm(exec)); err != nil {
		return false, fmt.Errorf("adopt object %s: %w", n, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.has(final) {
		// Adopted or put at once by another goroutine: one is enough.
		os.Remove(tmp) // best effort, as above
		return false, nil
	}
	b.pending[final] = tmp
	return true, nil
}

// AdoptWritten is Adopt for a file the caller has just written itself,
// from bytes it hashed to d as it wrote them (an unpack does): the
// caller's word is taken, and the file is not read again. Nothing is
// linked into the store before Commit, which gives the file the object's
// name straight from path, once synced; until then the caller must
// neither write, move nor remove it. perm is the mode the caller created
// it with: a file created read-only already, as objects are, is not
// chmod'ed again.
//
// adopted is false, with a nil error, when the object is in the store or
// in the batch already: the caller links the file to it. It is false too
// when the store cannot hold hard links of the caller's files (another
// filesystem, no hard links: the first file a batch is given is linked
// into the store once, under a temp name, to find out; the files a batch
// adopts this way are all on one filesystem): the caller Puts a copy.
// Should Commit fail to link one in all the same, it stores a copy, read
// from path and verified as Put does.
func (b *Batch) AdoptWritten(d cas.Digest, exec bool, path string, perm fs.FileMode) (adopted bool, err error) {
	final := b.s.path(d, exec)
	b.mu.Lock()
	dup := b.has(final)
	b.mu.Unlock()
	if dup || b.s.Has(d, exec) {
		return false, nil
	}
	if ok, err := b.canLink(path, name(d, exec)); !ok || err != nil {
		return false, err
	}
	if want := objectPerm(exec); perm.Perm() != want {
		if err := os.Chmod(path, want); err != nil {
			return false, fmt.Errorf("adopt object %s: %w", name(d, exec), err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.has(final) {
		return false, nil // adopted at once by another goroutine
	}
	b.written[final] = writtenFile{path: path, d: d, exec: exec}
	return true, nil
}

// canLink tells whether the store can hold a hard link of the file at
// path, trying it once per batch: a link under a temp name of object n
// (which gc sweeps, should a crash leave it), removed at once.
func (b *Batch) canLink(path, n string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.linkable != nil {
		return *b.linkable, nil
	}
	probe := filepath.Join(b.s.dir, fsx.RandomName("."+n+".")+fsx.TempSuffix)
	err := os.Link(path, probe)
	if err != nil && !linkFallsBack(err) {
		return false, fmt.Errorf("adopt %s: %w", path, err)
	}
	ok := err == nil
	if ok {
		// Best effort: a leftover temp is recognised by its name and swept.
		_ = os.Remove(probe)
	}
	b.linkable = &ok
	return ok, nil
}

// Commit makes the batch's objects durable, then visible: it syncs them
// (one syncfs of the store's filesystem on Linux for more than a few, an
// fsync each otherwise), then links each under its name (the files
// AdoptWritten took, straight from the caller's path), never over a
// file already there (another process put the same object: it is the
// same content). So a name is only ever given to bytes that were verified
// and are on disk: whatever the moment of a crash, a file under an
// object's name holds that object. After Commit the batch is empty and may
// be used again. On an error, the objects not linked stay temps until
// Close.
func (b *Batch) Commit() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 && len(b.written) == 0 {
		return nil
	}
	temps := make([]string, 0, len(b.pending)+len(b.written))
	finals := make([]string, 0, len(b.pending)+len(b.written))
	for final, tmp := range b.pending {
		temps, finals = append(temps, tmp), append(finals, final)
	}
	for final, w := range b.written {
		temps, finals = append(temps, w.path), append(finals, final)
	}
	// The shards the objects go into are made while the sync waits for
	// the disk: a new store has none, and making 256 directories one by
	// one as the objects are named costs about as much as the sync.
	shards := make(chan struct{})
	go func() {
		defer close(shards)
		shardDirs := make([]string, len(finals))
		for i, final := range finals {
			shardDirs[i] = filepath.Dir(final)
		}
		_ = b.s.makeShards(shardDirs) // a head start: publish makes or reports the rest
	}()
	err := syncTemps(b.s.dir, temps)
	<-shards
	if err != nil {
		return fmt.Errorf("commit objects: %w", err)
	}
	// Named on as many goroutines as there are cores: each name is a
	// link(2) into its own shard.
	done := make([]bool, len(finals))
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range min(runtime.GOMAXPROCS(0), len(finals)) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= len(finals)
				mu.Unlock()
				if stop {
					return
				}
				final := finals[i]
				var err error
				if tmp, ok := b.pending[final]; ok {
					err = b.s.publish(tmp, final)
				} else {
					err = b.s.publishWritten(b.written[final], final)
				}
				if err != nil {
					mu.Lock()
					first = cmp.Or(first, fmt.Errorf("commit object %s: %w", filepath.Base(final), err))
					mu.Unlock()
					continue
				}
				done[i] = true
			}
		})
	}
	wg.Wait()
	for i, final := range finals {
		if done[i] {
			delete(b.pending, final)
			delete(b.written, final)
		}
	}
	return first
}

// MakeShards makes every shard directory that is not there yet: the 256
// of a new store, made while the caller has other work going (an unpack
// of many files, whose objects will land in most of them) rather than
// while a Commit waits. A shard it fails to make is made, or reported, by
// the Commit that needs it.
func (s *Store) MakeShards() error {
	shards := make([]string, 256)
	for i := range shards {
		shards[i] = filepath.Join(s.dir, fmt.Sprintf("%02x", i))
	}
	return s.makeShards(shards)
}

// makeShards makes the shard directories of shards that are not there,
// reading the store's directory once rather than trying each, and returns
// the first failure. It is a head start: publish makes a shard still
// missing (or removed meanwhile) itself, and reports what fails.
func (s *Store) makeShards(shards []string) error {
	names, err := readNames(s.dir)
	if err != nil {
		return err // publish finds out
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	var first error
	for _, shard := range shards {
		if n := filepath.Base(shard); !have[n] {
			have[n] = true
			if err := s.mkShard(shard); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// Close removes the temps of objects not committed, and forgets the
// files AdoptWritten took (the caller's, left where they are). It is safe
// to call more than once, and after Commit.
func (b *Batch) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var first error
	for final, tmp := range b.pending {
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = err
		}
		delete(b.pending, final)
	}
	clear(b.written)
	return first
}

// publish links the verified, synced temp under the object's name, making
// its shard directory first when needed, and removes the temp. A file
// already under the name is the same object, put by another process: it
// stays, and the temp goes.
func (s *Store) publish(tmp, final string) error {
	err := linkNew(tmp, final)
	if errors.Is(err, fs.ErrNotExist) {
		if merr := s.mkShard(filepath.Dir(final)); merr != nil {
			return merr
		}
		err = linkNew(tmp, final)
	}
	if errors.Is(err, fs.ErrExist) {
		err = nil
		if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return rerr
		}
	}
	return err
}

// publishWritten gives the synced file an AdoptWritten took the object's
// name: a hard link, which leaves the caller's file where it is. A file
// already under the name is the same object: it stays. Where no hard link
// can be made, a copy is put instead.
func (s *Store) publishWritten(w writtenFile, final string) error {
	err := os.Link(w.path, final)
	if errors.Is(err, fs.ErrNotExist) {
		if merr := s.mkShard(filepath.Dir(final)); merr != nil {
			return merr
		}
		err = os.Link(w.path, final)
	}
	switch {
	case err == nil, errors.Is(err, fs.ErrExist):
		return nil
	case linkFallsBack(err):
		f, oerr := fsx.OpenRegular(w.path)
		if oerr != nil {
			return oerr
		}
		defer f.Close() // read-only
		return s.Put(w.d, w.exec, f)
	}
	return err
}

// mkShard makes a shard directory under the umask. In a store whose
// directory has the sticky bit (a group-shared root), the shard gets it
// too, so that a member cannot remove or rename another member's objects.
func (s *Store) mkShard(shard string) error {
	err := os.Mkdir(shard, 0o777)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi, serr := os.Stat(s.dir); serr == nil && fi.Mode()&fs.ModeSticky != 0 {
		// Best effort: without the bit, the shard is as shared as the
		// store's other directories made by this account's umask.
		if sfi, err := os.Stat(shard); err == nil {
			_ = os.Chmod(shard, sfi.Mode()&(fs.ModePerm|fs.ModeSetgid)|fs.ModeSticky)
		}
	}
	return nil
}
