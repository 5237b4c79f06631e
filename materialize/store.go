package materialize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
)

// Reporter receives progress and warnings meant for people. cmd/rezup
// prints them to stderr. Its methods may be called from several
// goroutines at once.
type Reporter interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
	Debugf(format string, args ...any)
	// Progress reports a long transfer: what, how far, out of how much.
	Progress(what string, done, total archive.Progress)
}

type nopReporter struct{}

func (nopReporter) Infof(string, ...any)                                {}
func (nopReporter) Warnf(string, ...any)                                {}
func (nopReporter) Debugf(string, ...any)                               {}
func (nopReporter) Progress(string, archive.Progress, archive.Progress) {}

// Options configure a Store. cmd/rezup fills them from flags, the
// environment and the recipe; nothing here reads the environment.
type Options struct {
	Root Root
	// Home expands "~" in recipe paths.
	Home string
	// Environ is the environment python and pip run with.
	Environ []string
	// Log receives the output of python and pip (nil: discarded).
	Log io.Writer
	// Reporter receives progress for people (nil: discarded).
	Reporter Reporter
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Cache is the shared cache (nil: none). Builds are fetched from it
	// and published to it when it is writable.
	Cache *cache.Cache
	// LeaseTTL is how long the farm build lease of a node that stopped
	// refreshing it (dead, hung, cut off) holds the other nodes back
	// (0: cas.DefaultLeaseTTL). Clocks of the nodes must agree to much
	// better than this.
	LeaseTTL time.Duration
	// LeaseWait bounds how long a node waits for another node's build
	// before it builds itself (0: cas.DefaultLeaseWait).
	LeaseWait time.Duration
	// Version is rezup's own version, recorded in what it writes.
	Version string
	// Creator returns the user and host recorded in what the store
	// writes. It is called only when something is written (nil: unknown).
	Creator func() (user, host string)
	// PipCache, when set, is where builds keep the interpreters' bundled
	// pip wheels unpacked and compiled, and the memos of what python said
	// (pyenv.FindBasePip, pyenv.ProbeCached): a directory of this user's,
	// shared by all the roots they build in, so that each new root does
	// not unpack and compile pip again. Where it cannot be written, and
	// when it is empty, the root's .tmp/pip is used.
	PipCache string

	// The delta path (delta.go).
	//
	// CacheFormat is what a build published to the cache holds:
	// CacheFormatArchive ("" too: the default), CacheFormatFiles or
	// CacheFormatBoth (see ParseCacheFormat).
	CacheFormat string
	// FetchArchive makes this node fetch the archive of an entry that
	// holds both an archive and an index; by default it fetches by the
	// index. An entry with only an index is fetched by it all the same.
	FetchArchive bool
	// LinkMode is how a build's files are made from the object store
	// (REZUP_LINK_MODE; the zero value: hard links, else clones, else
	// copies, per file). With objects.Copy, a build made here (built or
	// unpacked) keeps its files to itself; a build fetched by index is
	// still made of objects, copied.
	LinkMode objects.LinkMode
}

// Store is the local root's store of materialized builds.
type Store struct {
	opt      Options
	refused  *refusedSet // shared with the copies WithCache makes
	basePips *basePips   // likewise
	spares   *spares     // likewise
}

