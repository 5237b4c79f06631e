package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyid"
)

// ErrNotFound means the cache has no usable entry for a key: none was
// published, or its entry.json is unreadable or names an archive that is
// not there. Callers build instead. Lookup's misses are *MissError.
var ErrNotFound = errors.New("not in the cache")

// entryFile is the commit point of a key.
const entryFile = "entry.json"

// smallReadTime is the size whose reading time bounds a read of an
// entry.json or a lease (see bounded): they are under a kilobyte.
const smallReadTime = 64 << 10

// maxEntrySize bounds what Lookup reads of an entry.json: a real one is
// well under a kilobyte.
const maxEntrySize = fsx.MaxJSONMeta

// Entry is a published build: the contents of <cache>/<key>/entry.json.
// It names an archive (Digest, Size), an index of the file-level format
// (Format FormatFiles: Index, IndexSize), or both, while nodes that know
// only archives remain.
type Entry struct {
	Key cas.Key `json:"key"`
	// Format is what the entry holds: "" or FormatArchive, an archive
	// only (every entry before issue 22); FormatFiles, an index and its
	// packs, and maybe an archive as well. Another format is one this
	// rezup does not know (MissFormat).
	Format string     `json:"format,omitempty"`
	Digest cas.Digest `json:"digest,omitzero"` // BLAKE3-256 of the archive; names the file
	Size   int64      `json:"size,omitempty"`  // archive bytes (compressed)
	// Index and IndexSize name the index (cas/files: files.Marshal's
	// bytes and their digest) of a FormatFiles entry.
	Index     cas.Digest `json:"index,omitzero"`
	IndexSize int64      `json:"index_size,omitempty"`
	Files     int64      `json:"files"`  // entries of any kind, as PackStats counts them (of an index: its entries)
	Bytes     int64      `json:"bytes"`  // regular-file bytes once unpacked
	Prefix    string     `json:"prefix"` // the absolute path the tree was built at
	// Interpreter is the base Python the build was made with: what
	// relocation must find again on the machine that unpacks it.
	Interpreter  pyid.ID   `json:"interpreter"`
	Created      time.Time `json:"created"`
	RezupVersion string    `json:"rezup_version"`
	Signatures   []string  `json:"signatures,omitempty"`
}

// MissReason says why Lookup missed.
type MissReason string

// Why Lookup misses.
const (
	MissNoEntry   MissReason = "no entry"         // nothing committed for the key
	MissBadEntry  MissReason = "unreadable entry" // entry.json cannot be parsed or names no archive of the key
	MissNoArchive MissReason = "archive missing"  // the archive entry.json names is gone or of the wrong size
	// MissUntrusted: trusted keys are configured (WithTrustedKeys) and no
	// trusted key signed the entry. It is never used, whatever it holds.
	MissUntrusted MissReason = "not signed by a trusted key"
	// MissFormat: the entry is of a format this rezup does not know (a
	// newer rezup published it). Publish never replaces such an entry.
	MissFormat MissReason = "unknown format"
)

// MissError is a Lookup miss. It wraps ErrNotFound.
type MissError struct {
	Key    cas.Key
	Cache  string // the cache's String
	Reason MissReason
	Detail string // for people: what exactly was wrong
}

func (e *MissError) Error() string {
	return fmt.Sprintf("look up %s in %s: %v: %s", e.Key, e.Cache, ErrNotFound, e.Detail)
}

// Unwrap returns ErrNotFound.
func (e *MissError) Unwrap() error { return ErrNotFound }

