package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/pyresolve"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// addOptions is what `rezup add` is told.
type addOptions struct {
	name    string
	skipUse bool
	fresh   bool
	frozen  bool
	remote  bool
}

func (a *app) addCommand(runF func(context.Context, *addOptions) error) *cobra.Command {
	var o addOptions
	cmd := &cobra.Command{
		Use:   "add [NAME]",
		Short: "Create a new revision of a container from its recipe, then use it",
		Long: `Create a new revision of container NAME (default .main) from its recipe,
~/rezup.toml for .main and ~/rezup.NAME.toml otherwise. A container
without a recipe gets the default one written first.

add first resolves every venv's requirements with pip into a lock (the
exact distributions and their hashes), frozen in the revision as
lock.json. The build key covers the lock: an unchanged resolution reuses
the existing build at once, a new release of an unpinned requirement
builds anew. --fresh forces a new build of the same lock; its salt sticks
to later revisions until the lock changes. --frozen builds the latest
revision's lock again without resolving (offline).

With --remote the build is published to the shared cache and the revision
written to the remote root, for every machine that follows it.`,
		Example: `  rezup add                     # a new revision of .main from ~/rezup.toml, then a shell in it
  rezup add dev --skip-use      # dev from ~/rezup.dev.toml (written from the defaults if missing)
  rezup add prod --remote -s    # build, publish to the shared cache and the remote root
  rezup add prod --frozen -s    # build the latest revision's lock again, without an index`,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			o.name = name
			if runF == nil {
				runF = a.runAdd
			}
			return runF(cmd.Context(), &o)
		},
	}
	// -s and -r are the Python rezup's short forms.
	cmd.Flags().BoolVarP(&o.skipUse, "skip-use", "s", false, "do not open a shell in the new revision")
	cmd.Flags().BoolVar(&o.fresh, "fresh", false, "force a new build of an unchanged recipe (sets a new [build] salt)")
	cmd.Flags().BoolVar(&o.frozen, "frozen", false, "build from the latest revision's lock without resolving (no index needed)")
	cmd.Flags().BoolVarP(&o.remote, "remote", "r", false, "publish the revision to the remote root (and its build to the shared cache)")
	return cmd
}

// runAdd builds (or reuses) a new revision of o.name, locally or on the
// remote root, then uses it unless told not to.
func (a *app) runAdd(ctx context.Context, o *addOptions) error {
	c, err := a.openContainer(o.name)
	if err != nil {
		return err
	}
	// A usage error that needs the recipe to tell: raised here, not in RunE.
	if o.remote && !c.hasRemote {
		return usagef("add --remote needs a remote root: set REZUP_ROOT_REMOTE or [root] remote in %s", c.recipe.Path)
	}
	if tools := materialize.EditTools(c.recipe.Recipe); o.remote && len(tools) > 0 {
		// Refused before building: what the nodes would run is the
		// source tree on this machine.
		return withHint(fmt.Errorf("add --remote: %s is installed with edit = true, and an edit-mode build is never published (it points into a source tree on this machine)", strings.Join(tools, ", ")),
			"remove edit = true from %s to publish a revision, or run `rezup add %s` without --remote to use it here", c.recipe.Path, o.name)
	}
	sc, err := a.cache(c)
	if err != nil {
		return err
	}
	store, err := a.store(c.root, sc)
	if err != nil {
		return err
	}
	before := snapshotRoot(c.root)
	if o.remote {
		err = a.addRemoteRevision(ctx, o, c.recipe, store.AsPublisher(), c.remote)
	} else {
		_, err = a.addRevision(ctx, o, c.recipe, store, c.root)
	}
	if err != nil {
		before.undo(store)
		return err
	}
	if o.skipUse {
		return nil
	}
	return a.runUse(ctx, &useOptions{name: o.name, local: !o.remote})
}

// addRevision builds (or reuses) the container's recipe and records a new
// ready revision of it. A missing recipe is written from the defaults.
func (a *app) addRevision(ctx context.Context, o *addOptions, cr *containerRecipe, store *materialize.Store, root materialize.Root) (*materialize.Revision, error) {
	name := o.name
	data, lock, m, release, err := a.buildRecipe(ctx, o, cr, store, root)
	if err != nil {
		return nil, err
	}
	defer release()
	rev, err := store.AddRevision(name, data, lock, m)
	if err != nil {
		return nil, err
	}
	a.infof("revision %s of %s is ready (%s, rez %s)", rev.Name, name, m.Key, m.RezVersion)
	return rev, nil
}

