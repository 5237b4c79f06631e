package materialize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
	"github.com/rezup/rezup/internal/pyresolve"
	"github.com/rezup/rezup/recipe"
)

// Launcher is the launch policy of `rezup use`, `env`, `resolve` and
// `pull`: which revision of a container a launch runs in, and how its build
// is made ready and held in use. The remote root comes first, unless the
// launch is local: its latest revision is mirrored into the local root
// (pulled) and used from there; without one, the local root's latest
// revision is used; with none anywhere, First is added (rezup creates
// .main on first use), or the launch fails with ErrNoRevision. The shared
// cache is opened only when a build must be fetched or made.
type Launcher struct {
	// Store is the local root's store, without a cache: the hot path (a
	// local revision whose build is here) never opens one.
	Store *Store
	// Remote is the remote root the container follows; nil for none.
	Remote *Root
	// OpenCache opens the shared cache, when a build is missing. frozen is
	// the frozen recipe of the revision being made ready (its [cache] may
	// name the cache), nil when a first revision is about to be made.
	OpenCache func(frozen *recipe.Recipe) (*cache.Cache, error)
	// First is the add that makes the container's first revision when it
	// has no ready revision, local or remote (see Store.Add); nil: such a
	// launch fails with ErrNoRevision.
	First *AddRequest
	// Trust says which remote revisions are launched (the zero value: the
	// latest, unchecked).
	Trust RevisionTrust
}

// Target is a revision ready to launch: its build is held until Close.
type Target struct {
	// Revision is the local revision launched: the pulled mirror of the
	// remote one when Remote, or the remote revision itself when its
	// mirror was built by the Python rezup but the remote revision pins
	// its build (Revision.Pinned): that build runs from the store, and
	// the mirror is left to the Python rezup.
	Revision *Revision
	// Remote says the revision followed the remote root.
	Remote bool
	// Hold holds the build in use; its Key is zero for a revision the
	// Python rezup built.
	Hold *Hold
	// Recipe is the revision's frozen recipe, read once.
	Recipe *recipe.Recipe
	// BinDirs are the production bin dirs the launch puts on PATH.
	BinDirs []string
}

// Key is the key of the build the target runs in (zero: the revision's own
// venvs, built by the Python rezup).
func (t *Target) Key() cas.Key { return t.Hold.Key() }

// Close releases the target's hold; closing twice is harmless.
func (t *Target) Close() error { return t.Hold.Close() }

// CheckCommand checks a command the launch is about to run, found at
// path: a script of the build's production bin dirs whose interpreter is
// gone is an error wrapping fs.ErrNotExist, as execve gives for a
// "#!" line naming a missing python. Where the venv's path is too long
// for a "#!" line, its scripts are /bin/sh trampolines (Shebang, pip):
// execve runs sh all the same, and only sh would say, exit 127, that
// the build is damaged. Other commands are not read.
func (t *Target) CheckCommand(path string) error {
	if !slices.Contains(t.BinDirs, filepath.Dir(path)) {
		return nil
	}
	// Only a regular file is read (a FIFO would block the launch; a
	// symlink is an interpreter or a binary, not a script).
	f, err := fsx.OpenRegular(path)
	if err != nil {
		return nil // execve says what is wrong
	}
	defer f.Close() // read-only
	var buf [1024]byte
	n, _ := io.ReadFull(f, buf[:])
	interp, ok := pyenv.ScriptInterpreter(buf[:n])
	if !ok || !filepath.IsAbs(interp) {
		return nil
	}
	if _, err := os.Stat(interp); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: its interpreter %s: %w", path, interp, err)
	}
	return nil
}

// RevisionError is an error about the revision a launch picked (its frozen
// recipe cannot be read, or its build cannot be made ready); Revision says
// which, for the caller's hint. Its message is Err's.
type RevisionError struct {
	Revision *Revision
	Err      error
}

func (e *RevisionError) Error() string { return e.Err.Error() }
func (e *RevisionError) Unwrap() error { return e.Err }

// RemoteRootError means the remote root could not be read (it exists but
// listing its revisions failed). Its message is Err's.
type RemoteRootError struct {
	Root Root
	Err  error
}

