package gc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/materialize"
)

// Defaults of PlanInput, which cmd/rezup uses for its flags.
const (
	// DefaultKeep is how many ready revisions of each container stay.
	DefaultKeep = 3
	// DefaultGrace is how old a not-ready revision or a revision staging
	// dir must be before it counts as abandoned: a revision being written
	// has no revision.json yet either.
	DefaultGrace = time.Hour
	// DefaultCacheGrace is how old an unreferenced cache key must be
	// before it goes, so that a key published a moment ago survives until
	// its revision lands in the remote root.
	DefaultCacheGrace = 24 * time.Hour
)

// ErrNoContainer means a container asked for is not in the local root.
// Its error reads "no container NAME in ROOT", as cmd/rezup's other
// commands say it.
var ErrNoContainer = errors.New("no container")

// PlanInput is what a collection looks at, and its rules. cmd/rezup fills
// it from flags and the recipe; nothing here reads the environment.
type PlanInput struct {
	// Store is the local store; its root is what is collected.
	Store *materialize.Store
	// Remote is the remote root (nil: none). Its revisions are never
	// removed: they protect the local revisions that mirror them, the
	// local entries they use and, with Cache, the cache keys they name.
	Remote *materialize.Root
	// Containers restricts the local part to these containers: their
	// revisions, and the entries only their removed revisions used. Empty
	// means every container, and also the leftovers in .tmp.
	Containers []string
	// Keep is how many of the newest ready revisions of each container
	// stay (at least 1: the latest always stays).
	Keep int
	// OlderThan keeps what was used more recently than this (0: no age
	// rule). An entry's last use is its use-stamp (Store.LastUse); a
	// revision's is the same, but no later than when a newer revision
	// replaced it, since launches only ever pick the latest.
	OlderThan time.Duration
	// Grace is how old not-ready revisions and revision staging dirs must
	// be to go (DefaultGrace). Build staging dirs go as soon as no build
	// of their key runs: their lock tells.
	Grace time.Duration
	// Cache is the shared cache to prune (nil: leave the cache alone).
	Cache *cache.Cache
	// CacheGrace is how old an unreferenced cache key, or an archive its
	// entry does not name, must be to go.
	CacheGrace time.Duration
	// Pinned are more archive digests that stay in the cache even when
	// no entry names them, with who pins each. Plan adds by itself the
	// pins (revision.json's "archive") of every ready remote revision
	// and of every kept local one.
	Pinned map[cas.Digest]string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Kind is what an Item is.
type Kind string

// Kinds of items, in the order Execute removes them.
const (
	KindRevision Kind = "revision" // <container>/revisions/<timestamp>
	KindEntry    Kind = "entry"    // .store/<key>
	KindStaging  Kind = "staging"  // .tmp/<key>-*, <container>/revisions/.staging-*
	KindTrash    Kind = "trash"    // .tmp/trash-*
	KindLock     Kind = "lock"     // .store/<key>.lock of a build not in the store
	KindObjects  Kind = "objects"  // .store/objects: objects no kept build names ("objects"), temps of crashed puts ("temps")
	KindCache    Kind = "cache"    // <cache>/<key>
	KindArchive  Kind = "archive"  // <cache>/<key>/<digest>.tar.zst its entry does not name
	KindLease    Kind = "lease"    // <cache>/<key>/lease.<junk>: named as a build lease, and none
)

// Reason says why an item goes or stays. The values are stable: scripts
// read them from --json.
type Reason string

// Why an item goes.
const (
	ReasonOld          Reason = "old"          // a revision older than the Keep newest
	ReasonNotReady     Reason = "not-ready"    // a revision without revision.json, older than Grace
	ReasonUnreferenced Reason = "unreferenced" // an entry or cache key no kept revision uses
	ReasonStale        Reason = "stale"        // a staging dir nothing is writing
	ReasonTrash        Reason = "trash"        // left by an interrupted removal
	ReasonNoBuild      Reason = "no-build"     // a lock file whose build is not in the store
	ReasonUnnamed      Reason = "unnamed"      // an archive its key's entry does not name
	ReasonJunk         Reason = "junk"         // a lease name no rezup writes (a generation that does not parse, or out of range)
)

// Why an item stays.
const (
	ReasonLatest     Reason = "latest"      // the latest ready revision of its container
	ReasonKept       Reason = "kept"        // one of the Keep newest
	ReasonRemote     Reason = "remote"      // mirrors, or is used by, a kept remote revision
	ReasonRecent     Reason = "recent"      // used within OlderThan
	ReasonInUse      Reason = "in-use"      // a process holds its lock, or shows its path (Detail names it)
	ReasonReferenced Reason = "referenced"  // a kept revision uses it
	ReasonGrace      Reason = "grace"       // younger than Grace or CacheGrace
	ReasonUnknownAge Reason = "unknown-age" // a cache key whose age cannot be told
	ReasonUnreadable Reason = "unreadable"  // a revision whose revision.json cannot be read
	ReasonPinned     Reason = "pinned"      // an unnamed archive a revision pins (PlanInput.Pinned)
	// What this account may not remove stays too: another account's, in a
	// group-shared root (only its owner, or root, removes it), and what is
	// where this account cannot write (a read-only mount, a directory it
	// may not write). Neither is a failure of gc.
	ReasonOtherAccount Reason = "other-account" // another account owns it
	ReasonNotWritable  Reason = "not-writable"  // this account cannot write where it is
)

// Item is one thing a plan removes or keeps.
type Item struct {
	Kind      Kind   `json:"kind"`
	Container string `json:"container,omitempty"`
	// Name is the revision's timestamp, the entry's, lock's or cache
	// key's key, the staging or trash directory's name, or an archive's
	// digest.
	Name string `json:"name"`
	// Key is the store key a revision uses, a staging dir is for, or an
	// archive is stored under.
	Key   string `json:"key,omitempty"`
	Bytes int64  `json:"bytes"`
	// Reason is why it goes (in remove) or stays (in kept, skipped).
	Reason Reason `json:"reason"`
	// Detail says the same for people.
	Detail string `json:"detail"`
	// LastUse is an entry's last use, a revision's estimated last use, a
	// cache key's publication or a leftover's mtime, when known.
	LastUse time.Time `json:"last_use,omitzero"`
	// Count is how many objects (or temps) an objects item stands for:
	// they are many, and listed as one item.
	Count int `json:"count,omitempty"`

	rev    *materialize.Revision
	left   materialize.Leftover
	key    cas.Key
	digest cas.Digest
	objs   map[materialize.ObjectRef]bool // KindObjects "objects": which
	temps  map[string]bool                // KindObjects "temps": their paths
}

// Title is how the item is named for people: container/revision,
// key/digest for an archive, or the name alone.
func (it Item) Title() string {
	if it.Kind == KindArchive || it.Kind == KindIndex {
		return it.Key + "/" + it.Name
	}
	if it.Container != "" {
		return it.Container + "/" + it.Name
	}
	return it.Name
}

// Sweep is a planned collection: what goes, what stays and why. It has
// changed nothing; Execute removes what it lists.
type Sweep struct {
	Root       string
	Remote     string // "" without a remote root
	Cache      string // "" when the cache is not pruned
	Now        time.Time
	Keep       int
	OlderThan  time.Duration
	CacheGrace time.Duration
	Remove     []Item
	Kept       []Item
	Warnings   []string

	in         PlanInput
	remoteKeys map[cas.Key]bool // keys of the kept remote revisions
	files      filesPlan        // the cache's indexes and packs (packs.go)
}

// Bytes is what the sweep frees.
func (p *Sweep) Bytes() int64 {
	var n int64
	for _, it := range p.Remove {
		n += it.Bytes
	}
	return n
}

// Plan reads the local root (and the remote root and cache when given)
// and decides. It changes nothing, not even an mtime: it probes the locks
// of entries it would remove with LOCK_EX|LOCK_NB on lock files that
// exist, which a launch waiting at that instant waits out.
//
// It runs in phases over one planner state, each phase reading what the
// earlier ones decided: the remote root first (what it keeps protects
// local revisions, entries and cache keys), then each container's
// revisions, then the store entries they leave unreferenced, then the
// leftovers in .tmp, and last the cache.
func Plan(ctx context.Context, in PlanInput) (*Sweep, error) {
	pl, err := newPlanner(in)
	if err != nil {
		return nil, err
	}
	phases := []func(context.Context) error{
		pl.planRemote,
		pl.planRevisions,
		pl.planEntries,
		pl.planTmp,
		pl.planLocks,
		pl.planObjects,
		pl.planCache,
	}
	// One look at the running processes for the whole plan: who uses a
	// revision or build without holding its lock.
	pl.roots = in.Store.FindRuntimeRoots(ctx)
	for _, phase := range phases {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		if err := phase(ctx); err != nil {
			return nil, err
		}
	}
	if gaps := pl.roots.Gaps(); gaps != "" && slices.ContainsFunc(pl.sweep.Remove, func(it Item) bool {
		return it.Kind == KindRevision || it.Kind == KindEntry
	}) {
		pl.sweep.warnf("%s", gaps)
	}
	sortItems(pl.sweep.Remove)
	sortItems(pl.sweep.Kept)
	return pl.sweep, nil
}

// planner is the state the phases of Plan share.
type planner struct {
	in    PlanInput
	sweep *Sweep
	store *materialize.Store
	root  materialize.Root
	now   time.Time
	roots *materialize.RuntimeRoots // who uses what, lock or not

	names    []string        // the local root's containers
	selected map[string]bool // the containers asked for
	all      bool            // no container asked for: the whole root

	remoteKept map[string]bool       // container/name of the kept remote revisions
	cacheRefs  map[cas.Key]string    // cache key -> who names it
	refs       map[cas.Key][]string  // local entry -> the kept revisions using it
	goneKeys   map[cas.Key]bool      // keys of the revisions that go
	lastUse    map[cas.Key]time.Time // use-stamps read so far (zero: none)
	pinned     map[cas.Digest]string // archive -> who pins it (PlanInput.Pinned, remote and kept revisions)
}

func newPlanner(in PlanInput) (*planner, error) {
	switch {
	case in.Store == nil:
		return nil, errors.New("gc: no store")
	case in.Keep < 1:
		return nil, fmt.Errorf("gc: keep %d: the latest revision always stays, so keep at least 1", in.Keep)
	case in.OlderThan < 0 || in.Grace < 0 || in.CacheGrace < 0:
		return nil, errors.New("gc: negative duration")
	}
	if in.Now == nil {
		in.Now = time.Now
	}
	root := in.Store.Root()
	now := in.Now()
	sweep := &Sweep{Root: root.Dir, Now: now, Keep: in.Keep, OlderThan: in.OlderThan, in: in, remoteKeys: map[cas.Key]bool{}}
	if in.Cache != nil {
		sweep.Cache, sweep.CacheGrace = in.Cache.String(), in.CacheGrace
	}
	if in.Remote != nil {
		sweep.Remote = in.Remote.Dir
	}
	names, err := root.Containers()
	if err != nil {
		return nil, fmt.Errorf("gc: list containers: %w", err)
	}
	selected := map[string]bool{}
	for _, n := range in.Containers {
		if !contains(names, n) {
			return nil, fmt.Errorf("%w %s in %s", ErrNoContainer, n, root.Dir)
		}
		selected[n] = true
	}
	return &planner{
		in: in, sweep: sweep, store: in.Store, root: root, now: now,
		names: names, selected: selected, all: len(in.Containers) == 0,
		remoteKept: map[string]bool{},
		cacheRefs:  map[cas.Key]string{},
		refs:       map[cas.Key][]string{},
		goneKeys:   map[cas.Key]bool{},
		lastUse:    map[cas.Key]time.Time{},
		pinned:     maps.Clone(in.Pinned),
	}, nil
}

// planRemote reads the remote root: its kept revisions (the same Keep
// rule) protect what mirrors them here, and every remote revision's key
// protects its cache key. Nothing of the remote root is ever removed.
func (pl *planner) planRemote(ctx context.Context) error {
	remote := pl.in.Remote
	if remote == nil {
		return nil
	}
	keyless := 0
	rnames, err := remote.Containers()
	if err != nil {
		return fmt.Errorf("gc: list remote containers: %w", err)
	}
	for _, c := range rnames {
		revs, err := remote.Revisions(c)
		if err != nil {
			return fmt.Errorf("gc: remote: %w", err)
		}
		n := 0
		for _, rev := range revs {
			if !rev.Ready() {
				continue
			}
			who := "remote revision " + c + "/" + rev.Name
			pl.pin(rev, who)
			k, ok := rev.Key()
			if !ok {
				keyless++
			} else {
				pl.nameInCache(k, who)
			}
			if n < pl.in.Keep {
				pl.remoteKept[c+"/"+rev.Name] = true
				if ok {
					pl.refs[k] = append(pl.refs[k], who)
					pl.sweep.remoteKeys[k] = true
				}
			}
			n++
		}
	}
	if keyless > 0 && pl.in.Cache != nil {
		pl.sweep.warnf("%d remote revision(s) name no key (written by the Python rezup): the cache keys of their builds are not protected by them, only by the grace period", keyless)
	}
	return nil
}

// planRevisions decides each local revision, newest first per container,
// and plans the revision staging dirs of the containers collected.
// Containers not asked for only protect what their revisions use.
func (pl *planner) planRevisions(ctx context.Context) error {
	for _, c := range pl.names {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		revs, err := pl.root.Revisions(c)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		if !pl.all && !pl.selected[c] {
			for _, rev := range revs {
				pl.reference(rev)
			}
			continue
		}
		var prev *materialize.Revision // the next newer ready revision
		n := 0
		for _, rev := range revs {
			if rev.Err != nil {
				// Neither ready nor abandoned: launches pass over it, and
				// what it holds (maybe a venv of the Python rezup) is for
				// people to judge.
				pl.sweep.Kept = append(pl.sweep.Kept, Item{Kind: KindRevision, Container: c, Name: rev.Name, Reason: ReasonUnreadable, Detail: rev.Err.Error(), rev: rev})
				pl.sweep.warnf("revision %s of %s is kept: %v; fix or remove it", rev.Name, c, rev.Err)
				continue
			}
			if !rev.Ready() {
				pl.notReady(rev)
				continue
			}
			if err := pl.decideRevision(rev, n, prev); err != nil {
				return err
			}
			prev, n = rev, n+1
		}
		staging, err := pl.root.RevisionStaging(c)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		for _, l := range staging {
			pl.leftover(l)
		}
	}
	return nil
}

// decideRevision keeps or removes a ready revision, the n-th newest of its
// container; prev is the next newer one (nil for the latest).
func (pl *planner) decideRevision(rev *materialize.Revision, n int, prev *materialize.Revision) error {
	c, in, now := rev.Container, pl.in, pl.now
	it := Item{Kind: KindRevision, Container: c, Name: rev.Name, rev: rev}
	k, hasKey := rev.Key()
	// Launches pick the latest revision only, so this one was last
	// launched no later than when the next one replaced it.
	if hasKey {
		it.Key = k.String()
		it.LastUse = pl.entryLastUse(k)
	} else if t, ok := pl.store.RevisionLastUse(rev); ok {
		it.LastUse = t // built by the Python rezup: its own use-stamp
	}
	if prev != nil {
		replaced := published(prev)
		if it.LastUse.IsZero() || replaced.Before(it.LastUse) {
			it.LastUse = replaced
		}
	}
	switch {
	case n == 0:
		it.Reason, it.Detail = ReasonLatest, "latest ready revision"
	case n < in.Keep:
		it.Reason, it.Detail = ReasonKept, fmt.Sprintf("one of the %d newest", in.Keep)
	case pl.remoteKept[c+"/"+rev.Name]:
		it.Reason, it.Detail = ReasonRemote, "mirrors a kept revision of the remote root"
	case in.OlderThan > 0 && !it.LastUse.IsZero() && now.Sub(it.LastUse) < in.OlderThan:
		it.Reason, it.Detail = ReasonRecent, fmt.Sprintf("last used %s ago, within --older-than %s", ago(now, it.LastUse), span(in.OlderThan))
	default:
		// A revision the Python rezup built holds the venv its jobs run
		// in: it stays while one runs.
		busy, err := pl.store.RevisionInUse(rev)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		if busy {
			it.Reason, it.Detail = ReasonInUse, "built by the Python rezup, and a process runs in its venv"
			break
		}
		// Or a process that holds no lock: a job the Python rezup
		// launched (it has the revision's venv on PATH), a program
		// started from the venv.
		if u, ok := pl.roots.Revision(rev); ok {
			it.Reason, it.Detail = ReasonInUse, "in use by "+u.String()
			break
		}
		if theirs(&it, rev.Dir) {
			break
		}
		it.Reason, it.Detail = ReasonOld, fmt.Sprintf("older than the %d newest", in.Keep)
		if !it.LastUse.IsZero() {
			it.Detail += fmt.Sprintf(", last used %s ago", ago(now, it.LastUse))
		}
		it.Bytes = rev.Bytes()
		if hasKey {
			pl.goneKeys[k] = true
		}
		pl.sweep.Remove = append(pl.sweep.Remove, it)
		return nil
	}
	pl.reference(rev)
	pl.sweep.Kept = append(pl.sweep.Kept, it)
	return nil
}

// planEntries decides the store entries: every one, or when containers
// were asked for, only those their removed revisions used.
func (pl *planner) planEntries(ctx context.Context) error {
	keys, err := pl.root.Entries()
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		if !pl.all && !pl.goneKeys[k] {
			continue
		}
		if err := pl.decideEntry(k); err != nil {
			return err
		}
	}
	return nil
}