// New returns a Store over opt.Root.
func New(opt Options) *Store {
	if opt.Reporter == nil {
		opt.Reporter = nopReporter{}
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Store{opt: opt, refused: &refusedSet{}, basePips: &basePips{}, spares: &spares{}}
}

func (s *Store) creator() (user, host string) {
	if s.opt.Creator == nil {
		return "unknown", "unknown"
	}
	return s.opt.Creator()
}

// withCache returns a Store over the same root that fetches from, and
// publishes to, cache. A launch opens its store without a cache, and
// calls this only when an entry must be fetched or built: opening the
// cache is never on the hot path.
func (s *Store) withCache(sc *cache.Cache) *Store {
	opt := s.opt
	opt.Cache = sc
	return &Store{opt: opt, refused: s.refused, basePips: s.basePips, spares: s.spares}
}

// Root returns the local root the store lives in.
func (s *Store) Root() Root { return s.opt.Root }

// Manifest is .store/<key>/.rezup/manifest.json, written last into the
// staged entry: an entry with a manifest is complete.
type Manifest struct {
	Key          cas.Key                      `json:"key"`
	Prefix       string                       `json:"prefix"`
	Interpreters map[string]pyenv.Interpreter `json:"interpreters"` // by python spec ("" = python3)
	RezPython    string                       `json:"rez_python"`   // the spec of the rez venv's python
	Venvs        []string                     `json:"venvs"`
	// EntryPoints are the production scripts written into each venv's
	// production bin dir, by venv: what Inspect checks a build for.
	// Absent in manifests older rezups wrote.
	EntryPoints map[string][]string `json:"entry_points,omitempty"`
	RezVersion  string              `json:"rez_version"`
	// Editable names the tools installed in edit mode (see EditTools):
	// such an entry is never published to the shared cache.
	Editable     []string  `json:"editable,omitempty"`
	Files        int64     `json:"files"`
	Bytes        int64     `json:"bytes"`
	Created      time.Time `json:"created"`
	RezupVersion string    `json:"rezup_version"`
	// Origin is how the entry came to this store; nil in entries an
	// older rezup made, whose origin is unknown.
	Origin *Origin `json:"origin,omitempty"`

	// made is what the delta path (delta.go) knows of a tree it made of
	// the object store's objects: publish writes its object list, and
	// neither hashes and links the files again nor walks the tree to
	// count them and make them read-only. nil: dedupe and walks do.
	made *madeTree
	// unpacked is the tree of a build unpacked from an archive, as the
	// unpack wrote it: publish and dedupe do not walk it.
	unpacked *unpackedTree
	// settled waits for what settle left running for a fetched build
	// (its sync, the check of its base interpreters), and says how it
	// went; publish calls it before the build goes into place.
	settled func() error
}

// How an entry came to the store (Origin.How).
const (
	OriginBuilt   = "built"   // built here from its recipe
	OriginFetched = "fetched" // unpacked from an archive of the shared cache
)

// Origin records where a store entry came from, so that a publisher can
// tell whether it may hand the entry on to others (Trusted).
type Origin struct {
	How string `json:"how"` // OriginBuilt or OriginFetched
	// Digest is the archive a fetched entry was unpacked from.
	Digest cas.Digest `json:"digest,omitzero"`
	// Index is the index a fetched entry was made from, file by file
	// (the delta path, delta.go), instead of an archive.
	Index cas.Digest `json:"index,omitzero"`
	// Pinned says the archive was the one a revision pinned (see
	// Meta.Archive), not one found by key in entry.json.
	Pinned bool `json:"pinned,omitempty"`
	// Signer is the trusted public key ("name:base64") whose signature of
	// the cache entry was verified; empty when none was.
	Signer string `json:"signer,omitempty"`
}

// Trusted reports whether an entry of this origin can be handed on by a
// publisher who trusts the keys trusted: built here, fetched by a pin
// (the remote root's, which only the admin writes), or fetched from an
// entry signed by one of trusted. An unknown origin (nil) is not trusted.
func (o *Origin) Trusted(trusted []cache.PublicKey) bool {
	switch {
	case o == nil:
		return false
	case o.How == OriginBuilt:
		return true
	case o.How != OriginFetched:
		return false
	case o.Pinned:
		return true
	}
	for _, pk := range trusted {
		if o.Signer != "" && o.Signer == pk.String() {
			return true
		}
	}
	return false
}

// ReadManifest reads a ready entry's manifest. A manifest that is not a
// regular file in a real .rezup directory of the entry, or that names a
// venv outside it, is an error: the entry is not usable as it is.
func (s *Store) ReadManifest(k cas.Key) (*Manifest, error) {
	if err := fsx.RealDir(s.opt.Root.EntryDir(k), ".rezup"); err != nil {
		return nil, fmt.Errorf("read manifest of %s: %w", k, err)
	}
	var m Manifest
	if err := readJSONMeta(s.opt.Root.manifestPath(k), &m); err != nil {
		return nil, fmt.Errorf("read manifest of %s: %w", k, err)
	}
	if err := checkVenvNames(s.opt.Root.manifestPath(k), m.Venvs); err != nil {
		return nil, fmt.Errorf("read manifest of %s: %w", k, err)
	}
	return &m, nil
}

// exclusive takes LOCK_EX on an entry's lock, telling the user who holds
// it while it waits, and records this process as the holder.
func (s *Store) exclusive(ctx context.Context, k cas.Key, what string) (*fsx.Lock, error) {
	if err := s.opt.Root.mkdir(s.opt.Root.StoreDir()); err != nil {
		return nil, s.opt.Root.notWritable(s.opt.Root.StoreDir(), fmt.Errorf("create store: %w", err))
	}
	lock, err := fsx.Exclusive(ctx, s.opt.Root.LockPath(k), func() {
		s.opt.Reporter.Infof("waiting for %s: %s", k, s.holder(k))
	})
	if err != nil {
		return nil, s.opt.Root.notWritable(s.opt.Root.StoreDir(), err)
	}
	// Who holds the lock, for the message of whoever waits next. Written
	// in place: only the exclusive holder writes, and a torn read only
	// garbles a message.
	user, host := s.creator()
	info := fmt.Sprintf("%s by %s@%s pid %d since %s", what, user, host, os.Getpid(), s.opt.Now().Format(time.RFC3339))
	f := lock.File()
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0) // the message is a courtesy; the lock is what matters
	}
	return lock, nil
}

