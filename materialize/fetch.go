package materialize

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
)

// fetch materializes a cache entry: stream, verify and unpack it into a
// staging dir, relocate it to this store's prefix, check its base
// interpreters exist here, then publish it. Called under the entry's
// exclusive lock. A corrupt archive is refused before anything is visible.
// p, when there is one, is the recipe resolved here: its interpreters are
// among those the base-interpreter check trusts (see pyenv.Trust).
// pinned says e is a revision's pin rather than the key's entry.json.
//
// An archive found bad (corrupt, over the unpack limits, unsafe, a bad
// manifest) is a *RefusedError, remembered for RefusedTTL: an archive
// refused within that time is one at once, without a download.
func (s *Store) fetch(ctx context.Context, e cache.Entry, p *Plan, pinned bool) (*Manifest, error) {
	k := e.Key
	if re := s.refusedBefore(s.refusalOf(e)); re != nil {
		return nil, re
	}
	final := s.opt.Root.EntryDir(k)
	staging, err := s.stage(k)
	if err != nil {
		return nil, err
	}
	var m *Manifest
	var index []byte // fetched by index (delta.go): its bytes
	if s.byIndex(e) {
		m, index, err = s.unpackFiles(ctx, e, staging, final, s.trust(p))
	} else {
		m, err = s.unpack(ctx, e, staging, final, s.trust(p))
	}
	if err == nil {
		// What the archive's manifest says of its origin is the
		// archive's word: replaced by what this fetch knows.
		m.Origin = s.fetchOrigin(e, pinned)
		if m.Created.IsZero() {
			// Archives leave it out (see pack): the entry's publication
			// is the nearest date.
			m.Created = e.Created
		}
		err = s.publish(staging, m)
	}
	if err != nil {
		// Only the staging dir holds anything: it goes, whatever modes
		// the archive gave it or publish left it with.
		s.discard(staging)
		if refusable(err) && ctx.Err() == nil {
			return nil, s.refuse(s.refusalOf(e), err)
		}
		var ce *CacheError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, fmt.Errorf("materialize %s from %s: %w", k, s.opt.Cache, err)
	}
	if index != nil {
		s.keepIndex(k, index)
	}
	s.opt.Reporter.Infof("fetched %s from %s", k, s.opt.Cache)
	return m, nil
}

// fetchOrigin is the origin of an entry fetched from e: the trusted key
// that signed it, when the cache verifies signatures.
func (s *Store) fetchOrigin(e cache.Entry, pinned bool) *Origin {
	o := &Origin{How: OriginFetched, Digest: e.Digest, Pinned: pinned}
	if s.byIndex(e) {
		o.Digest, o.Index = cas.Digest{}, e.Index
	}
	if pinned {
		return o // a pin is taken without reading entry.json's signatures
	}
	for _, pk := range s.opt.Cache.TrustedKeys() {
		if cache.Verify(e, []cache.PublicKey{pk}) == nil {
			o.Signer = pk.String()
			break
		}
	}
	return o
}

// trust is what the base-interpreter check of a fetched entry may accept
// and run: interpreters on the caller's PATH and those p resolved, never
// one that only the archive's pyvenv.cfg names.
func (s *Store) trust(p *Plan) pyenv.Trust {
	t := pyenv.Trust{PathEnv: envlist.Get(s.opt.Environ, "PATH")}
	if p != nil {
		for _, py := range p.Interps {
			t.Exes = append(t.Exes, py.Executable)
		}
	}
	return t
}