// decideEntry keeps an entry a kept revision uses, one used recently or
// one a running process holds; otherwise it goes.
func (pl *planner) decideEntry(k cas.Key) error {
	in, now, store := pl.in, pl.now, pl.store
	it := Item{Kind: KindEntry, Name: k.String(), key: k}
	it.LastUse = pl.entryLastUse(k)
	it.Bytes = store.EntryBytes(k)
	if users := pl.refs[k]; len(users) > 0 {
		it.Reason, it.Detail = ReasonReferenced, "used by "+list(users)
		pl.sweep.Kept = append(pl.sweep.Kept, it)
		return nil
	}
	if in.OlderThan > 0 && !it.LastUse.IsZero() && now.Sub(it.LastUse) < in.OlderThan {
		it.Reason, it.Detail = ReasonRecent, fmt.Sprintf("no kept revision uses it, but it was used %s ago, within --older-than %s", ago(now, it.LastUse), span(in.OlderThan))
		pl.sweep.Kept = append(pl.sweep.Kept, it)
		return nil
	}
	busy, err := store.InUse(k)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if busy {
		it.Reason, it.Detail = ReasonInUse, "no kept revision uses it, but it is in use by a running process"
		pl.sweep.Kept = append(pl.sweep.Kept, it)
		return nil
	}
	if u, ok := pl.roots.Entry(k); ok {
		it.Reason, it.Detail = ReasonInUse, "no kept revision uses it, but it is in use by "+u.String()
		pl.sweep.Kept = append(pl.sweep.Kept, it)
		return nil
	}
	if theirs(&it, pl.root.EntryDir(k)) {
		pl.sweep.Kept = append(pl.sweep.Kept, it)
		return nil
	}
	it.Reason, it.Detail = ReasonUnreferenced, "no kept revision uses it"
	if !it.LastUse.IsZero() {
		it.Detail += fmt.Sprintf("; last used %s ago", ago(now, it.LastUse))
	}
	it.Detail += "; its lock file goes with it"
	pl.sweep.Remove = append(pl.sweep.Remove, it)
	return nil
}

