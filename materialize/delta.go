package materialize

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/cas/files"
	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
)

// The delta path (issue 22): a cache entry of the file-level format
// (cache.FormatFiles: an index, and its contents in shared packs) is
// fetched by asking the local object store (.store/objects, cas/objects)
// which contents it lacks, fetching only those, and making the build's
// tree of links to the objects; the few files that hold the build's
// prefix are written as new files and relocated, never linked.

// The values of Options.CacheFormat: what a build published to the
// shared cache holds.
const (
	// CacheFormatArchive publishes one archive per build, as every rezup
	// before issue 22 did (and as they alone can fetch). The default.
	CacheFormatArchive = "archive"
	// CacheFormatFiles publishes an index and packs of contents
	// (cas/files): nodes fetch only the contents they lack. Nodes that
	// know only archives cannot fetch such an entry.
	CacheFormatFiles = "files"
	// CacheFormatBoth publishes both, for a farm that still has nodes
	// that know only archives.
	CacheFormatBoth = "both"
)

// ParseCacheFormat reads a cache format by name ("archive", "files" or
// "both"), as [cache] format and REZUP_CACHE_FORMAT give it; "" is the
// default, CacheFormatArchive.
func ParseCacheFormat(s string) (string, error) {
	switch s {
	case "":
		return CacheFormatArchive, nil
	case CacheFormatArchive, CacheFormatFiles, CacheFormatBoth:
		return s, nil
	}
	return "", fmt.Errorf("unknown cache format %q: want archive, files or both", s)
}

// objectsDir is where a root's object store lives: <root>/.store/objects.
func objectsDir(r Root) string { return filepath.Join(r.StoreDir(), "objects") }

// indexPath is where a build fetched (or published) by index keeps its
// index: <root>/.store/<key>.index, beside its lock file and outside its
// tree, so that packing the tree again gives the digests it gave before.
func indexPath(r Root, k cas.Key) string { return filepath.Join(r.StoreDir(), k.String()+".index") }

// byIndex says whether e is fetched by its index: when it has one, unless
// it has an archive too and this node prefers archives.
func (s *Store) byIndex(e cache.Entry) bool {
	return e.HasIndex() && (!e.HasArchive() || !s.opt.FetchArchive)
}

// refusalOf is e as the refusal marks name it: by the digest of what is
// fetched (the index, on the delta path).
func (s *Store) refusalOf(e cache.Entry) cache.Entry {
	if s.byIndex(e) {
		e.Digest = e.Index
	}
	return e
}

// fetchEntry is fetch, falling back to the archive of an entry that has
// both when its index cannot be used: refused (now, or within
// RefusedTTL), or the cache failed to give the index or a pack.
func (s *Store) fetchEntry(ctx context.Context, e cache.Entry, p *Plan, pinned bool) (*Manifest, error) {
	m, err := s.fetch(ctx, e, p, pinned)
	if err == nil || ctx.Err() != nil || !s.byIndex(e) || !e.HasArchive() {
		return m, err
	}
	var re *RefusedError
	var ce *CacheError
	switch {
	case errors.As(err, &re) && re.Remembered:
		s.opt.Reporter.Debugf("%v; fetching its archive", err)
	case errors.As(err, &re), errors.As(err, &ce):
		s.opt.Reporter.Warnf("%v; fetching its archive %s instead", err, e.Digest)
	default:
		return m, err
	}
	archive, _ := e.ArchiveOnly()
	return s.fetch(ctx, archive, p, pinned)
}

// isIndexRefusal says e is as refusalOf gives it for an entry fetched by
// its index.
func isIndexRefusal(e cache.Entry) bool { return e.HasIndex() && e.Digest == e.Index }

// stored names what e holds, for people: "archive <digest>", "index
// <digest>" or both.
func stored(e cache.Entry) string {
	switch {
	case e.HasArchive() && e.HasIndex():
		return fmt.Sprintf("archive %s, index %s", e.Digest, e.Index)
	case e.HasIndex():
		return "index " + e.Index.String()
	}
	return "archive " + e.Digest.String()
}