// addRemoteRevision builds (or reuses) the recipe here, publishes the
// build to the shared cache, then writes the revision to the remote root,
// pinning the archive it published: nodes that follow it fetch exactly
// that archive instead of running pip. store is a publisher
// (Store.AsPublisher): it fetches only entries a trusted key signed.
func (a *app) addRemoteRevision(ctx context.Context, o *addOptions, cr *containerRecipe, store *materialize.Store, remote materialize.Root) error {
	name := o.name
	data, lock, m, release, err := a.buildRecipe(ctx, o, cr, store, remote)
	if err != nil {
		return err
	}
	defer release()
	k := m.Key
	var pin *cache.Entry
	if store.Cache() == nil {
		a.warnf("no shared cache: every node will build %s itself (set REZUP_CACHE or [cache] url)", k)
	} else {
		e, err := store.Publish(ctx, k)
		if err != nil {
			return withHint(err, "make the shared cache writable, or point REZUP_CACHE at one that is")
		}
		pin = &e
	}
	rev, err := store.AddRemoteRevision(remote, name, data, lock, m, pin)
	if err != nil {
		return fmt.Errorf("write remote revision: %w", err)
	}
	a.infof("remote revision %s of %s is published in %s (%s, rez %s)", rev.Name, name, remote.Dir, m.Key, m.RezVersion)
	return nil
}

