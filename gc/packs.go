package gc

import (
	"context"
	"errors"
	"fmt"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
)

// The shared cache's file-level format (cas/cache/files.go): each key's
// indexes, <cache>/<key>/<digest>.index, and the packs every key shares,
// <cache>/packs/<2 hex>/<digest>.pack.
//
//   - An index of a kept key that its entry.json does not name (a lost
//     race of two publishes, a publish that crashed before it committed)
//     goes once older than CacheGrace, unless a revision pins it; the
//     named one goes only with its key, which removes all its indexes.
//   - A pack goes once older than CacheGrace and no index of a kept key
//     names it, named or not, nor an index a revision pins. An index that
//     cannot be read might name any pack: then no pack goes (a warning
//     says which index). A pack named only by an index this run removes
//     goes on the next run.
//   - Before the first pack goes, Execute lists the cache's indexes again
//     and reads those the plan did not: a publish puts its index before
//     its packs, so one in flight, or a key whose removal was skipped,
//     keeps what it names.

// Kinds of the file-level format, removed after the other cache items.
const (
	KindIndex Kind = "index" // <cache>/<key>/<digest>.index its entry does not name
	KindPack  Kind = "pack"  // <cache>/packs/<2 hex>/<digest>.pack no kept index names
)

// After the archives and leases, whatever kinds come before them.
func init() {
	kindOrder[KindIndex], kindOrder[KindPack] = kindOrder[KindLease]+1, kindOrder[KindLease]+2
}

// indexRef names one index in the cache.
type indexRef struct {
	key    cas.Key
	digest cas.Digest
}

// pinnedIndex is an index a revision pins, and who.
type pinnedIndex struct {
	size int64
	who  string
}

// packNames is which packs a set of indexes name.
type packNames struct {
	read  map[indexRef]bool     // the indexes read, or tried
	names map[cas.Digest]string // pack -> who names it (the first index read)
	// unreadable, when not "", is an index that could not be read: it
	// might name any pack.
	unreadable string
}

func newPackNames() *packNames {
	return &packNames{read: map[indexRef]bool{}, names: map[cas.Digest]string{}}
}

// readIndex reads one index and records the packs it names. An index
// gone since it was listed names nothing; one that cannot be read marks
// every pack as possibly named, and reports why.
func (n *packNames) readIndex(ctx context.Context, c *cache.Cache, ref indexRef, size int64) error {
	if n.read[ref] {
		return nil
	}
	n.read[ref] = true
	ix, err := c.ReadIndex(ctx, ref.key, ref.digest, size)
	switch {
	case errors.Is(err, cache.ErrNotFound):
		return nil
	case err != nil:
		if n.unreadable == "" {
			n.unreadable = fmt.Sprintf("index %s of cache key %s cannot be read", ref.digest, ref.key)
		}
		return err
	}
	who := "index " + ref.digest.String() + " of " + ref.key.String()
	for _, p := range ix.Packs {
		if _, seen := n.names[p.Digest]; !seen {
			n.names[p.Digest] = who
		}
	}
	return nil
}

// filesPlan is the sweep's state for the file-level format.
type filesPlan struct {
	pins  map[indexRef]pinnedIndex
	named *packNames // what the indexes read at plan time name
}

// pinIndex records the index a pin names (Format FormatFiles), which stays
// whatever the key's entry names, and whose packs stay too.
func (pl *planner) pinIndex(e cache.Entry, who string) {
	if !e.HasIndex() {
		return
	}
	fp := &pl.sweep.files
	if fp.pins == nil {
		fp.pins = map[indexRef]pinnedIndex{}
	}
	ref := indexRef{e.Key, e.Index}
	if _, seen := fp.pins[ref]; !seen {
		fp.pins[ref] = pinnedIndex{size: e.IndexSize, who: who}
	}
}

func (fp *filesPlan) names() *packNames {
	if fp.named == nil {
		fp.named = newPackNames()
	}
	return fp.named
}