// Cache is the shared cache of archives, keyed by Key, over any Backend.
// It owns the layout and the commit protocol:
//
//	<key>/<digest>.tar.zst          archives, named by their own digest, never replaced
//	<key>/<digest>.index            indexes of the file-level format, the same way
//	packs/<2 hex>/<digest>.pack     packs, shared by every key, the same way
//	<key>/entry.json                the commit point: put last, removed first
//	<key>/lease.<gen>               the farm build lease (AcquireBuild), while a node builds
//
// A Cache is safe for concurrent use, by goroutines and by processes on
// different machines, without locks: publishers only ever create complete
// objects, so every reader sees a valid archive or a miss.
type Cache struct {
	b   backend.Backend
	now func() time.Time

	// trusted, when not empty, are the only keys whose entries Lookup
	// returns; signer, when set, signs what Publish commits.
	trusted []PublicKey
	signer  *SecretKey
	// pinsOnly: Lookup by key is refused (see PinsOnly).
	pinsOnly bool
	// readGrace and minRate bound every read in time (see bounded).
	readGrace time.Duration
	minRate   int64

	mu       sync.Mutex
	probed   bool
	probeErr error
}

// NewCache returns the cache stored in b.
func NewCache(b backend.Backend) *Cache { return &Cache{b: b, now: time.Now} }

// Open returns the cache at location, a directory path or a file:// URL,
// as OpenWith does with the default options: directories only (Schemes);
// other schemes are ErrUnsupported.
func Open(location string) (*Cache, error) { return OpenWith(location, OpenOptions{}) }

// DefaultMinRate is the slowest a read of the cache may go, on average,
// before it is given up (see Cache.Open): 64 KiB/s.
const DefaultMinRate = 64 << 10

// OpenOptions configure OpenWith. The zero value is the defaults.
type OpenOptions struct {
	// Schemes picks the backend for the location (nil: Schemes()).
	Schemes *backend.Registry
	// Stack says how the backend is wrapped (see backend.Stack). Its
	// IdleTimeout is also the time every read is allowed besides its
	// size at MinRate.
	backend.StackOptions
	// MinRate is the slowest a read may go on average, in bytes a second
	// (<= 0: DefaultMinRate): a read of n bytes is given up after the idle
	// timeout plus n at this rate, retries included.
	MinRate int64
}

// OpenWith returns the cache at location over its backend, wrapped by
// backend.Stack: every try bounded, transfers limited, transient errors
// retried.
func OpenWith(location string, o OpenOptions) (*Cache, error) {
	reg := o.Schemes
	if reg == nil {
		reg = Schemes()
	}
	b, err := reg.Open(location)
	if err != nil {
		return nil, err
	}
	c := NewCache(backend.Stack(b, o.StackOptions))
	c.readGrace, c.minRate = o.IdleTimeout, o.MinRate
	return c, nil
}

// WithTrustedKeys returns a cache over the same backend whose Lookup
// returns only entries a key of keys signed: an unsigned entry, or one
// signed by another key, is a *MissError with the reason MissUntrusted,
// never an entry. No keys means every valid entry is returned, as a cache
// without signatures always did.
func (c *Cache) WithTrustedKeys(keys ...PublicKey) *Cache {
	n := c.clone()
	n.trusted = append([]PublicKey(nil), keys...)
	return n
}

// PinsOnly returns a cache over the same backend that finds nothing by
// key: its Lookup is a *MissError with the reason MissUntrusted, whatever
// entry.json says, while pinned archives (Pinned, Open) are fetched as
// before, verified by their digest. It is the cache of a machine that
// cannot tell which keys it trusts (its configuration cannot be read):
// never less safe than a cache with trusted keys.
func (c *Cache) PinsOnly() *Cache {
	n := c.clone()
	n.pinsOnly = true
	return n
}

// WithSigner returns a cache over the same backend whose Publish signs
// each entry it commits with sk.
func (c *Cache) WithSigner(sk SecretKey) *Cache {
	n := c.clone()
	n.signer = &sk
	return n
}

// TrustedKeys returns the keys set with WithTrustedKeys: when there are
// none, the cache is unauthenticated, and whoever can write to it chooses
// what Lookup returns.
func (c *Cache) TrustedKeys() []PublicKey { return append([]PublicKey(nil), c.trusted...) }