func (e *RemoteRootError) Error() string { return e.Err.Error() }
func (e *RemoteRootError) Unwrap() error { return e.Err }

// Pick returns the latest ready revision of container, its build ready
// and held: remote first unless local (see Launcher). Newer revisions
// whose revision.json cannot be read are passed over with a warning, and
// so are the keys of the frozen recipe this rezup does not know (at every
// launch: the frozen recipe never stops one). When a collector removes the
// revision picked meanwhile (a newer one exists), it looks again.
//
// A pick that fails (a build that cannot be fetched nor made, an
// interrupt) takes back what it created in the local root and nobody
// uses, as a failed add does.
func (l *Launcher) Pick(ctx context.Context, container string, local bool) (*Target, error) {
	var before *rootBefore // taken before anything may be made (pick.openCache): off the hot path
	for attempt := 0; ; attempt++ {
		t, err := l.pickOnce(ctx, container, local, &before)
		if err != nil && errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			l.Store.opt.Reporter.Debugf("a revision of %s vanished (%v); looking again", container, err)
			continue
		}
		if err != nil && before != nil {
			before.undo(l.Store)
		}
		return t, err
	}
}

// pick is one attempt of Pick: the store it uses gains the cache once it
// is opened.
type pick struct {
	l         *Launcher
	container string
	store     *Store
	cached    bool // store has the cache
	// before is what the local root held before this pick made anything
	// in it, for Pick to take back on failure.
	before **rootBefore
}

func (l *Launcher) pickOnce(ctx context.Context, container string, local bool, before **rootBefore) (*Target, error) {
	p := &pick{l: l, container: container, store: l.Store, before: before}
	rev, fr, remote, err := p.revision(ctx, local)
	if err != nil {
		return nil, err
	}
	if fr == nil {
		if fr, err = loadFrozen(rev); err != nil {
			return nil, err
		}
	}
	hold, err := p.hold(ctx, rev, fr)
	if err != nil {
		return nil, &RevisionError{Revision: rev, Err: err}
	}
	for _, w := range fr.warns {
		if w.Ignored {
			p.reporter().Warnf("%s", w)
		}
	}
	return &Target{
		Revision: rev,
		Remote:   remote,
		Hold:     hold,
		Recipe:   fr.recipe,
		BinDirs:  p.store.revisionBinDirs(rev, hold.Key()),
	}, nil
}

func (p *pick) reporter() Reporter { return p.store.opt.Reporter }

// openCache gives p's store the shared cache, once.
func (p *pick) openCache(frozen *recipe.Recipe) error {
	if *p.before == nil {
		b := snapshotRoot(p.l.Store.opt.Root)
		*p.before = &b
	}
	if p.cached || p.l.OpenCache == nil {
		return nil
	}
	sc, err := p.l.OpenCache(frozen)
	if err != nil {
		return err
	}
	p.store, p.cached = p.store.withCache(sc), true
	return nil
}

// revision picks the local revision to launch: the mirror of the remote
// root's latest revision (pulled when missing), else the local latest,
// else the first revision. fr is its frozen recipe when already read.
func (p *pick) revision(ctx context.Context, local bool) (rev *Revision, fr *frozenRecipe, remote bool, err error) {
	if p.l.Remote != nil && !local {
		rev, fr, err = p.remoteRevision(ctx)
		if err != nil || rev != nil {
			return rev, fr, true, err
		}
	}
	rev, err = p.store.opt.Root.Latest(p.container)
	if err == nil {
		p.warnSkipped(rev)
		return rev, nil, false, nil
	}
	if !errors.Is(err, ErrNoRevision) {
		return nil, nil, false, err
	}
	if r := p.l.Remote; r != nil && !local {
		// A remote root that is not there (a typo, an unmounted share)
		// matters now that the local root has nothing either.
		if _, serr := os.Stat(r.Dir); errors.Is(serr, fs.ErrNotExist) {
			p.reporter().Warnf("the remote root %s does not exist; using the local root %s", r.Dir, p.store.opt.Root.Dir)
		}
	}
	if p.l.First == nil {
		return nil, nil, false, err
	}
	if err := p.openCache(nil); err != nil {
		return nil, nil, false, err
	}
	p.reporter().Infof("creating container %s", p.container)
	added, err := p.store.Add(ctx, *p.l.First)
	if err != nil {
		return nil, nil, false, err
	}
	return added.Revision, nil, false, nil
}

