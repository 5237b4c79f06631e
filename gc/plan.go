package gc

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rezup/rezup/cas"
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
var ErrNoContainer = errors.New("no such container")

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
	Cache cas.Cache
	// CacheGrace is how old an unreferenced cache key must be to go.
	CacheGrace time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// KeyTimer is implemented by caches that can tell when anything was last
// written under a key, committed or not. Plan ages the keys that have no
// readable entry.json with it (a publish in flight, or one that crashed);
// with a cache that does not implement it, those keys stay.
type KeyTimer interface {
	KeyTime(ctx context.Context, key cas.Key) (time.Time, error)
}

// Kind is what an Item is.
type Kind string

// Kinds of items, in the order Execute removes them.
const (
	KindRevision Kind = "revision" // <container>/revisions/<timestamp>
	KindEntry    Kind = "entry"    // .store/<key>
	KindStaging  Kind = "staging"  // .tmp/<key>-*, <container>/revisions/.staging-*
	KindTrash    Kind = "trash"    // .tmp/trash-*
	KindCache    Kind = "cache"    // <cache>/<key>
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
)

// Why an item stays.
const (
	ReasonLatest     Reason = "latest"      // the latest ready revision of its container
	ReasonKept       Reason = "kept"        // one of the Keep newest
	ReasonRemote     Reason = "remote"      // mirrors, or is used by, a kept remote revision
	ReasonRecent     Reason = "recent"      // used within OlderThan
	ReasonInUse      Reason = "in-use"      // a process holds its lock
	ReasonReferenced Reason = "referenced"  // a kept revision uses it
	ReasonGrace      Reason = "grace"       // younger than Grace or CacheGrace
	ReasonUnknownAge Reason = "unknown-age" // a cache key whose age cannot be told
	ReasonUnreadable Reason = "unreadable"  // a revision whose revision.json cannot be read
)

// Item is one thing a plan removes or keeps.
type Item struct {
	Kind      Kind   `json:"kind"`
	Container string `json:"container,omitempty"`
	// Name is the revision's timestamp, the entry's or cache key's key,
	// or the staging or trash directory's name.
	Name string `json:"name"`
	// Key is the store key a revision uses, or a staging dir is for.
	Key   string `json:"key,omitempty"`
	Bytes int64  `json:"bytes"`
	// Reason is why it goes (in remove) or stays (in kept, skipped).
	Reason Reason `json:"reason"`
	// Detail says the same for people.
	Detail string `json:"detail"`
	// LastUse is an entry's last use, a revision's estimated last use, a
	// cache key's publication or a leftover's mtime, when known.
	LastUse time.Time `json:"last_use,omitzero"`

	rev  *materialize.Revision
	left materialize.Leftover
	key  cas.Key
}