// clone copies the configuration, not the probe: a cache is cheap to
// probe again.
func (c *Cache) clone() *Cache {
	return &Cache{b: c.b, now: c.now, trusted: c.trusted, signer: c.signer, pinsOnly: c.pinsOnly, readGrace: c.readGrace, minRate: c.minRate}
}

// String names the cache for messages: its backend's location.
func (c *Cache) String() string { return c.b.String() }

// Backend returns the backend the cache is stored in.
func (c *Cache) Backend() backend.Backend { return c.b }

func entryName(k cas.Key) string                 { return k.String() + "/" + entryFile }
func archiveName(k cas.Key, d cas.Digest) string { return k.String() + "/" + d.String() + archive.Ext }
func isArchiveName(name string) bool {
	return strings.HasSuffix(name, archive.Ext) && !isTempName(name)
}
func isTempName(name string) bool { return strings.Contains(name, fsx.TempSuffix) }

// Lookup returns the entry published for key. It also checks the archive
// the entry names is there (and its index, of the file-level format: not
// the packs, which only the index names), so that a miss is found here
// rather than halfway through a download, and, with trusted keys, that
// one of them signed the entry. A miss is a *MissError, which says why
// (MissNoArchive for a missing index too).
func (c *Cache) Lookup(ctx context.Context, key cas.Key) (Entry, error) {
	miss := func(why MissReason, format string, args ...any) error {
		return &MissError{Key: key, Cache: c.String(), Reason: why, Detail: fmt.Sprintf(format, args...)}
	}
	fail := func(err error) error { return fmt.Errorf("look up %s in %s: %w", key, c, err) }
	if c.pinsOnly {
		return Entry{}, miss(MissUntrusted, "the trusted keys cannot be told, so only pinned archives are used")
	}
	b, err := c.readSmall(ctx, entryName(key))
	switch {
	case errors.Is(err, backend.ErrNotRegular), errors.Is(err, fsx.ErrTooLarge):
		// Planted or broken: not an entry anyone can use, and one that
		// Publish may replace.
		return Entry{}, miss(MissBadEntry, "%v", err)
	case backend.IsNotExist(err):
		return Entry{}, miss(MissNoEntry, "no entry")
	case err != nil:
		return Entry{}, fail(err)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, miss(MissBadEntry, "%s is unreadable: %v", entryName(key), err)
	}
	if e.Key != key {
		return Entry{}, miss(MissBadEntry, "%s names key %s", entryName(key), e.Key)
	}
	if why, detail := e.check(); why != "" {
		return Entry{}, miss(why, "%s %s", entryName(key), detail)
	}
	if len(c.trusted) > 0 {
		if err := Verify(e, c.trusted); err != nil {
			return Entry{}, miss(MissUntrusted, "%v", err)
		}
	}
	if detail, err := c.checkStored(ctx, e, false); err != nil {
		return Entry{}, fail(err)
	} else if detail != "" {
		return Entry{}, miss(MissNoArchive, "%s", detail)
	}
	return e, nil
}

// The formats an entry (or a pin) may hold.
const (
	// FormatArchive: one archive (cas/archive), Digest and Size. An
	// entry without a Format is one.
	FormatArchive = "archive"
	// FormatFiles: an index of the file-level format (cas/files), Index
	// and IndexSize, whose packs are shared by every key; an archive
	// too when Digest is set, for nodes that know only archives.
	FormatFiles = "files"
)

// HasArchive reports whether e names an archive.
func (e Entry) HasArchive() bool { return e.Digest != (cas.Digest{}) }

// HasIndex reports whether e names an index of the file-level format.
func (e Entry) HasIndex() bool { return e.Index != (cas.Digest{}) }

// ArchiveOnly returns e as a rezup that knows only archives reads it:
// without Format and index, so that its Statement is rezup-entry/1. ok is
// false when e names no archive. A statement that covers a pin (a remote
// revision's) and must verify on such a rezup is made from it, as Sign
// does for entries that hold both.
func (e Entry) ArchiveOnly() (Entry, bool) {
	e.Format, e.Index, e.IndexSize = "", cas.Digest{}, 0
	return e, e.HasArchive()
}