func (s *Store) holder(k cas.Key) string {
	b, err := os.ReadFile(s.opt.Root.LockPath(k))
	if err != nil || len(b) == 0 {
		return "in use by another process"
	}
	return strings.TrimSpace(string(b))
}

// clearStaging removes staging dirs a crashed builder of k left behind.
// Called only under k's exclusive lock, so none of them is live.
func (s *Store) clearStaging(k cas.Key) {
	ents, err := os.ReadDir(s.opt.Root.TmpDir())
	if err != nil {
		return // no staging area yet: nothing to clear
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), entryStaging(k)) {
			// Best effort: a leftover is retried by the next builder, and
			// another account's is left to it (or gc reports it).
			_ = fsx.DeleteTree(filepath.Join(s.opt.Root.TmpDir(), e.Name()))
		}
	}
}

// discard deletes a staging dir whose build or fetch failed, however far
// it got: made read-only by publish, or holding what an archive unpacked.
func (s *Store) discard(staging string) {
	// Best effort: the next materializer of the key clears it under the
	// lock, and gc removes it once no build of the key runs.
	_ = fsx.DeleteTree(staging)
}

// stage makes an empty staging dir for k in .tmp.
func (s *Store) stage(k cas.Key) (string, error) {
	if err := s.opt.Root.mkdir(s.opt.Root.TmpDir()); err != nil {
		return "", s.opt.Root.notWritable(s.opt.Root.TmpDir(), fmt.Errorf("create staging area: %w", err))
	}
	// Private while it is built; publish opens it up.
	dir, err := os.MkdirTemp(s.opt.Root.TmpDir(), entryStaging(k))
	if err != nil {
		return "", s.opt.Root.notWritable(s.opt.Root.TmpDir(), fmt.Errorf("create staging area: %w", err))
	}
	return dir, nil
}