// planTmp decides the build staging and trash dirs in .tmp: only when
// the whole root is collected.
func (pl *planner) planTmp(context.Context) error {
	if !pl.all {
		return nil
	}
	left, err := pl.root.TmpLeftovers()
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, l := range left {
		pl.leftover(l)
	}
	return nil
}

// planLocks decides the lock files of builds not in the store (a failed
// first build, a removal that could not unlink one): they go once nobody
// holds them and they are older than Grace. Only when the whole root is
// collected.
func (pl *planner) planLocks(ctx context.Context) error {
	if !pl.all || !fsx.CanUnlinkLocks {
		return nil // Windows: a lock file cannot be removed while held
	}
	locks, err := pl.root.OrphanLocks()
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	p, now := pl.sweep, pl.now
	for _, l := range locks {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		it := Item{Kind: KindLock, Name: l.Key.String(), LastUse: l.ModTime, key: l.Key}
		busy, err := pl.store.InUse(l.Key)
		if err != nil || busy {
			// Unsure counts as busy, as for staging dirs.
			it.Reason, it.Detail = ReasonInUse, "lock of a build not in the store, held by a process: a build runs"
			p.Kept = append(p.Kept, it)
			continue
		}
		if age := now.Sub(l.ModTime); age < p.in.Grace {
			it.Reason, it.Detail = ReasonGrace, fmt.Sprintf("lock of a build not in the store, used %s ago: a build may be starting (grace %s)", span(age), span(p.in.Grace))
			p.Kept = append(p.Kept, it)
			continue
		}
		if theirs(&it, pl.root.LockPath(l.Key)) {
			p.Kept = append(p.Kept, it)
			continue
		}
		it.Reason, it.Detail = ReasonNoBuild, fmt.Sprintf("lock of a build not in the store (a failed first build, or a removed one), last used %s ago", ago(now, l.ModTime))
		p.Remove = append(p.Remove, it)
	}
	return nil
}