// check says what is wrong with what e names, if anything: the reason
// of the miss and, for people, why ("names no archive").
func (e Entry) check() (MissReason, string) {
	switch {
	case e.HasArchive() != (e.Size > 0):
		return MissBadEntry, "names no archive, or an empty one"
	case e.HasIndex() != (e.IndexSize > 0):
		return MissBadEntry, "names no index, or an empty one"
	}
	switch e.Format {
	case "", FormatArchive:
		switch {
		case !e.HasArchive():
			return MissBadEntry, "names no archive"
		case e.HasIndex():
			return MissBadEntry, "names an index but is of the archive format"
		}
	case FormatFiles:
		if !e.HasIndex() {
			return MissBadEntry, "names no index"
		}
	default:
		if e.RezupVersion == "" {
			return MissFormat, fmt.Sprintf("is of the format %q, which this rezup does not know: a newer rezup published it; upgrade rezup", e.Format)
		}
		return MissFormat, fmt.Sprintf("is of the format %q, which this rezup does not know: rezup %s published it; upgrade rezup to %[2]s or newer", e.Format, e.RezupVersion)
	}
	return "", ""
}

// checkStored stats what e names (its archive, its index): detail says,
// for people, what is missing or of the wrong size; err is an error of
// the cache itself.
// pinned says e is a pin (for the wording).
func (c *Cache) checkStored(ctx context.Context, e Entry, pinned bool) (detail string, err error) {
	type object struct {
		kind, name string
		d          cas.Digest
		size       int64
	}
	var objs []object
	if e.HasArchive() {
		objs = append(objs, object{"archive", archiveName(e.Key, e.Digest), e.Digest, e.Size})
	}
	if e.HasIndex() {
		objs = append(objs, object{"index", indexName(e.Key, e.Index), e.Index, e.IndexSize})
	}
	prefix, says := "", "entry"
	if pinned {
		prefix, says = "pinned ", "the pin"
	}
	for _, o := range objs {
		fi, err := c.b.Stat(ctx, o.name)
		switch {
		case errors.Is(err, backend.ErrNotRegular):
			return fmt.Sprintf("%s%s %s is not a file: %v", prefix, o.kind, o.d, err), nil
		case backend.IsNotExist(err):
			return fmt.Sprintf("%s%s %s is missing", prefix, o.kind, o.d), nil
		case err != nil:
			return "", err
		}
		if fi.Size != o.size {
			return fmt.Sprintf("%s%s %s has %d bytes, %s says %d", prefix, o.kind, o.d, fi.Size, says, o.size), nil
		}
	}
	return "", nil
}

