package gc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/materialize"
)

// Result is what Execute did.
type Result struct {
	// Removed lists what went.
	Removed []Item
	// Skipped lists what the plan removed but was kept when it came to
	// it, with the reason: in use since the plan, used by a revision added
	// since, republished to the cache since, the latest revision after
	// all, or what this account may not remove (another account's, or
	// where it cannot write).
	Skipped []Item
	// Bytes is what was freed.
	Bytes int64
}

// Execute removes what the sweep lists, in order: revisions, then the
// entries they used (with their lock files), then leftovers and the lock
// files of builds not in the store, then cache keys and unnamed archives. It checks each item
// again just before removing it, under the same locks, so that what
// changed since the plan is skipped rather than broken: an entry is only
// removed under LOCK_EX|LOCK_NB, renamed into .tmp, then deleted, and a
// revision or an entry only while no running process shows it (a look at
// the processes taken before the first such removal, and again whenever
// the last is over a second old).
//
// What this account may not remove is skipped, not failed: another
// account's (ReasonOtherAccount: fsx.ErrNotOwner, found anywhere in the
// tree), and what is where it cannot write (ReasonNotWritable: a
// read-only mount, a directory it may not write). It goes on after a
// failed item and returns every failure joined; Result is complete either
// way. Hold the root's gc lock (Lock) while it runs.
func (p *Sweep) Execute(ctx context.Context) (*Result, error) {
	x := &executor{sweep: p, store: p.in.Store, latest: map[string]string{}}
	res := &Result{}
	for _, it := range p.Remove {
		if err := ctx.Err(); err != nil {
			x.errs = append(x.errs, fmt.Errorf("gc: %w", err))
			break
		}
		reason, detail, err := x.remove(ctx, &it)
		if r, d, ok := cannotRemove(it, err); ok {
			reason, detail, err = r, d, nil
		}
		switch {
		case err != nil:
			x.errs = append(x.errs, fmt.Errorf("gc: %s %s: %w", it.Kind, it.Title(), err))
		case reason != "":
			it.Reason, it.Detail = reason, detail
			res.Skipped = append(res.Skipped, it)
		default:
			res.Removed = append(res.Removed, it)
			res.Bytes += it.Bytes
		}
	}
	return res, errors.Join(x.errs...)
}

// cannotRemove tells a removal this account may not do from a failure:
// what another account owns, or what is where it cannot write. A local
// item only: the cache's errors are the cache's.
func cannotRemove(it Item, err error) (Reason, string, bool) {
	var theirs *fsx.NotOwnerError
	switch {
	case err == nil || it.Kind == KindCache || it.Kind == KindArchive || it.Kind == KindLease || it.Kind == KindIndex || it.Kind == KindPack:
		return "", "", false
	case errors.As(err, &theirs):
		return ReasonOtherAccount, theirs.Error() + ": only it, or root, removes it", true
	case fsx.CannotWrite(err):
		return ReasonNotWritable, "this account cannot remove it: " + err.Error(), true
	}
	return "", "", false
}

// executor is the state Execute keeps across items: the latest revision
// of each container and the keys in use, each read again once, and the
// running processes, looked at again when the last look is older than
// rescanAfter.
type executor struct {
	sweep   *Sweep
	store   *materialize.Store
	latest  map[string]string // container -> its latest ready revision now
	refs    map[cas.Key]bool  // keys the revisions use now (nil: not read yet)
	refsOK  bool
	roots   *materialize.RuntimeRoots
	rootsAt time.Time
	errs    []error
	files   filesCheck // the indexes listed again before the first pack goes (packs.go)
}

// rescanAfter is how old the look at the running processes may be when a
// revision or build is removed: one look serves every removal that
// starts within it (a look costs tens of milliseconds; removing a big
// venv, seconds).
const rescanAfter = time.Second

// runtimeRoots is who uses what of the root now, lock or not: one look
// at the running processes, taken again once it is older than
// rescanAfter (wall time: how fresh the look is, not an age rule).
func (x *executor) runtimeRoots(ctx context.Context) *materialize.RuntimeRoots {
	if x.roots == nil || time.Since(x.rootsAt) > rescanAfter {
		x.roots, x.rootsAt = x.store.FindRuntimeRoots(ctx), time.Now()
	}
	return x.roots
}