// entryLastUse is an entry's use-stamp, read once per key; zero when it
// has none.
func (pl *planner) entryLastUse(k cas.Key) time.Time {
	if t, ok := pl.lastUse[k]; ok {
		return t
	}
	t, err := pl.store.LastUse(k)
	if err != nil {
		t = time.Time{} // no stamp: the age rules treat it as unknown
	}
	pl.lastUse[k] = t
	return t
}

// pin records the archive rev pins (its remote revision.json's
// "archive"), which stays in the cache whatever the key's entry names.
func (pl *planner) pin(rev *materialize.Revision, who string) {
	if e := rev.Pin(); e != nil {
		pl.pinIndex(*e, who)
		if pl.pinned == nil {
			pl.pinned = map[cas.Digest]string{}
		}
		if _, seen := pl.pinned[e.Digest]; !seen {
			pl.pinned[e.Digest] = who
		}
	}
}

// nameInCache records that who names cache key k, keeping the first.
func (pl *planner) nameInCache(k cas.Key, who string) {
	if _, seen := pl.cacheRefs[k]; !seen {
		pl.cacheRefs[k] = who
	}
}

// reference records what a kept local revision protects: its entry, and
// the cache keys of its entry here and of the remote revision it mirrors.
func (pl *planner) reference(rev *materialize.Revision) {
	if !rev.Ready() {
		return
	}
	who := rev.Container + "/" + rev.Name
	pl.pin(rev, who)
	if k, ok := rev.Key(); ok {
		pl.refs[k] = append(pl.refs[k], who)
		pl.nameInCache(k, who)
	}
	if k, ok := rev.RemoteKey(); ok {
		pl.nameInCache(k, who)
	}
}