func (c *Cache) readSmall(ctx context.Context, name string) ([]byte, error) {
	// In time, as for 64 KiB: a real entry.json is under a kilobyte.
	ctx, cancel := c.bounded(ctx, name, smallReadTime)
	defer cancel()
	rc, err := c.b.Open(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close() // read-only: a close error loses nothing
	return fsx.ReadLimited(rc, name, maxEntrySize)
}

// Open returns the archive bytes of e, to pass to Unpack with e.Digest.
// A missing archive is an error wrapping ErrNotFound. The read is bounded
// in bytes and in time: past e.Size bytes, it fails with an error
// wrapping archive.ErrCorrupt (an archive is exactly the size its entry
// or pin states: a longer body is another one, or endless); and it fails
// with ErrTooSlow once it has taken longer than the idle timeout plus
// e.Size at the minimum rate (see OpenOptions), retries and resumes
// included.
func (c *Cache) Open(ctx context.Context, e Entry) (io.ReadCloser, error) {
	if !e.HasArchive() {
		return nil, fmt.Errorf("open %s in %s: the entry holds no archive (format %q): %w", e.Key, c, e.Format, ErrNotFound)
	}
	name := archiveName(e.Key, e.Digest)
	ctx, cancel := c.bounded(ctx, name, e.Size)
	rc, err := c.b.Open(ctx, name, 0, -1)
	if err != nil {
		cancel()
	}
	if backend.IsNotExist(err) {
		return nil, fmt.Errorf("open %s in %s: archive %s: %w", e.Key, c, e.Digest, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s in %s: %w", e.Key, c, err)
	}
	return &cappedReader{rc: rc, left: e.Size, name: name, cancel: cancel}, nil
}

// ErrTooSlow means a read of the cache took longer than its size allows
// at the minimum rate (see OpenOptions): a server that trickles a byte
// now and then, never stalling long enough for the idle timeout. It
// matches context.DeadlineExceeded.
var ErrTooSlow = fsx.Sentinel("the shared cache is too slow", context.DeadlineExceeded)

// bounded is ctx with the deadline of reading size bytes of name: the
// idle timeout, plus size at the minimum rate.
func (c *Cache) bounded(ctx context.Context, name string, size int64) (context.Context, context.CancelFunc) {
	grace, rate := c.readGrace, c.minRate
	if grace <= 0 {
		grace = backend.DefaultIdleTimeout
	}
	if rate <= 0 {
		rate = DefaultMinRate
	}
	d := grace + time.Duration(float64(max(size, 0))/float64(rate)*float64(time.Second))
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("%s: not read within %v (%d bytes at %d bytes/s, and %v): %w", name, d.Round(time.Second), size, rate, grace, ErrTooSlow))
}

// cappedReader reads an object that must be exactly left bytes long.
type cappedReader struct {
	rc     io.ReadCloser
	left   int64
	name   string
	cancel context.CancelFunc
}

func (r *cappedReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		// The object must end here: a byte more is an error, not data.
		var one [1]byte
		n, err := r.rc.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%s holds more bytes than its entry states: %w", r.name, archive.ErrCorrupt)
		}
		return 0, err
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.rc.Read(p)
	r.left -= int64(n)
	if err == io.EOF && r.left > 0 {
		err = fmt.Errorf("%s ends %d bytes short of its entry's size: %w", r.name, r.left, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (r *cappedReader) Close() error {
	defer r.cancel()
	return r.rc.Close()
}

// Publish stores the archive a under e.Key and then commits e, with
// Digest, Size, Files and Bytes taken from a, as the key's entry. A zero
// e.Created is set to the time of publishing; with a signer (WithSigner)
// e is signed, and signatures e came with are dropped (they cannot cover
// the new digest). The archive is put first, under its digest; entry.json
// last. If another publisher committed the key first, Publish leaves its
// entry and returns it, whatever its format: the key is already
// published. An entry of a format this rezup does not know (MissFormat)
// is never replaced: Publish fails. Otherwise it
// returns e as committed. a.Path stays the caller's to remove.
//
// With trusted keys, an entry Lookup misses on because no trusted key
// signed it is replaced only by an entry that does verify (signed by a
// trusted key); otherwise Publish fails with an error wrapping
// ErrUntrustedSigner, leaving that entry, and the archive it stored, in
// place.
//
// The entry Publish commits is of the archive format (no Format, no
// index), byte for byte what rezup wrote before the file-level format:
// PublishBuild publishes an index, or both.
func (c *Cache) Publish(ctx context.Context, e Entry, a archive.Archive) (Entry, error) {
	return c.PublishBuild(ctx, e, Build{Archive: &a})
}

// commit puts e as its key's entry.json (see Publish).
func (c *Cache) commit(ctx context.Context, e Entry) (Entry, error) {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return e, err
	}
	b = append(b, '\n')
	// A taken entry.json is either another publisher's commit (done) or a
	// bad entry that Lookup misses on (replace it). Three rounds are
	// plenty: each either commits or clears what was in the way.
	for range 3 {
		err := c.b.Put(ctx, entryName(e.Key), backend.BytesSource(b))
		if !errors.Is(err, backend.ErrExist) {
			return e, err
		}
		got, lerr := c.Lookup(ctx, e.Key)
		var miss *MissError
		switch {
		case lerr == nil:
			return got, nil
		case !errors.As(lerr, &miss):
			return e, lerr
		case miss.Reason == MissFormat:
			// A newer rezup's: replacing it would take it from the nodes
			// that can use it.
			return e, fmt.Errorf("the key's entry is newer than this rezup (%s): leaving it", miss.Detail)
		case miss.Reason == MissUntrusted && Verify(e, c.trusted) != nil:
			// Replacing one unverified entry by another would only let
			// publishers who trust nobody's key take turns.
			return e, fmt.Errorf("the key's entry is %w and this one would not be either (%s): sign with a trusted key", ErrUntrustedSigner, miss.Detail)
		case miss.Reason != MissNoEntry:
			if err := c.b.Delete(ctx, entryName(e.Key)); err != nil && !backend.IsNotExist(err) {
				return e, fmt.Errorf("replace the bad entry (%s): %w", miss.Detail, err)
			}
		}
	}
	return e, errors.New("entry.json keeps changing under a publish; try again")
}

// putArchive puts a under its digest. An archive already there holds the
// same bytes (same name, same digest) and is kept.
func (c *Cache) putArchive(ctx context.Context, e Entry, a archive.Archive) error {
	if a.Size <= 0 {
		return errors.New("the archive is empty")
	}
	src, err := backend.OpenFileSource(a.Path)
	if err != nil {
		return err
	}
	defer src.Close() // read-only: a close error loses nothing
	if src.Length() != a.Size {
		return fmt.Errorf("%s has %d bytes, not the %d packed", a.Path, src.Length(), a.Size)
	}
	return c.putNamed(ctx, archiveName(e.Key, e.Digest), src)
}

// putNamed puts src under name, a name given by the digest of its bytes.
// An object already there holds the same bytes (same name, same digest)
// and is kept.
func (c *Cache) putNamed(ctx context.Context, name string, src backend.Source) error {
	err := c.b.Put(ctx, name, src)
	if !errors.Is(err, backend.ErrExist) {
		return err
	}
	fi, err := c.b.Stat(ctx, name)
	if err != nil {
		return err
	}
	if fi.Size != src.Length() {
		// Same name means same digest means same bytes: a different size
		// is damage in the cache, and rezup never replaces such an object.
		return fmt.Errorf("%s exists with %d bytes, not %d: it is damaged, remove it", name, fi.Size, src.Length())
	}
	return nil
}

// Writable reports, with nil, whether Publish can be expected to succeed:
// it puts and deletes a probe object (a temp name, which readers ignore)
// once, and remembers the answer unless ctx ended the probe.
func (c *Cache) Writable(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.probed {
		return c.probeErr
	}
	name := fsx.RandomName(".writable-") + fsx.TempSuffix
	err := c.b.Put(ctx, name, backend.BytesSource(nil))
	if err == nil {
		// A probe left behind is a temp name: ignored by readers, and not
		// a reason to call the cache unwritable.
		_ = c.b.Delete(ctx, name)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("probe %s: %w", c, ctx.Err())
	}
	if err != nil {
		err = fmt.Errorf("the shared cache %s is not writable: %w", c, err)
	}
	c.probed, c.probeErr = true, err
	return err
}

// KeyInfo is what the cache holds for a key, committed or not.
type KeyInfo struct {
	Key cas.Key
	// Modified is when anything was last stored under the key: the newest
	// modification time of its objects. Collectors age keys that have no
	// readable entry (a publish in flight, or one that crashed) by it.
	Modified time.Time
	// Size is the bytes of all its objects.
	Size int64
}

// Keys lists the keys the cache holds anything for, committed or not,
// sorted. Names that are not keys are ignored.
func (c *Cache) Keys(ctx context.Context) ([]KeyInfo, error) {
	byKey := map[cas.Key]*KeyInfo{}
	err := c.b.List(ctx, "", func(o backend.ObjectInfo) error {
		first, _, ok := strings.Cut(o.Name, "/")
		k, err := cas.ParseKey(first)
		if !ok || err != nil {
			return nil
		}
		ki := byKey[k]
		if ki == nil {
			ki = &KeyInfo{Key: k}
			byKey[k] = ki
		}
		ki.Size += o.Size
		if o.ModTime.After(ki.Modified) {
			ki.Modified = o.ModTime
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", c, err)
	}
	keys := make([]KeyInfo, 0, len(byKey))
	for _, ki := range byKey {
		keys = append(keys, *ki)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Key.String() < keys[j].Key.String() })
	return keys, nil
}

// Remove deletes everything the cache stored for key: entry.json first
// (readers miss from then on), then the archives, then what publishes in
// flight or crashed left, and build leases (a publisher in flight fails,
// which is what removing its key means). Archives include indexes
// (<key>/<digest>.index); packs are shared by every key and are not
// removed with one (see RemovePack). Names that are none of these are not rezup's
// and are left alone. Removing a key that is not there is not an error.
func (c *Cache) Remove(ctx context.Context, key cas.Key) error {
	if err := c.remove(ctx, key); err != nil {
		return fmt.Errorf("remove %s from %s: %w", key, c, err)
	}
	return nil
}

func (c *Cache) remove(ctx context.Context, key cas.Key) error {
	if err := c.b.Delete(ctx, entryName(key)); err != nil && !backend.IsNotExist(err) {
		return err
	}
	var archives, rest []string
	err := c.b.List(ctx, key.String()+"/", func(o backend.ObjectInfo) error {
		rel := strings.TrimPrefix(o.Name, key.String()+"/")
		switch {
		case (isArchiveName(o.Name) || isIndexName(o.Name)) && !strings.Contains(rel, "/"):
			archives = append(archives, o.Name)
		case isTempName(o.Name), isLeaseName(rel), isJunkLease(rel), o.Name == key.String()+"/":
			rest = append(rest, o.Name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range append(archives, rest...) {
		if err := c.b.Delete(ctx, name); err != nil && !backend.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// ArchiveInfo is one archive stored under a key.
type ArchiveInfo struct {
	Digest   cas.Digest
	Size     int64
	Modified time.Time // when it was stored
	// Named says the key's entry.json names it. entry.json is read
	// without the trust check: an entry no trusted key signed still names
	// the archive it came with.
	Named bool
}

// ErrNamed means an archive asked to go is the one the key's entry.json
// names.
var ErrNamed = errors.New("named by the key's entry")

// Archives lists the archives stored under key (complete ones, named by
// their digest; publishes in flight are temp names and not listed), sorted
// by digest, and which one entry.json names. Two publishers of one key
// that raced each leave an archive; only one is named.
func (c *Cache) Archives(ctx context.Context, key cas.Key) ([]ArchiveInfo, error) {
	named, _, err := c.namedDigest(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("list archives of %s in %s: %w", key, c, err)
	}
	stored, err := c.storedUnder(ctx, key, archive.Ext)
	if err != nil {
		return nil, fmt.Errorf("list archives of %s in %s: %w", key, c, err)
	}
	out := make([]ArchiveInfo, 0, len(stored))
	for _, o := range stored {
		out = append(out, ArchiveInfo{Digest: o.digest, Size: o.Size, Modified: o.ModTime, Named: o.digest == named})
	}
	return out, nil
}

// storedObject is an object a key holds under its digest's name.
type storedObject struct {
	backend.ObjectInfo
	digest cas.Digest
}

// storedUnder lists the complete objects named <digest><ext> right under
// key (archives, indexes), sorted by digest. Temps, and names rezup does
// not write, are not rezup's to judge: left out.
func (c *Cache) storedUnder(ctx context.Context, key cas.Key, ext string) ([]storedObject, error) {
	var out []storedObject
	prefix := key.String() + "/"
	err := c.b.List(ctx, prefix, func(o backend.ObjectInfo) error {
		rel := strings.TrimPrefix(o.Name, prefix)
		base, ok := strings.CutSuffix(rel, ext)
		if !ok || isTempName(o.Name) || strings.Contains(rel, "/") {
			return nil
		}
		d, err := cas.ParseDigest(base)
		if err != nil {
			return nil
		}
		out = append(out, storedObject{ObjectInfo: o, digest: d})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].digest.String() < out[j].digest.String() })
	return out, nil
}

// namedDigest is the digest key's entry.json names; ok false when there
// is no entry, or it cannot be read (a planted or broken one names
// nothing anyone uses).
func (c *Cache) namedDigest(ctx context.Context, key cas.Key) (d cas.Digest, ok bool, err error) {
	e, ok, err := c.namedEntry(ctx, key)
	return e.Digest, ok && e.HasArchive(), err
}

// namedEntry is key's entry.json, read without the trust check or any
// other; ok false when there is none, or it cannot be read.
func (c *Cache) namedEntry(ctx context.Context, key cas.Key) (e Entry, ok bool, err error) {
	b, err := c.readSmall(ctx, entryName(key))
	switch {
	case errors.Is(err, backend.ErrNotRegular), errors.Is(err, fsx.ErrTooLarge), backend.IsNotExist(err):
		return Entry{}, false, nil
	case err != nil:
		return Entry{}, false, err
	}
	if json.Unmarshal(b, &e) != nil || e.Key != key {
		return Entry{}, false, nil
	}
	return e, true, nil
}

// RemoveArchive deletes archive d of key, unless entry.json names it at
// that moment (an error wrapping ErrNamed). No lock crosses machines: a
// publisher that found d already stored and commits an entry naming it
// just after this check leaves an entry whose archive is missing, which
// readers take as a clean miss; collectors make that unlikely by removing
// only archives older than a grace period. Removing an archive that is
// not there is not an error.
func (c *Cache) RemoveArchive(ctx context.Context, key cas.Key, d cas.Digest) error {
	named, ok, err := c.namedDigest(ctx, key)
	if err != nil {
		return fmt.Errorf("remove archive %s of %s from %s: %w", d, key, c, err)
	}
	if ok && named == d {
		return fmt.Errorf("remove archive %s of %s from %s: %w", d, key, c, ErrNamed)
	}
	if err := c.b.Delete(ctx, archiveName(key, d)); err != nil && !backend.IsNotExist(err) {
		return fmt.Errorf("remove archive %s of %s from %s: %w", d, key, c, err)
	}
	return nil
}

// Pinned checks that the archive e names (a pin: what a remote revision
// recorded when it was published) is in the cache with e's size, and its
// index too when it names one (Format FormatFiles), and returns e
// without signatures, to pass to Open (OpenIndex). entry.json is not read:
// a pin names its archive whatever the key's entry says, so an entry that
// names another digest cannot change what is fetched. A missing archive,
// or one of another size, is a *MissError with the reason MissNoArchive.
func (c *Cache) Pinned(ctx context.Context, e Entry) (Entry, error) {
	miss := func(why MissReason, format string, args ...any) error {
		return &MissError{Key: e.Key, Cache: c.String(), Reason: why, Detail: fmt.Sprintf(format, args...)}
	}
	if e.Key.IsZero() {
		return Entry{}, miss(MissBadEntry, "the pin names no archive")
	}
	if why, detail := e.check(); why != "" {
		return Entry{}, miss(why, "the pin %s", detail)
	}
	e.Signatures = nil
	detail, err := c.checkStored(ctx, e, true)
	if err != nil {
		return Entry{}, fmt.Errorf("look up what the pin of %s names in %s: %w", e.Key, c, err)
	}
	if detail != "" {
		return Entry{}, miss(MissNoArchive, "%s", detail)
	}
	return e, nil
}