// buildRecipe resolves the container's recipe (written from the defaults
// when missing, salted with --fresh) into a lock (or, with --frozen, takes
// the latest revision's lock in root) and makes its entry ready. It
// returns the recipe bytes to freeze into the revision, the lock, and the
// entry held in use until release, so that gc cannot take it before the
// revision exists.
//
// The salt rule: --fresh draws a new salt; otherwise, when the recipe has
// no salt of its own and the lock equals the latest revision's, that
// revision's salt is kept, so that a fresh build is not undone by the next
// plain add. A lock that changed drops it.
func (a *app) buildRecipe(ctx context.Context, o *addOptions, cr *containerRecipe, store *materialize.Store, root materialize.Root) (data []byte, lock *pyresolve.Resolution, m *materialize.Manifest, release func(), err error) {
	name := o.name
	data = cr.Data
	r := cr.Recipe
	if data == nil {
		if data, err = a.writeDefaultRecipe(cr.Path); err != nil {
			return nil, nil, nil, nil, err
		}
		if r, _, err = recipe.Parse(cr.Path, data); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	setSalt := func(salt string) error {
		if data, err = recipe.WithSalt(cr.Path, data, salt); err != nil {
			return err
		}
		r, _, err = recipe.Parse(cr.Path, data)
		return err
	}
	salt := func() error {
		var salt [8]byte
		_, _ = rand.Read(salt[:]) // crypto/rand does not fail on supported platforms
		return setSalt(hex.EncodeToString(salt[:]))
	}
	if o.fresh {
		if err := salt(); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	prev, prevLock, err := latestLock(root, name)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	base, err := store.Resolve(ctx, r) // the interpreters, probed once
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if o.frozen {
		if prevLock == nil {
			why := "has no revision"
			if prev != nil {
				why = fmt.Sprintf("has no lock in its latest revision %s (made before locks, or by the Python rezup)", prev.Name)
			}
			return nil, nil, nil, nil, withHint(fmt.Errorf("add --frozen: container %s %s", name, why),
				"run `rezup add %s` without --frozen once, with the package index reachable", name)
		}
		lock = prevLock
	} else if lock, err = store.Lock(ctx, base); err != nil {
		if errors.Is(err, pyresolve.ErrNoNetwork) || errors.Is(err, pyresolve.ErrNotFound) {
			return nil, nil, nil, nil, withHint(err, "check the recipe %s and the package index; without network access, `rezup add %s --frozen` builds the latest revision's lock again without resolving", cr.Path, name)
		}
		return nil, nil, nil, nil, withHint(err, "fix the recipe %s or the package index it uses, then run `rezup add %s` again; -D shows pip's full output", cr.Path, name)
	}
	if !o.fresh && r.Build.Salt == "" && prevLock != nil {
		if s := frozenSalt(prev); s != "" && sameLock(lock, prevLock) {
			a.log.Debug("same lock as the latest revision: keeping its salt", "revision", prev.Name, "salt", s)
			if err := setSalt(s); err != nil {
				return nil, nil, nil, nil, err
			}
		}
	}
	plan, err := store.WithLock(base, r, lock)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	a.log.Debug("resolved", "container", name, "key", plan.Key, "inputs", string(plan.Inputs))
	if store.Publisher() && store.Ready(plan.Key) {
		if why := a.untrustedEntry(store, plan.Key); why != "" {
			// Never hand on what someone else chose: move it aside and
			// build it here; if it is in use, build under a new salt.
			a.warnf("the build %s here %s: building it again to publish it", plan.Key, why)
			if err := store.RemoveEntry(plan.Key); err != nil {
				a.warnf("%v; building a fresh one under a new [build] salt instead", err)
				if err := salt(); err != nil {
					return nil, nil, nil, nil, err
				}
				if plan, err = store.WithLock(base, r, lock); err != nil {
					return nil, nil, nil, nil, err
				}
			}
		}
	}
	if store.Ready(plan.Key) {
		a.infof("reused %s", plan.Key)
	}
	m, lease, err := store.MaterializeLeased(ctx, plan.Key, plan)
	if err != nil {
		return nil, nil, nil, nil, withHint(err, "fix the recipe %s or the package index it uses, then run `rezup add %s` again; -D shows pip's full output", cr.Path, name)
	}
	if store.Publisher() {
		if why := a.untrustedEntry(store, plan.Key); why != "" {
			lease.Release() // nothing is published: the error is what matters
			return nil, nil, nil, nil, withHint(fmt.Errorf("the build %s %s: it is not published", plan.Key, why),
				"run `rezup add %s --remote` again; set [cache] trusted-keys so that only signed entries are fetched", name)
		}
	}
	return data, lock, m, func() { lease.Release() }, nil
}

// latestLock is the latest ready revision of container in root and its
// lock; (nil, nil) when there is no revision, and a nil lock when it has
// none.
func latestLock(root materialize.Root, container string) (*materialize.Revision, *pyresolve.Resolution, error) {
	rev, err := root.Latest(container)
	if errors.Is(err, materialize.ErrNoRevision) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	lock, err := rev.ReadResolution()
	if err != nil {
		return rev, nil, err
	}
	return rev, lock, nil
}

// frozenSalt is the [build] salt of rev's frozen recipe, "" when it has
// none or cannot be read (then no salt is carried over).
func frozenSalt(rev *materialize.Revision) string {
	data, err := os.ReadFile(rev.RecipePath())
	if err != nil {
		return ""
	}
	r, _, err := recipe.ParseFrozen(rev.RecipePath(), data)
	if err != nil {
		return ""
	}
	return r.Build.Salt
}

// sameLock says whether two locks install the same distributions.
func sameLock(a, b *pyresolve.Resolution) bool {
	ka, err := a.KeyBytes()
	if err != nil {
		return false
	}
	kb, err := b.KeyBytes()
	return err == nil && bytes.Equal(ka, kb)
}

// untrustedEntry says why ready entry k must not be handed on by a
// publisher ("" when it may): it was fetched from a cache entry no
// trusted key signed, or an older rezup made it and its origin is unknown.
func (a *app) untrustedEntry(store *materialize.Store, k cas.Key) string {
	m, err := store.ReadManifest(k)
	if err != nil {
		return fmt.Sprintf("cannot be read (%v)", err)
	}
	var trusted []cache.PublicKey
	if c := store.Cache(); c != nil {
		trusted = c.TrustedKeys()
	}
	switch o := m.Origin; {
	case o.Trusted(trusted):
		return ""
	case o == nil:
		return "has no recorded origin (an older rezup made it)"
	default:
		return fmt.Sprintf("was fetched from the shared cache (archive %s) without a trusted signature", o.Digest)
	}
}