// notReady plans a revision without revision.json: abandoned once it is
// older than the grace, being written until then.
func (pl *planner) notReady(rev *materialize.Revision) {
	p, now := pl.sweep, pl.now
	it := Item{Kind: KindRevision, Container: rev.Container, Name: rev.Name, rev: rev}
	it.LastUse = published(rev)
	if age := now.Sub(it.LastUse); age < p.in.Grace {
		it.Reason, it.Detail = ReasonGrace, fmt.Sprintf("not ready, %s old: it may still be being written (grace %s)", span(age), span(p.in.Grace))
		p.Kept = append(p.Kept, it)
		return
	}
	// The Python rezup installs into the revision itself, taking no lock,
	// for as long as pip takes.
	if u, ok := pl.roots.Revision(rev); ok {
		it.Reason, it.Detail = ReasonInUse, "not ready, and in use by "+u.String()
		p.Kept = append(p.Kept, it)
		return
	}
	it.Reason, it.Detail, it.Bytes = ReasonNotReady, fmt.Sprintf("not ready for %s: abandoned", ago(now, it.LastUse)), rev.Bytes()
	p.Remove = append(p.Remove, it)
}

// leftover plans a staging or trash directory.
func (pl *planner) leftover(l materialize.Leftover) {
	p, now := pl.sweep, pl.now
	it := Item{Kind: KindStaging, Container: l.Container, Name: l.Name, LastUse: l.ModTime, left: l}
	switch l.Kind {
	case materialize.LeftoverTrash:
		it.Kind, it.Reason, it.Detail = KindTrash, ReasonTrash, "left by an interrupted removal"
	case materialize.LeftoverStaging:
		it.Key = l.Key.String()
		busy, err := p.in.Store.InUse(l.Key)
		if err != nil || busy {
			// Unsure counts as busy: the next builder of the key clears it.
			it.Reason, it.Detail = ReasonInUse, "a process holds the lock of its build"
			p.Kept = append(p.Kept, it)
			return
		}
		it.Reason, it.Detail = ReasonStale, "staging dir of a build or fetch that is not running"
	case materialize.LeftoverRevisionStaging:
		if age := now.Sub(l.ModTime); age < p.in.Grace {
			it.Reason, it.Detail = ReasonGrace, fmt.Sprintf("revision being written %s ago (grace %s)", span(age), span(p.in.Grace))
			p.Kept = append(p.Kept, it)
			return
		}
		it.Reason, it.Detail = ReasonStale, fmt.Sprintf("revision staging dir untouched for %s", ago(now, l.ModTime))
	case materialize.LeftoverScratch:
		if age := now.Sub(l.ModTime); age < p.in.Grace {
			it.Reason, it.Detail = ReasonGrace, fmt.Sprintf("scratch dir made %s ago: its build may still run (grace %s)", span(age), span(p.in.Grace))
			p.Kept = append(p.Kept, it)
			return
		}
		it.Reason, it.Detail = ReasonStale, fmt.Sprintf("scratch dir of a build or resolution untouched for %s", ago(now, l.ModTime))
	case materialize.LeftoverRefused:
		if now.Sub(l.ModTime) < materialize.RefusedTTL {
			return // still meant: too small to list as kept
		}
		it.Reason, it.Detail = ReasonStale, fmt.Sprintf("mark of a refused cache archive, expired %s ago", ago(now, l.ModTime.Add(materialize.RefusedTTL)))
	default:
		return
	}
	it.Bytes = l.Bytes()
	if theirs(&it, l.Path) {
		p.Kept = append(p.Kept, it)
		return
	}
	p.Remove = append(p.Remove, it)
}