// unpack streams cache entry e into staging, verifying it against its
// digest and relocating it from the build prefix to final on the way, and
// returns the manifest it holds, checked against e.
func (s *Store) unpack(ctx context.Context, e cache.Entry, staging, final string, trust pyenv.Trust) (*Manifest, error) {
	rc, err := s.opt.Cache.Open(ctx, e)
	if err != nil {
		return nil, s.cacheError(ctx, fmt.Errorf("open the archive of %s in %s: %w", e.Key, s.opt.Cache, err))
	}
	defer rc.Close()
	// A read that fails is the cache's failure (a stall, a dropped or
	// refused transfer), not the archive's nor this disk's.
	cr := &readErr{r: backend.ContextReader(ctx, rc)}
	s.opt.Reporter.Infof("fetching %s (%s)", e.Key, HumanSize(e.Size))
	defer s.prefetchBase(ctx, e, trust)()
	rel, err := pyenv.NewRelocator(e.Prefix, final)
	if err != nil {
		return nil, fmt.Errorf("entry of %s: %w", e.Key, err)
	}
	start := time.Now()
	opt := s.unpackOptions(e, staging, rel)
	// Read-only from the start (publish makes the tree so), and each
	// small file hashed from the bytes it was written from, for dedupe:
	// nothing is chmod'ed or read back per file.
	opt.ReadOnly = true
	tree := newUnpackedTree(staging, final, s.opt.LinkMode != objects.Copy)
	var shardsMade func()
	tree.batch, shardsMade = s.adoptAhead(e)
	defer shardsMade()
	fl := startFlusher(staging)
	flushing := fl.wait
	defer func() {
		if flushing != nil {
			flushing()
		}
	}()
	opt.Written = func(p string, data []byte, perm fs.FileMode) {
		tree.written(p, data, perm)
		fl.wrote(len(data))
	}
	st, err := archive.Unpack(cr, staging, e.Digest, opt)
	fl.stop()
	if err != nil {
		if cr.err != nil && errors.Is(err, cr.err) {
			return nil, s.cacheError(ctx, fmt.Errorf("read the archive of %s from %s: %w", e.Key, s.opt.Cache, err))
		}
		return nil, err
	}
	s.opt.Reporter.Debugf("unpacked %s: %d entries, %s in %v", e.Key, st.Files, HumanSize(st.Bytes), time.Since(start).Round(time.Millisecond))
	m, err := readPackedManifest(e, staging)
	if err != nil {
		return nil, err
	}
	if err := s.settle(ctx, e, m, staging, rel, st.Unseen, trust); err != nil {
		return nil, err
	}
	if rel != nil {
		m.Prefix = final
	}
	if err := tree.unpacked(st); err != nil {
		return nil, err
	}
	m.unpacked = tree
	// A sync the flusher still runs is waited for with settle's.
	settled := m.settled
	m.settled = sync.OnceValue(func() error {
		fl.wait()
		return settled()
	})
	flushing = nil
	return m, nil
}

// flushEvery is how many bytes an unpack writes between two syncs of its
// flusher.
const flushEvery = 4 << 20

// flusher gets an unpack's files (or a delta fetch's objects) written to
// disk while the unpack runs: a sync of the staging tree's filesystem
// each time flushEvery bytes more were written, on a goroutine of its own, so that the one sync the tree
// needs before it is published (settle's, publish's) finds most of it on
// disk already, instead of waiting for all of it then. It is only a head
// start: a sync it could not do is left to those.
type flusher struct {
	staging string
	kick    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	pending int // bytes written since the last kick
}

func startFlusher(staging string) *flusher {
	f := &flusher{staging: staging, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for {
			select {
			case <-f.kick:
			case <-f.quit:
				return
			}
			select {
			case <-f.quit:
				return // the unpack is over: the syncs that follow it take the rest
			default:
			}
			// Best effort, as above: the syncs before publishing report.
			_ = fsx.SyncTree(f.staging)
		}
	}()
	return f
}

// wrote counts n more bytes written, and starts a sync when flushEvery
// have been since the last: at once, or once the one running is done.
func (f *flusher) wrote(n int) {
	f.mu.Lock()
	f.pending += n
	kick := f.pending >= flushEvery
	if kick {
		f.pending = 0
	}
	f.mu.Unlock()
	if kick {
		select {
		case f.kick <- struct{}{}:
		default: // one is waiting to start already
		}
	}
}

// stop tells the flusher the unpack is over: it starts no more syncs.
// wait returns once the one it runs, if any, is done.
func (f *flusher) stop() { close(f.quit) }
func (f *flusher) wait() { <-f.done }