// localError is a failure of this machine (its disk, its object store)
// during a fetch, which must not pass for the cache's.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// unpackFiles is unpack for an entry fetched by its index: it fetches
// the contents the object store lacks into it, then makes the tree in
// staging, relocated from the build prefix to final, and returns the
// manifest it holds, checked against e, with the index's bytes (what
// keepIndex keeps).
func (s *Store) unpackFiles(ctx context.Context, e cache.Entry, staging, final string, trust pyenv.Trust) (*Manifest, []byte, error) {
	s.opt.Reporter.Infof("fetching %s (index, %s)", e.Key, HumanSize(e.IndexSize))
	ix, data, err := s.opt.Cache.OpenIndex(ctx, e)
	if err != nil {
		if errors.Is(err, archive.ErrCorrupt) {
			return nil, nil, err
		}
		return nil, nil, s.cacheError(ctx, err)
	}
	defer s.prefetchBase(ctx, e, trust)()
	rel, err := pyenv.NewRelocator(e.Prefix, final)
	if err != nil {
		return nil, nil, fmt.Errorf("entry of %s: %w", e.Key, err)
	}
	store, err := objects.Open(objectsDir(s.opt.Root))
	if err != nil {
		return nil, nil, fmt.Errorf("open the object store: %w", err)
	}
	start := time.Now()
	missing, otherMode := missingObjects(store, ix)
	// The tree is made while the missing contents are fetched: its
	// directories, symlinks and the files whose object is here at once,
	// the other files once their objects are put (later).
	later := map[objects.Ref]bool{}
	for d, modes := range missing {
		for _, exec := range modes {
			later[objects.Ref{Digest: d, Exec: exec}] = true
		}
	}
	// What is fetched is put into one batch, and committed (synced, then
	// named) once the tree is made of it too (objects.Batch.Link), while
	// the tree settles: the commit's sync writes the contents while
	// python checks the base interpreters.
	b := store.NewBatch()
	defer b.Close() // removes what was not committed
	fetchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type fetched struct {
		n     int
		bytes int64
		err   error
	}
	done := make(chan fetched, 1)
	go func() {
		n, bytes, err := s.fetchObjects(fetchCtx, e.Key, b, ix, missing, otherMode)
		done <- fetched{n, bytes, err}
	}()
	made, err := s.makeTree(ix, b, staging, rel, func(en files.Entry) bool {
		return !later[objects.Ref{Digest: en.Content, Exec: en.Mode&0o111 != 0}]
	})
	if err != nil {
		cancel() // the fetch's error is then this cancel's
	}
	f := <-done // nothing writes into the store once it is here
	if err != nil {
		return nil, nil, err
	}
	if f.err != nil {
		return nil, nil, f.err
	}
	s.opt.Reporter.Debugf("fetched %d content(s) of %s, %s, in %v", f.n, e.Key, HumanSize(f.bytes), time.Since(start).Round(time.Millisecond))
	if err := s.finishTree(made, b, rel); err != nil {
		return nil, nil, err
	}
	s.opt.Reporter.Debugf("made the tree of %s (%d entries, %d of its files once their objects were fetched) in %v", e.Key, len(ix.Entries), len(made.later), time.Since(start).Round(time.Millisecond))
	committed := make(chan error, 1)
	go func() {
		start := time.Now()
		err := b.Commit()
		s.opt.Reporter.Debugf("committed the objects fetched for %s in %v", e.Key, time.Since(start).Round(time.Millisecond))
		committed <- err
	}()
	m, err := readPackedManifest(e, staging)
	if err == nil {
		err = s.settle(ctx, e, m, staging, rel, made.relocate, trust)
	}
	if cerr := <-committed; cerr != nil {
		if err == nil && m.settled != nil {
			_ = m.settled() // nothing settle started outlives the fetch; the commit's error is the one to say
		}
		return nil, nil, fmt.Errorf("store the fetched objects: %w", cerr)
	}
	if err != nil {
		return nil, nil, err
	}
	if rel != nil {
		m.Prefix = final
	}
	m.made = made
	return m, data, nil
}