// theirs keeps it, saying whose it is, when path belongs to another
// account: rezup removes only what the caller owns (fsx.ErrNotOwner), and
// what another member of a group-shared root made is that member's, or
// root's, to remove. One lstat; Execute finds what another account owns
// further down.
func theirs(it *Item, path string) bool {
	err := fsx.CheckOwner(path)
	if err == nil {
		return false
	}
	it.Reason, it.Detail = ReasonOtherAccount, err.Error()+": only it, or root, removes it"
	return true
}

// planCache decides each cache key: it stays while a revision names it or
// while it is younger than the grace.
func (pl *planner) planCache(ctx context.Context) error {
	c := pl.in.Cache
	if c == nil {
		return nil
	}
	keys, err := c.Keys(ctx)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, ki := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		kept, err := pl.decideCacheKey(ctx, ki)
		if err != nil {
			return err
		}
		if kept {
			pl.planArchives(ctx, ki.Key)
			pl.planIndexes(ctx, ki.Key)
		}
	}
	return pl.planPacks(ctx)
}

// decideCacheKey keeps or removes one cache key, and reports whether it
// stays.
func (pl *planner) decideCacheKey(ctx context.Context, ki cache.KeyInfo) (kept bool, err error) {
	p, now, c := pl.sweep, pl.now, pl.in.Cache
	k := ki.Key
	it := Item{Kind: KindCache, Name: k.String(), key: k}
	e, lerr := c.Lookup(ctx, k)
	if lerr == nil {
		it.Bytes, it.LastUse = e.Size, e.Created
	}
	if who, ok := pl.cacheRefs[k]; ok {
		it.Reason, it.Detail = ReasonReferenced, "named by "+who
		p.Kept = append(p.Kept, it)
		return true, nil
	}
	if lerr != nil {
		if err := ctx.Err(); err != nil {
			return false, fmt.Errorf("gc: %w", err)
		}
		// No readable entry: a publish in flight, or one that
		// crashed, aged by when anything was last stored for it.
		it.LastUse = ki.Modified
		if it.LastUse.IsZero() || !errors.Is(lerr, cache.ErrNotFound) {
			it.Reason, it.Detail = ReasonUnknownAge, "no readable entry.json, and its age cannot be told"
			p.Kept = append(p.Kept, it)
			return true, nil
		}
	}
	if age := now.Sub(it.LastUse); age < p.in.CacheGrace {
		it.Reason, it.Detail = ReasonGrace, fmt.Sprintf("no revision names it, but it was published %s ago (grace %s)", span(age), span(p.in.CacheGrace))
		p.Kept = append(p.Kept, it)
		return true, nil
	}
	it.Reason, it.Detail = ReasonUnreferenced, fmt.Sprintf("no revision names it; published %s ago", ago(now, it.LastUse))
	if lerr != nil {
		it.Detail = fmt.Sprintf("no revision names it, and it was left uncommitted %s ago", ago(now, it.LastUse))
	}
	p.Remove = append(p.Remove, it)
	return false, nil
}