// remoteRevision is the local mirror of the remote root's latest revision,
// pulled when missing; nil when the remote root has no revision.
func (p *pick) remoteRevision(ctx context.Context) (*Revision, *frozenRecipe, error) {
	remote := p.l.Remote
	rrev, err := remote.Latest(p.container)
	switch {
	case errors.Is(err, ErrNoRevision):
		p.reporter().Debugf("no remote revision of %s in %s; using the local root", p.container, remote.Dir)
		return nil, nil, nil
	case err != nil:
		return nil, nil, &RemoteRootError{Root: *remote, Err: err}
	}
	p.warnSkipped(rrev)
	// What a trusted key signed, when this machine checks: read once, and
	// those very bytes are what a pull mirrors.
	var signed signedRevision
	if t := p.l.Trust; t.checks() {
		if signed, err = p.trustedRemote(rrev, t); err != nil {
			return nil, nil, err
		}
		rrev = signed.rev
	}
	if lrev, err := p.store.opt.Root.Revision(p.container, rrev.Name); err == nil && lrev.Ready() {
		if !lrev.PythonBuilt() || !rrev.Pinned() {
			return lrev, nil, nil // pulled before: its build is checked when it is held
		}
		// The Python rezup pulled it: pip installed what the index
		// offered that day, not the build the revision pins. The pinned
		// build runs, from the store (fetched or built from the lock as a
		// pull would); the mirror is left to the Python rezup's launches.
		p.reporter().Debugf("the local mirror of remote revision %s of %s was built by the Python rezup; running the build the remote revision pins instead", rrev.Name, p.container)
		fr := signed.fr
		if fr == nil {
			if fr, err = loadFrozen(rrev); err != nil {
				return nil, nil, err
			}
		}
		return rrev, fr, nil
	}
	fr, res := signed.fr, signed.res
	if fr == nil {
		if fr, err = loadFrozen(rrev); err != nil {
			return nil, nil, err
		}
		if res, err = rrev.ReadResolution(); err != nil {
			return nil, nil, &RevisionError{Revision: rrev, Err: err}
		}
	}
	if err := p.openCache(fr.recipe); err != nil {
		return nil, nil, err
	}
	lrev, err := p.store.pull(ctx, rrev, fr, res)
	if err != nil {
		return nil, nil, err
	}
	// The same bytes, named after the mirror: what the launch reports
	// about its recipe names the local file.
	fr, err = parseFrozen(lrev, fr.data)
	return lrev, fr, err
}

// warnSkipped warns, one line each, about the newer revisions Latest
// passed over because their revision.json could not be read.
func (p *pick) warnSkipped(rev *Revision) {
	for _, s := range rev.Skipped {
		p.reporter().Warnf("revision %s of %s is skipped: %v; using %s", s.Name, s.Container, s.Err, rev.Name)
	}
}

// hold makes rev's build ready and holds it in use. On the hot path (the
// entry is here) that is a stat, a lock and a stat: no python, no hashing,
// no cache. A missing entry is fetched from the shared cache (the archive
// the revision pins, or else the entry of the revision's key), or else
// built again from its frozen recipe (which may give another key on this
// machine: the revision is repointed to it). A revision that pins an
// archive never fetches the key's entry.json instead.
func (p *pick) hold(ctx context.Context, rev *Revision, fr *frozenRecipe) (*Hold, error) {
	if rev.PythonBuilt() {
		return p.store.holdRevision(ctx, rev)
	}
	store := p.store
	var cacheErr error
	if k, ok := rev.Key(); ok {
		h, err := store.hold(ctx, k)
		if !errors.Is(err, ErrNotReady) {
			return h, err
		}
		if err := p.openCache(fr.recipe); err != nil {
			return nil, err
		}
		store = p.store
		h, err = store.Materialize(ctx, Request{Key: k, Pin: rev.Pin()})
		switch {
		case err == nil:
			return h, nil
		case errors.Is(err, ErrNotCached):
			store.noteRefused(err)
		case isCacheError(err):
			// Degrade, never stop: the recipe builds it here, without
			// the cache that failed (nothing is published over it).
			p.reporter().Warnf("%v; building %s here from its recipe", err, rev.label())
			cacheErr, store = err, store.withCache(nil)
		default:
			return nil, err
		}
	} else if err := p.openCache(fr.recipe); err != nil {
		return nil, err
	} else {
		store = p.store
	}
	fr.warnBuilding(p.reporter())
	res, err := rev.ReadResolution()
	if err != nil {
		return nil, &RevisionError{Revision: rev, Err: err}
	}
	h, m, err := store.buildFrozen(ctx, fr.recipe, res, rev.Pin())
	if err != nil {
		return nil, bothFailed(cacheErr, err)
	}
	if err := store.repoint(rev, m); err != nil {
		h.Close() // nothing launches: the error is what matters
		return nil, err
	}
	return h, nil
}