// Title is how the item is named for people: container/revision, or the
// name alone.
func (it Item) Title() string {
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
func Plan(ctx context.Context, in PlanInput) (*Sweep, error) {
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
	store := in.Store
	root := store.Root()
	now := in.Now()
	p := &Sweep{Root: root.Dir, Now: now, Keep: in.Keep, OlderThan: in.OlderThan, in: in, remoteKeys: map[cas.Key]bool{}}
	if in.Cache != nil {
		p.Cache, p.CacheGrace = in.Cache.String(), in.CacheGrace
	}

	names, err := root.Containers()
	if err != nil {
		return nil, fmt.Errorf("gc: list containers: %w", err)
	}
	selected := map[string]bool{}
	for _, n := range in.Containers {
		if !contains(names, n) {
			return nil, fmt.Errorf("gc: container %s in %s: %w", n, root.Dir, ErrNoContainer)
		}
		selected[n] = true
	}
	all := len(in.Containers) == 0

	// The remote root: its kept revisions (the same Keep rule) protect
	// what mirrors them here; every remote revision's key protects its
	// cache key.
	remoteKept := map[string]bool{}   // container/name
	cacheRefs := map[cas.Key]string{} // cache key -> who names it
	refs := map[cas.Key][]string{}    // local entry -> kept users
	if in.Remote != nil {
		p.Remote = in.Remote.Dir
		keyless := 0
		rnames, err := in.Remote.Containers()
		if err != nil {
			return nil, fmt.Errorf("gc: list remote containers: %w", err)
		}
		for _, c := range rnames {
			revs, err := in.Remote.Revisions(c)
			if err != nil {
				return nil, fmt.Errorf("gc: remote: %w", err)
			}
			n := 0
			for _, rev := range revs {
				if !rev.Ready() {
					continue
				}
				who := "remote revision " + c + "/" + rev.Name
				k, ok := rev.Key()
				if !ok {
					keyless++
				} else if _, seen := cacheRefs[k]; !seen {
					cacheRefs[k] = who
				}
				if n < in.Keep {
					remoteKept[c+"/"+rev.Name] = true
					if ok {
						refs[k] = append(refs[k], who)
						p.remoteKeys[k] = true
					}
				}
				n++
			}
		}
		if keyless > 0 && in.Cache != nil {
			p.warnf("%d remote revision(s) name no key (written by the Python rezup): the cache keys of their builds are not protected by them, only by the grace period", keyless)
		}
	}

	// Local revisions, newest first per container.
	lastUse := map[cas.Key]time.Time{}
	entryLastUse := func(k cas.Key) (time.Time, bool) {
		if t, ok := lastUse[k]; ok {
			return t, !t.IsZero()
		}
		t, err := store.LastUse(k)
		if err != nil {
			t = time.Time{}
		}
		lastUse[k] = t
		return t, !t.IsZero()
	}
	goneKeys := map[cas.Key]bool{} // keys of the revisions that go
	for _, c := range names {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		revs, err := root.Revisions(c)
		if err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		if !all && !selected[c] {
			for _, rev := range revs {
				p.reference(refs, cacheRefs, rev)
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
				p.Kept = append(p.Kept, Item{Kind: KindRevision, Container: c, Name: rev.Name, Reason: ReasonUnreadable, Detail: rev.Err.Error(), rev: rev})
				p.warnf("revision %s of %s is kept: %v; fix or remove it", rev.Name, c, rev.Err)
				continue
			}
			if !rev.Ready() {
				p.notReady(rev, now)
				continue
			}
			it := Item{Kind: KindRevision, Container: c, Name: rev.Name, Key: rev.Meta.Key, rev: rev}
			k, hasKey := rev.Key()
			// Launches pick the latest revision only, so this one was last
			// launched no later than when the next one replaced it.
			if hasKey {
				it.LastUse, _ = entryLastUse(k)
			} else if t, ok := store.RevisionLastUse(rev); ok {
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
			case remoteKept[c+"/"+rev.Name]:
				it.Reason, it.Detail = ReasonRemote, "mirrors a kept revision of the remote root"
			case in.OlderThan > 0 && !it.LastUse.IsZero() && now.Sub(it.LastUse) < in.OlderThan:
				it.Reason, it.Detail = ReasonRecent, fmt.Sprintf("last used %s ago, within --older-than %s", ago(now, it.LastUse), span(in.OlderThan))
			default:
				// A revision the Python rezup built holds the venv its
				// jobs run in: it stays while one runs.
				busy, err := store.RevisionInUse(rev)
				if err != nil {
					return nil, fmt.Errorf("gc: %w", err)
				}
				if busy {
					it.Reason, it.Detail = ReasonInUse, "built by the Python rezup, and a process runs in its venv"
					p.reference(refs, cacheRefs, rev)
					p.Kept = append(p.Kept, it)
					prev, n = rev, n+1
					continue
				}
				it.Reason, it.Detail = ReasonOld, fmt.Sprintf("older than the %d newest", in.Keep)
				if !it.LastUse.IsZero() {
					it.Detail += fmt.Sprintf(", last used %s ago", ago(now, it.LastUse))
				}
				it.Bytes = rev.Bytes()
				if hasKey {
					goneKeys[k] = true
				}
				p.Remove = append(p.Remove, it)
				prev, n = rev, n+1
				continue
			}
			p.reference(refs, cacheRefs, rev)
			p.Kept = append(p.Kept, it)
			prev, n = rev, n+1
		}
		staging, err := root.RevisionStaging(c)
		if err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		for _, l := range staging {
			p.leftover(l, now)
		}
	}

	// Store entries: every one, or with Containers only those the removed
	// revisions used.
	keys, err := root.Entries()
	if err != nil {
		return nil, fmt.Errorf("gc: %w", err)
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		if !all && !goneKeys[k] {
			continue
		}
		it := Item{Kind: KindEntry, Name: k.String(), key: k}
		it.LastUse, _ = entryLastUse(k)
		if users := refs[k]; len(users) > 0 {
			it.Reason, it.Detail, it.Bytes = ReasonReferenced, "used by "+list(users), store.EntryBytes(k)
			p.Kept = append(p.Kept, it)
			continue
		}
		if in.OlderThan > 0 && !it.LastUse.IsZero() && now.Sub(it.LastUse) < in.OlderThan {
			it.Reason, it.Detail, it.Bytes = ReasonRecent, fmt.Sprintf("no kept revision uses it, but it was used %s ago, within --older-than %s", ago(now, it.LastUse), span(in.OlderThan)), store.EntryBytes(k)
			p.Kept = append(p.Kept, it)
			continue
		}
		busy, err := store.InUse(k)
		if err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		it.Bytes = store.EntryBytes(k)
		if busy {
			it.Reason, it.Detail = ReasonInUse, "no kept revision uses it, but it is in use by a running process"
			p.Kept = append(p.Kept, it)
			continue
		}
		it.Reason, it.Detail = ReasonUnreferenced, "no kept revision uses it"
		if !it.LastUse.IsZero() {
			it.Detail += fmt.Sprintf("; last used %s ago", ago(now, it.LastUse))
		}
		p.Remove = append(p.Remove, it)
	}

	// Build staging and trash in .tmp: only when the whole root is
	// collected.
	if all {
		left, err := root.TmpLeftovers()
		if err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		for _, l := range left {
			p.leftover(l, now)
		}
	}

	if in.Cache != nil {
		if err := p.planCache(ctx, cacheRefs, now); err != nil {
			return nil, err
		}
	}
	sortItems(p.Remove)
	sortItems(p.Kept)
	return p, nil
}

// reference records what a kept local revision protects: its entry, and
// the cache keys of its entry here and of the remote revision it mirrors.
func (p *Sweep) reference(refs map[cas.Key][]string, cacheRefs map[cas.Key]string, rev *materialize.Revision) {
	if !rev.Ready() {
		return
	}
	who := rev.Container + "/" + rev.Name
	if k, ok := rev.Key(); ok {
		refs[k] = append(refs[k], who)
		if _, seen := cacheRefs[k]; !seen {
			cacheRefs[k] = who
		}
	}
	if k, ok := rev.RemoteKey(); ok {
		if _, seen := cacheRefs[k]; !seen {
			cacheRefs[k] = who
		}
	}
}

// notReady plans a revision without revision.json: abandoned once it is
// older than the grace, being written until then.
func (p *Sweep) notReady(rev *materialize.Revision, now time.Time) {
	it := Item{Kind: KindRevision, Container: rev.Container, Name: rev.Name, rev: rev}
	it.LastUse = published(rev)
	if age := now.Sub(it.LastUse); age < p.in.Grace {
		it.Reason, it.Detail = ReasonGrace, fmt.Sprintf("not ready, %s old: it may still be being written (grace %s)", span(age), span(p.in.Grace))
		p.Kept = append(p.Kept, it)
		return
	}
	it.Reason, it.Detail, it.Bytes = ReasonNotReady, fmt.Sprintf("not ready for %s: abandoned", ago(now, it.LastUse)), rev.Bytes()
	p.Remove = append(p.Remove, it)
}

// leftover plans a staging or trash directory.
func (p *Sweep) leftover(l materialize.Leftover, now time.Time) {
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
	default:
		return
	}
	it.Bytes = l.Bytes()
	p.Remove = append(p.Remove, it)
}