// missingObjects is what the files of ix need that store lacks: the
// modes each content is needed in that it is not there in, and which of
// those contents it has in the other mode (copied, not fetched). One
// question to the store (objects.Store.Which) for every object, in both
// modes.
func missingObjects(store *objects.Store, ix *files.Index) (missing map[cas.Digest][]bool, otherMode map[cas.Digest]bool) {
	var asked []objects.Ref
	wanted := map[objects.Ref]bool{}
	for _, en := range ix.Entries {
		if en.Type != files.File {
			continue
		}
		r := objects.Ref{Digest: en.Content, Exec: en.Mode&0o111 != 0}
		other := objects.Ref{Digest: r.Digest, Exec: !r.Exec}
		if _, ok := wanted[r]; !ok { // the other mode was not asked either
			asked = append(asked, r, other)
			wanted[other] = false // asked, not wanted (yet)
		}
		wanted[r] = true
	}
	has := store.Which(asked)
	here := make(map[objects.Ref]bool, len(asked))
	for i, r := range asked {
		here[r] = has[i]
	}
	missing, otherMode = map[cas.Digest][]bool{}, map[cas.Digest]bool{}
	for _, r := range asked {
		if wanted[r] && !here[r] {
			missing[r.Digest] = append(missing[r.Digest], r.Exec)
			if here[objects.Ref{Digest: r.Digest, Exec: !r.Exec}] {
				otherMode[r.Digest] = true
			}
		}
	}
	return missing, otherMode
}

// fetchObjects puts into b every object missing names (the modes each
// content of ix, k's index, is needed in that b's store lacks, as
// missingObjects says; fetchObjects consumes it), fetching each content
// once (n contents, bytes bytes; one the store has in the other mode,
// otherMode, is copied). Each content is verified as it arrives
// (files.ReadRange, then Put again), and nothing unverified gets an
// object's name: the caller commits b.
func (s *Store) fetchObjects(ctx context.Context, k cas.Key, b *objects.Batch, ix *files.Index, missing map[cas.Digest][]bool, otherMode map[cas.Digest]bool) (n int, bytes int64, err error) {
	if len(missing) == 0 {
		return 0, 0, nil
	}
	// Empty contents are not fetched: nothing is their bytes.
	size := make(map[cas.Digest]int64, len(ix.Contents))
	for _, c := range ix.Contents {
		size[c.Digest] = c.Size
	}
	for d, modes := range missing {
		switch {
		case size[d] == 0:
			for _, exec := range modes {
				if err := b.PutMissing(d, exec, strings.NewReader("")); err != nil {
					return 0, 0, &localError{fmt.Errorf("store an empty object: %w", err)}
				}
			}
		case len(modes) == 1 && otherMode[d]:
			// The content is here in the other mode: copied, not fetched.
			if err := copyObject(b, d, !modes[0], modes[0]); err != nil {
				return 0, 0, &localError{fmt.Errorf("store object %s: %w", d, err)}
			}
		default:
			continue
		}
		delete(missing, d)
	}
	need := func(c files.Content) bool { return len(missing[c.Digest]) > 0 }
	// Progress counts contents (as files) and their bytes; the reporter
	// draws it at its own pace.
	var total archive.Progress
	for d := range missing {
		total.Files++
		total.Bytes += size[d]
	}
	what := "fetch " + k.String()
	// Ranges are read a few at once (the backend stack bounds the
	// transfers of the process anyway); missing is only read meanwhile.
	var nFetched, nBytes atomic.Int64
	opt := cache.FetchOptions{Gap: fetchGap, Parallel: backend.DefaultTransfers}
	// The objects are written back while they are fetched, as an
	// archive's files while it is unpacked (flusher): the batch's commit
	// then syncs what is left, not the whole fetch (for 89 MiB, 210 ms
	// after the fetch without it).
	fl := startFlusher(objectsDir(s.opt.Root))
	defer fl.stop() // a sync it runs ends on its own; the commit's waits for the same writes
	err = s.opt.Cache.FetchContentsWith(ctx, ix, need, opt, func(c files.Content, r io.Reader) error {
		// The first mode from what arrives; a second one is copied from
		// the first once it is put.
		if err := b.PutMissing(c.Digest, missing[c.Digest][0], r); err != nil {
			if errors.Is(err, archive.ErrCorrupt) {
				return err // the pack's, as ReadRange says
			}
			if errors.Is(err, objects.ErrCorrupt) {
				return fmt.Errorf("%w: %w", err, files.ErrCorrupt)
			}
			return &localError{fmt.Errorf("store object %s: %w", c.Digest, err)}
		}
		fl.wrote(int(c.Size))
		files, bytes := nFetched.Add(1), nBytes.Add(c.Size)
		s.opt.Reporter.Progress(what, archive.Progress{Files: files, Bytes: bytes}, total)
		return nil
	})
	n, bytes = int(nFetched.Load()), nBytes.Load()
	if err != nil {
		var le *localError
		if errors.As(err, &le) || errors.Is(err, archive.ErrCorrupt) {
			return 0, 0, err
		}
		return 0, 0, s.cacheError(ctx, err)
	}
	for d, modes := range missing {
		for _, exec := range modes[1:] {
			if err := copyObject(b, d, !exec, exec); err != nil {
				return 0, 0, &localError{fmt.Errorf("store object %s: %w", d, err)}
			}
		}
	}
	return n, bytes, nil
}