// planArchives decides the archives of a cache key that stays: those its
// entry.json does not name (the losers of concurrent publishes of the
// key, or what a replaced bad entry named) go once older than CacheGrace,
// unless a revision pins their digest. The named archive goes only with
// its key. A key whose archives cannot be listed is left with a warning.
func (pl *planner) planArchives(ctx context.Context, k cas.Key) {
	p, now := pl.sweep, pl.now
	// Junk in the lease's name space (a planted lease.18446744073709551615)
	// is honoured by no rezup: it goes, whatever its age.
	junk, err := pl.in.Cache.JunkLeases(ctx, k)
	if err != nil {
		p.warnf("leases of cache key %s are left alone: %v", k, err)
	}
	for _, o := range junk {
		p.Remove = append(p.Remove, Item{Kind: KindLease, Name: o.Name, Key: k.String(), Bytes: o.Size, LastUse: o.ModTime, key: k,
			Reason: ReasonJunk, Detail: "named as a build lease, but no generation rezup writes: no node honours it"})
	}
	archives, err := pl.in.Cache.Archives(ctx, k)
	if err != nil {
		p.warnf("archives of cache key %s are left alone: %v", k, err)
		return
	}
	for _, a := range archives {
		if a.Named {
			continue // the cache key's item covers it
		}
		it := Item{Kind: KindArchive, Name: a.Digest.String(), Key: k.String(), Bytes: a.Size, LastUse: a.Modified, key: k, digest: a.Digest}
		switch who, pinned := pl.pinned[a.Digest]; {
		case pinned:
			it.Reason, it.Detail = ReasonPinned, "its entry names another archive, but "+who+" pins it"
		case now.Sub(a.Modified) < p.in.CacheGrace:
			it.Reason, it.Detail = ReasonGrace, fmt.Sprintf("its entry names another archive, but it was stored %s ago: its publish may still be committing (grace %s)", ago(now, a.Modified), span(p.in.CacheGrace))
		default:
			it.Reason, it.Detail = ReasonUnnamed, fmt.Sprintf("its entry names another archive (a lost race of two publishes); stored %s ago", ago(now, a.Modified))
			p.Remove = append(p.Remove, it)
			continue
		}
		p.Kept = append(p.Kept, it)
	}
}

