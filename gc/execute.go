package gc

import (
	"context"
	"errors"
	"fmt"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/materialize"
)

// Result is what Execute did.
type Result struct {
	// Removed lists what went.
	Removed []Item
	// Skipped lists what the plan removed but was kept when it came to
	// it, with the reason: in use since the plan, used by a revision added
	// since, republished to the cache since, or the latest revision after
	// all.
	Skipped []Item
	// Bytes is what was freed.
	Bytes int64
}

// Execute removes what the sweep lists, in order: revisions, then the
// entries they used, then leftovers, then cache keys. It checks each item
// again just before removing it, under the same locks, so that what
// changed since the plan is skipped rather than broken: an entry is only
// removed under LOCK_EX|LOCK_NB, renamed into .tmp, then deleted.
//
// It goes on after a failed item and returns every failure joined; Result
// is complete either way. Hold the root's gc lock (Lock) while it runs.
func (p *Sweep) Execute(ctx context.Context) (*Result, error) {
	store := p.in.Store
	root := store.Root()
	res := &Result{}
	var errs []error
	latest := map[string]string{}
	var refs map[cas.Key]bool
	var refsErr error
	refsRead := false
	skip := func(it Item, r Reason, detail string) {
		it.Reason, it.Detail = r, detail
		res.Skipped = append(res.Skipped, it)
	}
	for _, it := range p.Remove {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("gc: %w", err))
			break
		}
		var err error
		switch it.Kind {
		case KindRevision:
			if !it.rev.Ready() {
				// Abandoned at plan time; a slow writer may have finished it.
				if now, rerr := root.Revision(it.Container, it.Name); rerr == nil && now.Ready() {
					skip(it, ReasonKept, "became ready since the plan")
					continue
				}
			} else {
				name, ok := latest[it.Container]
				if !ok {
					if l, lerr := root.Latest(it.Container); lerr == nil {
						name = l.Name
					}
					latest[it.Container] = name
				}
				if it.Name == name {
					skip(it, ReasonLatest, "the latest ready revision now")
					continue
				}
			}
			err = store.RemoveRevision(it.rev)
			if errors.Is(err, materialize.ErrInUse) {
				skip(it, ReasonInUse, "built by the Python rezup, and a process started in its venv since the plan")
				continue
			}
		case KindEntry:
			if !refsRead {
				// Revisions added since the plan may use an entry again.
				refs, refsErr = p.usedNow()
				refsRead = true
				if refsErr != nil {
					errs = append(errs, refsErr)
				}
			}
			if refsErr != nil {
				// Without the references no entry is safe to remove.
				skip(it, ReasonReferenced, "the revisions could not be read again")
				continue
			}
			if refs[it.key] {
				skip(it, ReasonReferenced, "a revision made since the plan uses it")
				continue
			}
			if p.OlderThan > 0 {
				if t, lerr := store.LastUse(it.key); lerr == nil && p.Now.Sub(t) < p.OlderThan {
					skip(it, ReasonRecent, "used since the plan")
					continue
				}
			}
			err = store.RemoveEntry(it.key)
			if errors.Is(err, materialize.ErrInUse) {
				skip(it, ReasonInUse, "a process started using it since the plan")
				continue
			}
		case KindStaging, KindTrash:
			err = store.RemoveLeftover(it.left)
			if errors.Is(err, materialize.ErrInUse) {
				skip(it, ReasonInUse, "a build of its key started since the plan")
				continue
			}
		case KindCache:
			if e, lerr := p.in.Cache.Lookup(ctx, it.key); lerr == nil && p.Now.Sub(e.Created) < p.CacheGrace {
				skip(it, ReasonGrace, "published again since the plan")
				continue
			}
			err = p.in.Cache.Remove(ctx, it.key)
		default:
			err = fmt.Errorf("unknown kind %q", it.Kind)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("gc: %s %s: %w", it.Kind, it.Title(), err))
			continue
		}
		res.Removed = append(res.Removed, it)
		res.Bytes += it.Bytes
	}
	return res, errors.Join(errs...)
}

// usedNow are the keys the local revisions use now, and those of the kept
// remote revisions as planned.
func (p *Sweep) usedNow() (map[cas.Key]bool, error) {
	root := p.in.Store.Root()
	names, err := root.Containers()
	if err != nil {
		return nil, fmt.Errorf("gc: list containers: %w", err)
	}
	used := map[cas.Key]bool{}
	for k := range p.remoteKeys {
		used[k] = true
	}
	for _, c := range names {
		revs, err := root.Revisions(c)
		if err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		for _, rev := range revs {
			if k, ok := rev.Key(); ok {
				used[k] = true
			}
		}
	}
	return used, nil
}