// copyObject puts object d, in mode exec, into b from the same content in
// mode from (in b, or in its store).
func copyObject(b *objects.Batch, d cas.Digest, from, exec bool) error {
	f, err := b.Open(d, from)
	if err != nil {
		return err
	}
	defer f.Close() // read-only
	return b.PutMissing(d, exec, f)
}

// fetchGap is files.Plan's gap: frames at most this far apart in a pack
// are read in one request, about what a request costs in bytes.
const fetchGap = 256 << 10

// madeTree is what makeTree and finishTree made: what publish needs to
// know of the tree without walking it.
type madeTree struct {
	ix      *files.Index
	staging string
	mode    objects.LinkMode
	// how says how each entry of ix that is a file was made (0: written
	// new), and relocated which of those written were relocated as they
	// were written; later are the files left for finishTree.
	how       []objects.How
	relocated []bool
	later     []int

	// linked is the tree's object list: the objects its files are hard
	// links or clones of.
	linked ObjectList
	// files counts the tree's regular files, and linkedBytes the bytes
	// of those made by Link (the others are in written), the manifest
	// aside, as treeSize counts them.
	files, linkedBytes int64
	// written are the files written new that hold the build prefix, and
	// relocate those of them to relocate.
	written, relocate []string
	// writable is what may be writable in the tree: its directories and
	// the files written new (written, and the manifest). Link makes every
	// other file read-only (its object's mode).
	writable []string
}

// size counts the tree's regular files and their bytes, the manifest
// aside, as treeSize would: the written files as they are now (relocated,
// their sizes may have changed), the others as the index says.
func (t *madeTree) size() (files, bytes int64, err error) {
	bytes = t.linkedBytes
	for _, p := range t.written {
		fi, err := os.Lstat(p)
		if err != nil {
			return 0, 0, err
		}
		bytes += fi.Size()
	}
	return t.files, bytes, nil
}

