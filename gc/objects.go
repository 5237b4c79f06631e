package gc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/materialize"
)

// The object store (.store/objects) is collected as one kind of garbage,
// listed as two items at most, for it holds thousands of files: the
// objects that go ("objects") and the temps of crashed puts ("temps").
//
// An object goes when no kept build's object list names it, nothing but
// the store links it (its link count, less the links of the builds this
// sweep removes, is 1) and it has not changed (been linked) for Grace.
// Execute looks again under the object store's lock, taken exclusively:
// a build holds it shared from its first Put until it is published, so
// that no object it put goes before its list names it. Execute waits
// objectsLockWait for it at most, and leaves the objects for the next gc
// otherwise.

// objectsLockWait bounds how long Execute waits for the builds being
// published to let go of the object store.
var objectsLockWait = 10 * time.Second

// Names of the objects items.
const (
	objectsItem = "objects"
	tempsItem   = "temps"
)

// tally counts objects for one item.
type tally struct {
	n     int
	bytes int64
}

func (t *tally) add(size int64) { t.n++; t.bytes += size }

// planObjects decides the object store's objects and temps: only when the
// whole root is collected.
func (pl *planner) planObjects(ctx context.Context) error {
	if !pl.all {
		return nil
	}
	p, now, grace := pl.sweep, pl.now, pl.in.Grace
	st, err := pl.store.Objects()
	if err != nil {
		p.warnf("the object store is left alone: %v", err)
		return nil
	}
	if st == nil {
		return nil
	}
	going := map[cas.Key]bool{}
	for _, it := range p.Remove {
		if it.Kind == KindEntry {
			going[it.key] = true
		}
	}
	named, unlinked, err := objectNames(pl.store, going)
	if err != nil {
		p.warnf("the object store is left alone: %v", err)
		return nil
	}
	var gone, shared, young, theirs tally
	objs := map[materialize.ObjectRef]bool{}
	err = st.Walk(func(o objects.Object) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		ref := materialize.ObjectRef{Digest: o.Digest, Exec: o.Exec}
		switch {
		case named[ref] || int64(o.Links)-int64(unlinked[ref]) > 1:
			// Named by a kept build, or linked by one whose list does not
			// name it (an older rezup's, a build being published).
			shared.add(o.Size)
		case now.Sub(o.Changed) < grace:
			young.add(o.Size)
		case !o.Owned:
			theirs.add(o.Size)
		default:
			gone.add(o.Size)
			objs[ref] = true
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("gc: %w", err)
		}
		p.warnf("the object store is left alone: %v", err)
		return nil
	}
	item := func(t tally, r Reason, detail string) Item {
		return Item{Kind: KindObjects, Name: objectsItem, Count: t.n, Bytes: t.bytes, Reason: r, Detail: fmt.Sprintf("%d object(s) %s", t.n, detail)}
	}
	if shared.n > 0 {
		p.Kept = append(p.Kept, item(shared, ReasonReferenced, "the kept builds are made of"))
	}
	if young.n > 0 {
		p.Kept = append(p.Kept, item(young, ReasonGrace, fmt.Sprintf("no kept build names, but linked or put within the grace period (%s)", span(grace))))
	}
	if theirs.n > 0 {
		p.Kept = append(p.Kept, item(theirs, ReasonOtherAccount, "no kept build names, but another account's: only it, or root, removes them"))
	}
	if gone.n > 0 {
		it := item(gone, ReasonUnreferenced, fmt.Sprintf("no kept build names or links, unchanged for over %s", span(grace)))
		it.objs = objs
		p.Remove = append(p.Remove, it)
	}

	temps, err := st.Temps()
	if err != nil {
		p.warnf("the object store's temps are left alone: %v", err)
		return nil
	}
	var old tally
	paths := map[string]bool{}
	for _, t := range temps {
		if now.Sub(t.Modified) < grace || !t.Owned {
			continue // being written, or another account's: not worth a line
		}
		old.add(t.Size)
		paths[t.Path] = true
	}
	if old.n > 0 {
		p.Remove = append(p.Remove, Item{Kind: KindObjects, Name: tempsItem, Count: old.n, Bytes: old.bytes, Reason: ReasonStale,
			Detail: fmt.Sprintf("%d temp(s) of objects put by a process that stopped, untouched for over %s", old.n, span(grace)), temps: paths})
	}
	return nil
}

// objectNames reads the object lists of the store's builds but those
// going: the objects they name, and the hard links to each that the
// builds going hold. A list that cannot be read is an error: without it,
// which objects its build needs is unknown.
func objectNames(store *materialize.Store, going map[cas.Key]bool) (named map[materialize.ObjectRef]bool, unlinked map[materialize.ObjectRef]int, err error) {
	keys, err := store.Root().Entries()
	if err != nil {
		return nil, nil, err
	}
	named, unlinked = map[materialize.ObjectRef]bool{}, map[materialize.ObjectRef]int{}
	for _, k := range keys {
		l, err := store.ObjectList(k)
		if err != nil {
			return nil, nil, err
		}
		for ref, u := range l {
			if going[k] {
				unlinked[ref] += u.Links
			} else {
				named[ref] = true
			}
		}
	}
	return named, unlinked, nil
}

// removeObjects removes what an objects item planned, under the object
// store's lock, checking each object again: it goes only while no build
// in the store now names it and nothing but the store links it. The item's
// count and bytes become what went.
func (x *executor) removeObjects(ctx context.Context, it *Item) (Reason, string, error) {
	lock, err := x.store.LockObjects(ctx, objectsLockWait)
	if errors.Is(err, materialize.ErrInUse) {
		return ReasonInUse, fmt.Sprintf("builds being published held the object store for %s: left for the next gc", objectsLockWait), nil
	}
	if err != nil {
		return "", "", err
	}
	defer lock.Close()
	st, err := x.store.Objects()
	if err != nil || st == nil {
		return "", "", err
	}
	var done tally
	var errs []error
	if it.Name == tempsItem {
		temps, err := st.Temps()
		if err != nil {
			return "", "", err
		}
		for _, t := range temps {
			if !it.temps[t.Path] {
				continue
			}
			switch err := st.RemoveTemp(t); {
			case err == nil:
				done.add(t.Size)
			case errors.Is(err, objects.ErrChanged), errors.Is(err, fsx.ErrNotOwner):
			default:
				errs = append(errs, err)
			}
		}
		it.Count, it.Bytes = done.n, done.bytes
		return "", "", errors.Join(errs...)
	}
	// The builds there are now: those this sweep removed are gone, and
	// those it kept, or that were published since the plan, name theirs.
	named, _, err := objectNames(x.store, nil)
	if err != nil {
		return ReasonReferenced, "the object lists could not be read again: " + err.Error(), nil
	}
	// The ctime is not looked at again: removing a build's hard links
	// changes its objects' ctime, and while the lock is held no build
	// links any (an object linked between the plan and the lock is
	// named by its build's list, or has more than one link).
	err = st.Walk(func(o objects.Object) error {
		ref := materialize.ObjectRef{Digest: o.Digest, Exec: o.Exec}
		if !it.objs[ref] || named[ref] || o.Links != 1 || !o.Owned {
			return nil
		}
		switch err := st.Remove(o); {
		case err == nil:
			done.add(o.Size)
		case errors.Is(err, objects.ErrChanged), errors.Is(err, fsx.ErrNotOwner):
		default:
			errs = append(errs, err)
		}
		return nil
	})
	it.Count, it.Bytes = done.n, done.bytes
	if err != nil {
		errs = append(errs, err)
	}
	return "", "", errors.Join(errs...)
}