// unpackOptions report the progress of unpacking e, and relocate on the
// way through, while each file's bytes are in memory: nothing is read
// twice. rel is nil when the entry needs no relocation. The manifest is
// left as it was packed (it names the build prefix, which
// readPackedManifest checks); publish rewrites it.
func (s *Store) unpackOptions(e cache.Entry, staging string, rel *pyenv.Relocator) archive.UnpackOptions {
	total := archive.Progress{Bytes: e.Bytes, Files: e.Files}
	opt := archive.UnpackOptions{
		Progress: func(p archive.Progress) { s.opt.Reporter.Progress("unpack "+e.Key.String(), p, total) },
	}
	if rel != nil {
		manifest := manifestIn(staging)
		opt.Rewrite = func(p string, data []byte) []byte {
			if p == manifest {
				return nil
			}
			return rel.Content(p, data)
		}
		opt.Relink = rel.Target
	}
	return opt
}

// readPackedManifest reads the manifest an unpacked archive of e holds;
// one that is missing, names another key or prefix than e, or venvs that
// are not real directories of the tree, is corrupt. The archive chose
// what .rezup is: it must be a real directory of the staged tree, and the
// manifest a small regular file in it.
func readPackedManifest(e cache.Entry, staging string) (*Manifest, error) {
	if err := fsx.RealDir(staging, ".rezup"); err != nil {
		return nil, fmt.Errorf("archive of %s: %w: %w", e.Key, err, archive.ErrCorrupt)
	}
	var m Manifest
	if err := readJSONMeta(manifestIn(staging), &m); err != nil {
		return nil, fmt.Errorf("archive of %s has no usable manifest (%w): %w", e.Key, err, archive.ErrCorrupt)
	}
	if m.Key != e.Key {
		return nil, fmt.Errorf("archive of %s holds the manifest of %s: %w", e.Key, m.Key, archive.ErrCorrupt)
	}
	if err := checkVenvNames("the manifest in the archive", m.Venvs); err != nil {
		return nil, fmt.Errorf("archive of %s: %w: %w", e.Key, err, archive.ErrCorrupt)
	}
	for _, v := range m.Venvs {
		if err := fsx.RealDir(staging, "venv/"+v); err != nil {
			return nil, fmt.Errorf("archive of %s: venv %s: %w: %w", e.Key, v, err, archive.ErrCorrupt)
		}
	}
	if m.Prefix != e.Prefix {
		return nil, fmt.Errorf("archive of %s was built at %s, its entry says %s: %w", e.Key, m.Prefix, e.Prefix, archive.ErrCorrupt)
	}
	return &m, nil
}

// adoptAhead is, with hard links, the batch an unpack of e hands each
// file it hashed to as it writes it (see unpackedTree.batch), and, for an
// entry of shardsAheadFrom files or more, the store's missing shard
// directories made meanwhile, not at the commit; wait returns once they
// are. A store that cannot be opened gives no batch: dedupe reports it.
func (s *Store) adoptAhead(e cache.Entry) (b *objects.Batch, wait func()) {
	wait = func() {}
	if s.opt.LinkMode != objects.Hardlink {
		return nil, wait
	}
	st, err := objects.Open(s.opt.Root.ObjectsDir())
	if err != nil {
		return nil, wait
	}
	if e.Files >= shardsAheadFrom {
		shards := make(chan struct{})
		go func() {
			defer close(shards)
			_ = st.MakeShards() // the commit makes, or reports, what is missing
		}()
		wait = func() { <-shards }
	}
	return st.NewBatch(), wait
}

// prefetchBase starts python on what settle's base-interpreter check will
// most likely ask, while the entry is fetched: the version of the
// interpreter of e's python version on PATH (see pyenv.PrefetchBase).
// The fetch calls stop as it returns: a fetch that fails early leaves no
// python running, nor a memo written after it.
func (s *Store) prefetchBase(ctx context.Context, e cache.Entry, trust pyenv.Trust) (stop func()) {
	return pyenv.PrefetchBase(ctx, e.Interpreter.Version, trust, s.opt.Environ, s.pipCache())
}