// makeTree makes the tree ix describes in staging, from the objects of
// b's store, or put in b (objects.Batch.Link): directories, symlinks
// (pointed under the new prefix by rel), files linked from their object
// as Options.LinkMode says, and the files that hold the build prefix, and
// the manifest, written as new files (the relocation rewrites them next,
// see settle). Only the files ready says are ready (their object is in
// the store) are made now, the others (madeTree.later) by finishTree once
// their objects are put. Directories are made first,
// in the index's order (parents first); then the files and symlinks.
func (s *Store) makeTree(ix *files.Index, b *objects.Batch, staging string, rel *pyenv.Relocator, ready func(files.Entry) bool) (*madeTree, error) {
	t := &madeTree{
		staging: staging,
		linked:  ObjectList{},
		mode:    s.opt.LinkMode,
		how:     make([]objects.How, len(ix.Entries)),
	}
	t.relocated = make([]bool, len(ix.Entries))
	var now []int
	for i, en := range ix.Entries {
		switch en.Type {
		case files.Dir:
			// Writable while staged: publish makes the tree read-only.
			p := filepath.Join(staging, filepath.FromSlash(en.Path))
			if err := os.Mkdir(p, 0o777); err != nil {
				return nil, fmt.Errorf("make %s: %w", en.Path, err)
			}
			t.writable = append(t.writable, p)
		case files.Symlink:
			now = append(now, i)
		case files.File:
			if ready(en) {
				now = append(now, i)
			} else {
				t.later = append(t.later, i)
			}
		default:
			return nil, fmt.Errorf("make %s: unknown entry type %q", en.Path, en.Type)
		}
	}
	t.ix = ix
	// One file at a time: the fetch, which takes longer, runs meanwhile,
	// and a core of its own is worth more to it than a second to this.
	if err := t.make(now, b, rel, true); err != nil {
		return nil, err
	}
	return t, nil
}

// finishTree makes the files of t that makeTree left for later, their
// objects now put in b, and counts what the tree is made of.
func (s *Store) finishTree(t *madeTree, b *objects.Batch, rel *pyenv.Relocator) error {
	if err := t.make(t.later, b, rel, false); err != nil {
		return err
	}
	manifest := manifestIn(t.staging)
	for i, en := range t.ix.Entries {
		if en.Type != files.File {
			continue
		}
		p := filepath.Join(t.staging, filepath.FromSlash(en.Path))
		if p == manifest {
			t.writable = append(t.writable, p)
			continue
		}
		t.files++
		how := t.how[i]
		if how == 0 { // written new
			t.written = append(t.written, p)
			t.writable = append(t.writable, p)
			if rel != nil && !t.relocated[i] {
				t.relocate = append(t.relocate, p) // too large to be relocated as written
			}
			continue
		}
		t.linkedBytes += en.Size
		if how == objects.Copied {
			continue // shares nothing: not listed
		}
		ref := ObjectRef{Digest: en.Content, Exec: en.Mode&0o111 != 0}
		u := t.linked[ref]
		u.Size = en.Size
		if how == objects.Hardlinked {
			u.Links++
		}
		t.linked[ref] = u
	}
	s.opt.Reporter.Debugf("linked the build's files (%s): %s", s.opt.LinkMode, t.counts())
	return nil
}