// publish writes the manifest into a complete staged entry, makes it
// read-only, syncs it and renames it into .store/<key>. Everything that
// writes into a build (relocation, compileall, RECORD, the manifest) is
// done by then: nothing writes into a published build, and nobody can by
// mistake (see shared.go). On error the staging dir may be read-only:
// remove it with discard.
func (s *Store) publish(staging string, m *Manifest) error {
	k := m.Key
	if m.settled != nil {
		// Whatever fails here, nothing settle started outlives publish.
		defer m.settled()
	}
	if k.IsZero() {
		return errors.New("publish: the manifest has no key")
	}
	var err error
	switch {
	case m.made != nil:
		m.Files, m.Bytes, err = m.made.size()
	case m.unpacked != nil:
		m.Files, m.Bytes = m.unpacked.size(manifestIn(staging))
	default:
		m.Files, m.Bytes, err = treeSize(staging)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(staging, ".rezup"), 0o777); err != nil {
		return err
	}
	// An unpacked archive may hold .rezup as a symlink out of the tree:
	// the manifest would be written (and later read) there.
	if err := fsx.RealDir(staging, ".rezup"); err != nil {
		return fmt.Errorf("manifest of %s: %w", k, err)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	// Written last, and synced with the rest of the tree just below.
	// Read-only at once in an unpacked tree, whose files are all so (see
	// below); made so with the rest in another.
	perm := fs.FileMode(0o666)
	if m.unpacked != nil {
		perm = 0o444
	}
	if err := fsx.ReplaceStaged(manifestIn(staging), append(b, '\n'), perm); err != nil {
		return err
	}
	// The build is complete: its files go into the object store, and
	// become links to it. The object store's lock is held until the build
	// is in place (see objects.go).
	var release func()
	var list string // the build's object list, synced with it below
	if m.made != nil {
		release, list = s.keepObjectList(k, m.made.linked)
	} else {
		release, list = s.dedupe(staging, k, m.unpacked)
	}
	defer release()
	if m.settled != nil {
		if err := m.settled(); err != nil {
			s.removeObjectList(k) // of a build that will not be
			return err
		}
	}
	// Read-only from here on, as Go's module cache and the Nix store:
	// the archive records canonical modes, so packing it later gives the
	// digest it would have given writable. An unpacked tree's files are
	// read-only already (unpacked so, relocated keeping their mode, linked
	// to read-only objects, the manifest above): its directories, which
	// the unpack lists, are all that is left, and nothing is walked. A
	// tree of objects' files have their objects' mode, read-only: what is
	// writable is what the delta path made itself, and the manifest.
	switch {
	case m.made != nil:
		err = fsx.MakeReadOnlyEach(append(m.made.writable, manifestIn(staging)))
	case m.unpacked != nil:
		for dir, mode := range m.unpacked.dirs {
			if err = os.Chmod(dir, mode&^0o222); err != nil {
				break
			}
		}
	default:
		err = fsx.MakeReadOnly(staging)
	}
	if err != nil {
		return fmt.Errorf("make %s read-only: %w", k, err)
	}
	start := time.Now()
	var also []string
	if list != "" {
		also = append(also, list)
	}
	if err := fsx.SyncTree(staging, also...); err != nil {
		return err
	}
	s.opt.Reporter.Debugf("synced %s in %v", staging, time.Since(start).Round(time.Millisecond))
	final := s.opt.Root.EntryDir(k)
	if err := s.opt.Root.mkdir(s.opt.Root.StoreDir()); err != nil {
		return err
	}
	// MkdirTemp made the staging dir private, which is right while it is
	// built; published, it is as readable as a mkdir would have made it.
	// Its owner keeps the write bit until it is in place: a directory
	// renamed to another parent must be writable (its ".." changes).
	if err := os.Chmod(staging, fsx.Perm(0o755)); err != nil {
		return err
	}
	if _, err := os.Stat(final); err == nil {
		// An incomplete entry (no manifest) from an older, interrupted
		// rezup: move it out of the way under our exclusive lock.
		if err := s.opt.Root.removeTree(final); err != nil {
			return err
		}
	}
	if err := fsx.PublishDir(staging, final); err != nil {
		return err
	}
	// Best effort: a top dir left writable is writable by its owner only
	// (0755 less the umask), and all under it is read-only already.
	_ = os.Chmod(final, fsx.Perm(0o555))
	return nil
}

// treeSize counts the regular files of an entry and their bytes, the
// manifest aside: a built tree has none yet when it is counted, an
// unpacked one has the archive's, and both must count the same, or the
// manifest of a fetched entry, published again, would differ from the
// one it was fetched with.
func treeSize(root string) (files, bytes int64, err error) {
	manifest := manifestIn(root)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && p != manifest {
			info, err := d.Info()
			if err != nil {
				return err
			}
			files++
			bytes += info.Size()
		}
		return nil
	})
	return files, bytes, err
}