// remove checks one planned item again and removes it. A non-empty reason
// means it was kept after all (skipped), detail saying why.
func (x *executor) remove(ctx context.Context, it *Item) (Reason, string, error) {
	switch it.Kind {
	case KindRevision:
		return x.removeRevision(ctx, *it)
	case KindEntry:
		return x.removeEntry(ctx, *it)
	case KindStaging, KindTrash:
		err := x.store.RemoveLeftover(it.left)
		if errors.Is(err, materialize.ErrInUse) {
			return ReasonInUse, "a build of its key started since the plan", nil
		}
		return "", "", err
	case KindLock:
		err := x.store.RemoveOrphanLock(it.key, x.sweep.Now.Add(-x.sweep.in.Grace))
		switch {
		case errors.Is(err, materialize.ErrInUse):
			return ReasonInUse, "a process took it since the plan", nil
		case errors.Is(err, materialize.ErrNotOrphan):
			return ReasonRecent, "its build was started since the plan", nil
		}
		return "", "", err
	case KindObjects:
		return x.removeObjects(ctx, it)
	case KindArchive:
		err := x.sweep.in.Cache.RemoveArchive(ctx, it.key, it.digest)
		if errors.Is(err, cache.ErrNamed) {
			return ReasonReferenced, "its entry names it now", nil
		}
		return "", "", err
	case KindLease:
		return "", "", x.sweep.in.Cache.RemoveJunkLease(ctx, it.key, it.Name)
	case KindIndex, KindPack:
		return x.removeFiles(ctx, *it)
	case KindCache:
		sc := x.sweep.in.Cache
		if e, lerr := sc.Lookup(ctx, it.key); lerr == nil && x.sweep.Now.Sub(e.Created) < x.sweep.CacheGrace {
			return ReasonGrace, "published again since the plan", nil
		}
		return "", "", sc.Remove(ctx, it.key)
	default:
		return "", "", fmt.Errorf("unknown kind %q", it.Kind)
	}
}

// removeRevision removes a revision unless it became ready (an abandoned
// one a slow writer finished) or is the latest now.
func (x *executor) removeRevision(ctx context.Context, it Item) (Reason, string, error) {
	root := x.store.Root()
	if !it.rev.Ready() {
		if now, err := root.Revision(it.Container, it.Name); err == nil && now.Ready() {
			return ReasonKept, "became ready since the plan", nil
		}
	} else {
		name, ok := x.latest[it.Container]
		if !ok {
			if l, err := root.Latest(it.Container); err == nil {
				name = l.Name
			}
			x.latest[it.Container] = name
		}
		if it.Name == name {
			return ReasonLatest, "the latest ready revision now", nil
		}
	}
	err := x.store.RemoveRevision(it.rev, x.runtimeRoots(ctx))
	if used := (*materialize.UsedError)(nil); errors.As(err, &used) {
		return ReasonInUse, "in use by " + used.By.String() + " (seen since the plan)", nil
	}
	if errors.Is(err, materialize.ErrInUse) {
		return ReasonInUse, "built by the Python rezup, and a process started in its venv since the plan", nil
	}
	return "", "", err
}

// removeEntry removes a store entry unless a revision made since the plan
// uses it, it was used since, or a process holds it.
func (x *executor) removeEntry(ctx context.Context, it Item) (Reason, string, error) {
	if x.refs == nil && !x.refsOK {
		// Revisions added since the plan may use an entry again.
		refs, err := x.sweep.usedNow()
		if err != nil {
			x.errs = append(x.errs, err)
			refs = map[cas.Key]bool{}
		} else {
			x.refsOK = true
		}
		x.refs = refs
	}
	if !x.refsOK {
		// Without the references no entry is safe to remove.
		return ReasonReferenced, "the revisions could not be read again", nil
	}
	if x.refs[it.key] {
		return ReasonReferenced, "a revision made since the plan uses it", nil
	}
	if p := x.sweep; p.OlderThan > 0 {
		if t, err := x.store.LastUse(it.key); err == nil && p.Now.Sub(t) < p.OlderThan {
			return ReasonRecent, "used since the plan", nil
		}
	}
	err := x.store.RemoveEntry(it.key, x.runtimeRoots(ctx))
	if used := (*materialize.UsedError)(nil); errors.As(err, &used) {
		return ReasonInUse, "in use by " + used.By.String() + " (seen since the plan)", nil
	}
	if errors.Is(err, materialize.ErrInUse) {
		return ReasonInUse, "a process started using it since the plan", nil
	}
	return "", "", err
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