// make makes the entries of t.ix numbered in which, symlinks and files,
// a few at once (one at a time, alone), and records how each file was
// made (t.how: 0 for a file written new).
func (t *madeTree) make(which []int, b *objects.Batch, rel *pyenv.Relocator, alone bool) error {
	manifest := manifestIn(t.staging)
	each := forEach
	if alone {
		each = func(n int, fn func(int) error) error {
			for j := range n {
				if err := fn(j); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return each(len(which), func(j int) error {
		i := which[j]
		en := t.ix.Entries[i]
		p := filepath.Join(t.staging, filepath.FromSlash(en.Path))
		var err error
		switch en.Type {
		case files.Symlink:
			target := en.Target
			if rel != nil {
				if t := rel.Target(target); t != "" {
					target = t
				}
			}
			err = os.Symlink(target, p)
		case files.File:
			exec := en.Mode&0o111 != 0
			// Bytecode naming the prefix is never rewritten (see
			// pyenv.IsBytecode): linked as any other file.
			if p == manifest {
				_, err = writeObject(b, en.Content, exec, en.Size, p, nil)
				break
			}
			if en.Relocate && !pyenv.IsBytecode(en.Path) {
				t.relocated[i], err = writeObject(b, en.Content, exec, en.Size, p, rel)
				break
			}
			t.how[i], err = b.Link(en.Content, exec, p, t.mode) // each i once: no race
		}
		if err != nil {
			return fmt.Errorf("make %s: %w", en.Path, err)
		}
		return nil
	})
}

// counts says how the tree's files were made, for -D.
func (t *madeTree) counts() string {
	n := map[objects.How]int{}
	for _, h := range t.how {
		n[h]++
	}
	return fmt.Sprintf("%d hardlinked, %d cloned, %d copied; %d written new to be relocated (%d of them once written)",
		n[objects.Hardlinked], n[objects.Cloned], n[objects.Copied], len(t.written), len(t.relocate))
}

// writeObject writes object d (in b, or its store), of size bytes, to a
// new file at dst, writable until the build is published: its own inode,
// never the object's. With rel, a file of at most archive.RewriteMax bytes
// is relocated as it is written, as Unpack relocates an archive's files
// (relocated says so): nothing renames it later, while settle reads the
// tree (pyvenv.cfg names the prefix). A larger one is written as it is,
// for settle to relocate.
func writeObject(b *objects.Batch, d cas.Digest, exec bool, size int64, dst string, rel *pyenv.Relocator) (relocated bool, err error) {
	src, err := b.Open(d, exec)
	if err != nil {
		return false, err
	}
	defer src.Close() // read-only
	mode := os.FileMode(0o666)
	if exec {
		mode = 0o777
	}
	var r io.Reader = src
	if rel != nil && size <= archive.RewriteMax {
		data, err := io.ReadAll(io.LimitReader(src, archive.RewriteMax+1))
		if err != nil {
			return false, err
		}
		if out := rel.Content(dst, data); out != nil {
			data = out
		}
		r, relocated = bytes.NewReader(data), true
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return false, err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close() // already failing: the staging dir goes
		return false, err
	}
	return relocated, out.Close()
}

// keepIndex writes the index of build k, fetched or published, to
// .store/<key>.index: data, its bytes as files.Marshal made them (as the
// cache holds them), never encoded again. Best effort, and not synced:
// only the bases of later publishes read it (packBases, which skips an
// index that does not parse, as one a crash left torn would not), and gc
// removes it with its build.
func (s *Store) keepIndex(k cas.Key, data []byte) {
	if err := fsx.ReplaceStaged(indexPath(s.opt.Root, k), data, 0o666); err != nil {
		s.opt.Reporter.Debugf("could not keep the index of %s: %v", k, err)
	}
}

// packBuild packs the tree of k, built at prefix, in the formats
// Options.CacheFormat names, into dir (a staging dir of .tmp), the
// manifest as override gives it.
//
// The packs reuse, through files.Known, the contents of the indexes this
// root kept (packBases): a new build packs only what changed since the
// builds it published or fetched before, and a node that has those
// fetches only the new packs' frames. With noBases, everything is packed
// again (a base's pack may have gone from the cache since).
func (s *Store) packBuild(dir string, k cas.Key, prefix string, override map[string][]byte, noBases bool) (cache.Build, error) {
	var b cache.Build
	root := s.opt.Root.EntryDir(k)
	format, err := ParseCacheFormat(s.opt.CacheFormat)
	if err != nil {
		return b, err
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return b, err
	}
	if format != CacheFormatFiles {
		a, err := archive.PackFile(dir, root, archive.PackOptions{ModTime: packModTime, Override: override})
		if err != nil {
			return b, err
		}
		b.Archive = &a
	}
	if format != CacheFormatArchive {
		start := time.Now()
		ix, err := files.Scan(root, prefix, files.ScanOptions{Override: override})
		if err != nil {
			return b, fmt.Errorf("scan %s: %w", k, err)
		}
		b.PackDir = filepath.Join(dir, "packs")
		if err := os.MkdirAll(b.PackDir, 0o777); err != nil {
			return b, err
		}
		opt := files.PackOptions{Dir: b.PackDir, Override: override}
		if !noBases {
			if bases := s.packBases(k); len(bases) > 0 {
				opt.Have = files.Known(bases...)
			}
		}
		packs, err := files.Pack(ix, root, opt)
		if err != nil {
			return b, fmt.Errorf("pack the files of %s: %w", k, err)
		}
		b.Index = ix
		s.opt.Reporter.Debugf("packed the files of %s: %d entries, %d contents, %d new pack(s) in %v",
			k, len(ix.Entries), len(ix.Contents), len(packs), time.Since(start).Round(time.Millisecond))
	}
	return b, nil
}

// publishBuild publishes b as e (without its archive or index fields)
// and returns e as published, without signatures: with its archive and
// its index, whatever entry the cache kept for the key.
func (s *Store) publishBuild(ctx context.Context, e cache.Entry, b cache.Build) (cache.Entry, error) {
	if b.Archive != nil {
		e.Digest, e.Size, e.Files, e.Bytes = b.Archive.Digest, b.Archive.Size, b.Archive.Files, b.Archive.Bytes
	}
	if b.Index == nil {
		_, err := s.opt.Cache.Publish(ctx, e, *b.Archive)
		return e, err
	}
	data, d, err := files.Marshal(b.Index)
	if err != nil {
		return cache.Entry{}, err
	}
	e.Format, e.Index, e.IndexSize = cache.FormatFiles, d, int64(len(data))
	if b.Archive == nil {
		e.Files, e.Bytes = int64(len(b.Index.Entries)), 0
		for _, en := range b.Index.Entries {
			e.Bytes += en.Size
		}
	}
	_, err = s.opt.Cache.PublishBuild(ctx, e, b)
	if err == nil || errors.Is(err, cache.ErrUntrustedSigner) {
		s.keepIndex(e.Key, data)
	}
	return e, err
}

// maxPackBases bounds the kept indexes a publish reads as its bases: the
// newest ones.
const maxPackBases = 8

// packBases reads the indexes this root kept (.store/<key>.index), the
// newest first, k's own aside: what a new pack of k may reuse. One that
// cannot be read is skipped.
func (s *Store) packBases(k cas.Key) []*files.Index {
	paths, _ := filepath.Glob(filepath.Join(s.opt.Root.StoreDir(), "*.index"))
	type kept struct {
		path string
		mod  time.Time
	}
	var all []kept
	for _, p := range paths {
		if p == indexPath(s.opt.Root, k) {
			continue
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			all = append(all, kept{p, fi.ModTime()})
		}
	}
	slices.SortFunc(all, func(a, b kept) int { return b.mod.Compare(a.mod) })
	var bases []*files.Index
	for _, kp := range all[:min(len(all), maxPackBases)] {
		data, err := os.ReadFile(kp.path)
		if err != nil {
			continue
		}
		ix, err := files.Parse(data, cas.DigestOf(data), files.DefaultLimits())
		if err != nil {
			s.opt.Reporter.Debugf("not a base: %s: %v", kp.path, err)
			continue
		}
		bases = append(bases, ix)
	}
	return bases
}

// oldNodesMeta is m as a rezup that knows only archives reads it: its pin
// without the index. ok is false unless m pins both an archive and an
// index, the one case where the two differ and both must verify.
func oldNodesMeta(m Meta) (Meta, bool) {
	if m.Archive == nil || !m.Archive.HasIndex() {
		return m, false
	}
	pin, ok := m.Archive.ArchiveOnly()
	if !ok {
		return m, false
	}
	m.Archive = &pin
	return m, true
}