// settle finishes an unpacked entry: it syncs it, confirms that the base
// interpreters of its venvs are here, and relocates the files (unseen)
// too large to have been relocated in memory. The three waits overlap:
// the bulk of the one sync pass (the writes of Unpack go to disk while the
// rest runs; publish's sync then has only the manifest and any rewritten
// large file left to write), python starting to confirm the base
// interpreters, and the large files being relocated. settle returns once
// the files are relocated, leaving the sync and the check running for
// publish to wait for (m.settled) before the build goes into place: the
// build's files are shared through the object store meanwhile.
func (s *Store) settle(ctx context.Context, e cache.Entry, m *Manifest, staging string, rel *pyenv.Relocator, unseen []string, trust pyenv.Trust) error {
	syncErr := make(chan error, 1)
	go func() {
		start := time.Now()
		err := fsx.SyncTree(staging)
		s.opt.Reporter.Debugf("synced the unpacked %s in %v", e.Key, time.Since(start).Round(time.Millisecond))
		syncErr <- err
	}()
	baseErr := make(chan error, 1)
	go func() {
		start := time.Now()
		for _, v := range m.Venvs {
			if err := pyenv.CheckBaseCached(ctx, filepath.Join(staging, "venv", v), trust, s.opt.Environ, s.pipCache()); err != nil {
				baseErr <- fmt.Errorf("venv %s: %w", v, err)
				return
			}
		}
		s.opt.Reporter.Debugf("checked the base interpreters of %s in %v", e.Key, time.Since(start).Round(time.Millisecond))
		baseErr <- nil
	}()
	var relErr error
	if rel != nil {
		start := time.Now()
		for _, p := range unseen {
			if relErr = rel.File(p); relErr != nil {
				relErr = fmt.Errorf("relocate %s: %w", p, relErr)
				break
			}
		}
		s.opt.Reporter.Debugf("relocated %d large file(s) of %s in %v", len(unseen), e.Key, time.Since(start).Round(time.Millisecond))
		if bin := rel.Report().Binary; len(bin) > 0 {
			s.opt.Reporter.Warnf("%d binary file(s) hold the build path %s and were left as they are, e.g. %s",
				len(bin), m.Prefix, filepath.Join(s.opt.Root.EntryDir(e.Key), strings.TrimPrefix(bin[0], staging)))
		}
	}
	// Both goroutines are waited for, once; the base interpreter's error
	// is the one to act on first.
	settled := sync.OnceValue(func() error { return cmp.Or(<-baseErr, <-syncErr) })
	if relErr != nil {
		return cmp.Or(settled(), relErr)
	}
	m.settled = settled
	return nil
}

// packModTime is the mtime of every file in an archive rezup packs.
var packModTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// pack publishes a ready entry to the shared cache, and returns what it
// published without signatures: its own archive, whatever entry the cache
// kept for k (another publisher's committed first is left as it is). The
// caller holds a lock on the entry (shared or exclusive), so it cannot
// vanish meanwhile. An error wrapping cas.ErrUntrustedSigner means the
// archive was stored but the key's entry was left alone.
func (s *Store) pack(ctx context.Context, k cas.Key, m *Manifest, once bool) (cache.Entry, error) {
	e := cache.Entry{Key: k, Prefix: m.Prefix, RezupVersion: s.opt.Version, Created: s.opt.Now().UTC()}
	if py, ok := m.Interpreters[m.RezPython]; ok {
		e.Interpreter = py.ID
	}
	// published says, with once, that the key's entry is there already:
	// a key is published once, so its archive is not stored a second
	// time. Cache.Publish's create-only entry.json stays the arbiter of a
	// race this look-up cannot see.
	published := func() bool {
		if !once {
			return false
		}
		got, err := s.opt.Cache.Lookup(ctx, k)
		if err != nil {
			return false
		}
		s.opt.Reporter.Infof("%s was published to %s meanwhile (%s); not publishing this build", k, s.opt.Cache, stored(got))
		return true
	}
	if published() {
		return cache.Entry{}, nil
	}
	s.opt.Reporter.Infof("publishing %s to %s", k, s.opt.Cache)
	// The archive is packed to a local file first, beside the store, so
	// that its digest is known before anything reaches the cache and an
	// upload can be sent again.
	staging, err := s.stage(k)
	if err != nil {
		return cache.Entry{}, err
	}
	// Best effort: a leftover staging dir is cleared by the next
	// materializer of k, or by gc.
	defer func() { _ = os.RemoveAll(staging) }()
	// The archive holds what was built, not when or how it came here: a
	// fixed mtime for every file (the pycs are hash pycs, see
	// staged.compile), and the manifest without its creation time and
	// origin. Two builds of the same packages at the same prefix then
	// pack to the same digest.
	packed := *m
	packed.Created, packed.Origin = time.Time{}, nil
	mb, err := json.MarshalIndent(&packed, "", "  ")
	if err != nil {
		return cache.Entry{}, err
	}
	// The archive, the index and its packs, or both, as
	// Options.CacheFormat says (delta.go).
	override := map[string][]byte{manifestName: append(mb, '\n')}
	b, err := s.packBuild(staging, k, e.Prefix, override, false)
	if err != nil {
		return cache.Entry{}, err
	}
	if published() { // packing takes a while: look again
		return cache.Entry{}, nil
	}
	got, err := s.publishBuild(ctx, e, b)
	if err != nil && b.Index != nil && !errors.Is(err, cache.ErrUntrustedSigner) && ctx.Err() == nil {
		// A base's pack may have gone from the cache: pack it all.
		s.opt.Reporter.Debugf("publish %s over its bases: %v; packing it whole", k, err)
		if b, err = s.packBuild(filepath.Join(staging, "whole"), k, e.Prefix, override, true); err != nil {
			return cache.Entry{}, err
		}
		got, err = s.publishBuild(ctx, e, b)
	}
	return got, err
}