// buildFrozen makes ready, and holds, the build of a revision's frozen
// recipe and resolution (res nil: its requirement strings), fetching the
// pinned archive when pin is of the key the recipe resolves to here.
func (s *Store) buildFrozen(ctx context.Context, r *recipe.Recipe, res *pyresolve.Resolution, pin *cache.Entry) (*Hold, *Manifest, error) {
	plan, err := s.plan(ctx, r, res)
	if err != nil {
		return nil, nil, err
	}
	h, err := s.Materialize(ctx, Request{Key: plan.Key, Plan: plan, Pin: samePin(pin, plan.Key)})
	if err != nil {
		return nil, nil, err
	}
	m, err := s.ReadManifest(plan.Key)
	if err != nil {
		h.Close() // nothing launches: the error is what matters
		return nil, nil, err
	}
	return h, m, nil
}

// isCacheError says whether err is a failure of the shared cache (see
// CacheError), after which a build from the recipe is the next way.
func isCacheError(err error) bool {
	var ce *CacheError
	return errors.As(err, &ce)
}

// bothFailed is the error of a build that was the fallback of a failed
// cache: one line naming both causes. cacheErr nil: buildErr alone.
func bothFailed(cacheErr, buildErr error) error {
	if cacheErr == nil {
		return buildErr
	}
	return fmt.Errorf("%v, and building here failed too: %w", cacheErr, buildErr)
}

// frozenRecipe is a revision's frozen recipe, read once per launch.
type frozenRecipe struct {
	data   []byte
	recipe *recipe.Recipe
	warns  []recipe.Warning
}

// loadFrozen reads rev's frozen recipe. An error (it cannot be read, or is
// not TOML) is a *RevisionError.
func loadFrozen(rev *Revision) (*frozenRecipe, error) {
	data, err := os.ReadFile(rev.RecipePath())
	if err != nil {
		return nil, &RevisionError{Revision: rev, Err: fmt.Errorf("%s: read recipe: %w", rev.label(), err)}
	}
	return parseFrozen(rev, data)
}

func parseFrozen(rev *Revision, data []byte) (*frozenRecipe, error) {
	r, warns, err := recipe.ParseFrozen(rev.RecipePath(), data)
	if err != nil {
		return nil, &RevisionError{Revision: rev, Err: fmt.Errorf("%s: %w", rev.label(), err)}
	}
	return &frozenRecipe{data: data, recipe: r, warns: warns}, nil
}

// warnBuilding shows what a build from the recipe should know: the keys it
// ignores are shown by every launch instead.
func (fr *frozenRecipe) warnBuilding(r Reporter) {
	for _, w := range fr.warns {
		if !w.Ignored {
			r.Warnf("%s", w)
		}
	}
}

// label names a revision in messages.
func (r *Revision) label() string {
	if r.Remote {
		return fmt.Sprintf("remote revision %s of %s", r.Name, r.Container)
	}
	return fmt.Sprintf("revision %s of %s", r.Name, r.Container)
}

// samePin is pin when it is of key k, else nil: a recipe that resolves to
// another key here (another interpreter) has no pinned archive.
func samePin(pin *cache.Entry, k cas.Key) *cache.Entry {
	if pin == nil || pin.Key != k {
		return nil
	}
	return pin
}