func (p *Sweep) warnf(format string, args ...any) {
	p.Warnings = append(p.Warnings, fmt.Sprintf(format, args...))
}

// published is when a revision appeared: the later of its name and its
// directory's mtime (a pulled mirror keeps its remote timestamp as name).
func published(rev *materialize.Revision) time.Time {
	t := rev.Time
	if mt, err := rev.ModTime(); err == nil && mt.After(t) {
		t = mt
	}
	return t
}

var kindOrder = map[Kind]int{KindRevision: 0, KindEntry: 1, KindStaging: 2, KindTrash: 3, KindLock: 4, KindObjects: 5, KindCache: 6, KindArchive: 7, KindLease: 8}

// sortItems orders items the way Execute removes them: revisions before
// the entries they used, then leftovers, then the cache.
func sortItems(items []Item) {
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if kindOrder[a.Kind] != kindOrder[b.Kind] {
			return kindOrder[a.Kind] < kindOrder[b.Kind]
		}
		if a.Container != b.Container {
			return a.Container < b.Container
		}
		return a.Name < b.Name
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// list names the first user and how many more there are.
func list(users []string) string {
	if len(users) == 1 {
		return users[0]
	}
	return fmt.Sprintf("%s and %d more", users[0], len(users)-1)
}

func ago(now, t time.Time) string { return span(now.Sub(t)) }

// span prints a duration the way people say it: 40s, 12m, 5h, 3d.
func span(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		if m := int(d % time.Hour / time.Minute); m != 0 {
			return fmt.Sprintf("%dh%dm", int(d/time.Hour), m)
		}
		return fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}