// planIndexes reads every index of a kept cache key, named or not, for
// the packs it names, and decides the unnamed ones as planArchives does
// the archives.
func (pl *planner) planIndexes(ctx context.Context, k cas.Key) {
	p, now, c := pl.sweep, pl.now, pl.in.Cache
	named := p.files.names()
	ixs, err := c.Indexes(ctx, k)
	if err != nil {
		if named.unreadable == "" {
			named.unreadable = fmt.Sprintf("the indexes of cache key %s cannot be listed", k)
		}
		p.warnf("indexes of cache key %s are left alone, and so are all packs: %v", k, err)
		return
	}
	for _, x := range ixs {
		ref := indexRef{k, x.Digest}
		if err := named.readIndex(ctx, c, ref, x.Size); err != nil {
			p.warnf("packs are left alone: %v", err)
		}
		if x.Named {
			continue // the cache key's item covers it
		}
		it := Item{Kind: KindIndex, Name: x.Digest.String(), Key: k.String(), Bytes: x.Size, LastUse: x.Modified, key: k, digest: x.Digest}
		switch pin, pinned := p.files.pins[ref]; {
		case pinned:
			it.Reason, it.Detail = ReasonPinned, "its entry names another index, but "+pin.who+" pins it"
		case now.Sub(x.Modified) < p.in.CacheGrace:
			it.Reason, it.Detail = ReasonGrace, fmt.Sprintf("its entry names another index, but it was stored %s ago: its publish may still be committing (grace %s)", ago(now, x.Modified), span(p.in.CacheGrace))
		default:
			it.Reason, it.Detail = ReasonUnnamed, fmt.Sprintf("its entry names another index (a lost race of two publishes, or one that never committed); stored %s ago", ago(now, x.Modified))
			p.Remove = append(p.Remove, it)
			continue
		}
		p.Kept = append(p.Kept, it)
	}
}

// planPacks decides every pack of the cache, once the kept keys' indexes
// are read: it also reads the pinned indexes not read yet.
func (pl *planner) planPacks(ctx context.Context) error {
	p, now, c := pl.sweep, pl.now, pl.in.Cache
	named := p.files.names()
	for ref, pin := range p.files.pins {
		if err := named.readIndex(ctx, c, ref, pin.size); err != nil {
			p.warnf("packs are left alone: %v", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	packs, err := c.Packs(ctx)
	if err != nil {
		p.warnf("packs are left alone: %v", err)
		return nil
	}
	for _, pk := range packs {
		it := Item{Kind: KindPack, Name: pk.Digest.String(), Bytes: pk.Size, LastUse: pk.Modified, digest: pk.Digest}
		switch who, ok := named.names[pk.Digest]; {
		case ok:
			it.Reason, it.Detail = ReasonReferenced, "named by "+who
		case now.Sub(pk.Modified) < p.in.CacheGrace:
			it.Reason, it.Detail = ReasonGrace, fmt.Sprintf("no index names it, but it was stored %s ago: its publish may still be under way (grace %s)", ago(now, pk.Modified), span(p.in.CacheGrace))
		case named.unreadable != "":
			it.Reason, it.Detail = ReasonUnreadable, "no index read names it, but "+named.unreadable+", and it might"
		default:
			it.Reason, it.Detail = ReasonUnreferenced, fmt.Sprintf("no index of a kept key names it; stored %s ago", ago(now, pk.Modified))
			p.Remove = append(p.Remove, it)
			continue
		}
		p.Kept = append(p.Kept, it)
	}
	return nil
}

// namedNow lists the cache's indexes again and reads those the plan did
// not read (a publish since, a key whose removal was skipped): the packs
// they name are added to what the plan's indexes name.
func (p *Sweep) namedNow(ctx context.Context) (*packNames, error) {
	c := p.in.Cache
	planned := p.files.names()
	now := &packNames{read: planned.read, names: map[cas.Digest]string{}, unreadable: planned.unreadable}
	keys, err := c.Keys(ctx)
	if err != nil {
		return nil, err
	}
	for _, ki := range keys {
		ixs, err := c.Indexes(ctx, ki.Key)
		if err != nil {
			return nil, err
		}
		for _, x := range ixs {
			if err := now.readIndex(ctx, c, indexRef{ki.Key, x.Digest}, x.Size); err != nil && ctx.Err() != nil {
				return nil, err
			}
		}
	}
	return now, nil
}

// filesCheck is what Execute reads again before the first pack goes.
type filesCheck struct {
	named *packNames
	err   error
}

// removeFiles checks an index or a pack again and removes it.
func (x *executor) removeFiles(ctx context.Context, it Item) (Reason, string, error) {
	c := x.sweep.in.Cache
	if it.Kind == KindIndex {
		err := c.RemoveIndex(ctx, it.key, it.digest)
		if errors.Is(err, cache.ErrNamed) {
			return ReasonReferenced, "its entry names it now", nil
		}
		return "", "", err
	}
	fc := &x.files
	if fc.named == nil && fc.err == nil {
		fc.named, fc.err = x.sweep.namedNow(ctx)
	}
	switch {
	case fc.err != nil:
		return ReasonUnreadable, "the indexes could not be listed again: " + fc.err.Error(), nil
	case fc.named.names[it.digest] != "":
		return ReasonReferenced, "named by " + fc.named.names[it.digest] + ", stored since the plan", nil
	case fc.named.unreadable != "":
		return ReasonUnreadable, fc.named.unreadable + ", and it might name it", nil
	}
	return "", "", c.RemovePack(ctx, it.digest)
}