// planCache decides each cache key: it stays while a revision names it or
// while it is younger than the grace.
func (p *Sweep) planCache(ctx context.Context, cacheRefs map[cas.Key]string, now time.Time) error {
	c := p.in.Cache
	keys, err := c.Keys(ctx)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, k := range keys {
		it := Item{Kind: KindCache, Name: k.String(), key: k}
		e, lerr := c.Lookup(ctx, k)
		if lerr == nil {
			it.Bytes, it.LastUse = e.Size, e.Created
		}
		if who, ok := cacheRefs[k]; ok {
			it.Reason, it.Detail = ReasonReferenced, "named by "+who
			p.Kept = append(p.Kept, it)
			continue
		}
		if lerr != nil {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("gc: %w", err)
			}
			kt, ok := c.(KeyTimer)
			var terr error
			if ok {
				it.LastUse, terr = kt.KeyTime(ctx, k)
			}
			if !ok || terr != nil || !errors.Is(lerr, cas.ErrNotFound) {
				it.Reason, it.Detail = ReasonUnknownAge, "no readable entry.json, and its age cannot be told"
				p.Kept = append(p.Kept, it)
				continue
			}
		}
		if age := now.Sub(it.LastUse); age < p.in.CacheGrace {
			it.Reason, it.Detail = ReasonGrace, fmt.Sprintf("no revision names it, but it was published %s ago (grace %s)", span(age), span(p.in.CacheGrace))
			p.Kept = append(p.Kept, it)
			continue
		}
		it.Reason, it.Detail = ReasonUnreferenced, fmt.Sprintf("no revision names it; published %s ago", ago(now, it.LastUse))
		if lerr != nil {
			it.Detail = fmt.Sprintf("no revision names it, and it was left uncommitted %s ago", ago(now, it.LastUse))
		}
		p.Remove = append(p.Remove, it)
	}
	return nil
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

var kindOrder = map[Kind]int{KindRevision: 0, KindEntry: 1, KindStaging: 2, KindTrash: 3, KindCache: 4}

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