// Publish packs entry k, which must be ready in the store, and publishes
// it to the shared cache under its own digest, even when the cache
// already has an entry for k: what someone else committed there is not
// what this store holds. It returns the entry it published, without
// signatures: what a remote revision pins (Meta.Archive). When the
// key's entry.json is another publisher's that no trusted key signed, and
// this one would not verify either, the archive is stored and pinned all
// the same, and entry.json is left as it was (with a warning). An entry
// built in edit mode is refused with ErrEditMode.
func (s *Store) Publish(ctx context.Context, k cas.Key) (cache.Entry, error) {
	if s.opt.Cache == nil {
		return cache.Entry{}, fmt.Errorf("publish %s: no shared cache is configured", k)
	}
	if err := s.opt.Cache.Writable(ctx); err != nil {
		return cache.Entry{}, fmt.Errorf("publish %s: %w", k, err)
	}
	h, err := s.hold(ctx, k)
	if err != nil {
		return cache.Entry{}, err
	}
	defer h.Close()
	m, err := s.ReadManifest(k)
	if err != nil {
		return cache.Entry{}, err
	}
	if len(m.Editable) > 0 {
		return cache.Entry{}, fmt.Errorf("publish %s: %w (%s): it points into a source tree on this machine", k, ErrEditMode, strings.Join(m.Editable, ", "))
	}
	pin, err := s.pack(ctx, k, m, false)
	if errors.Is(err, cache.ErrUntrustedSigner) {
		s.opt.Reporter.Warnf("%v; the %s is stored and pinned, its entry.json is left as it was", err, stored(pin))
		return pin, nil
	}
	if err != nil {
		return cache.Entry{}, err
	}
	return pin, nil
}

// HumanSize formats a byte count for people: 512 B, 21.4 MiB.
func HumanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// CacheError is a failure of the shared cache itself, as opposed to this
// store's or the recipe's: unreachable, an error answer, a stall, a read
// that broke, an object this account may not read. Materialize with a
// plan warns once and builds instead; a caller without one (a launch of a
// revision that names its key) builds from the revision's recipe, without
// the cache (Launcher). Its message (Err's) names the cache.
type CacheError struct {
	Cache string
	Err   error
}

func (e *CacheError) Error() string { return e.Err.Error() }
func (e *CacheError) Unwrap() error { return e.Err }

// cacheError is err, a failure of the shared cache, as a *CacheError;
// unchanged when ctx is done (an interrupt is no failure of the cache).
func (s *Store) cacheError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return &CacheError{Cache: s.opt.Cache.String(), Err: err}
}

// readErr remembers the error its reader returned, other than io.EOF.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
