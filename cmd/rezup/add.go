package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// addOptions is what `rezup add` is told.
type addOptions struct {
	name    string
	skipUse bool
	fresh   bool
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

The build is content-addressed: a recipe whose build inputs are unchanged
reuses the existing build at once. --fresh forces a new build.`,
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
	cache, err := a.cache(c)
	if err != nil {
		return err
	}
	store, err := a.store(c.root, cache)
	if err != nil {
		return err
	}
	if o.remote {
		if err := a.addRemoteRevision(ctx, o.name, c.recipe, o.fresh, store.AsPublisher(), c.remote); err != nil {
			return err
		}
	} else if _, err := a.addRevision(ctx, o.name, c.recipe, o.fresh, store); err != nil {
		return err
	}
	if o.skipUse {
		return nil
	}
	return a.runUse(ctx, &useOptions{name: o.name, local: !o.remote})
}

// addRevision builds (or reuses) the container's recipe and records a new
// ready revision of it. A missing recipe is written from the defaults.
func (a *app) addRevision(ctx context.Context, name string, cr *containerRecipe, fresh bool, store *materialize.Store) (*materialize.Revision, error) {
	data, m, release, err := a.buildRecipe(ctx, name, cr, fresh, store)
	if err != nil {
		return nil, err
	}
	defer release()
	rev, err := store.AddRevision(name, data, m)
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
func (a *app) addRemoteRevision(ctx context.Context, name string, cr *containerRecipe, fresh bool, store *materialize.Store, remote materialize.Root) error {
	data, m, release, err := a.buildRecipe(ctx, name, cr, fresh, store)
	if err != nil {
		return err
	}
	defer release()
	k := m.Key
	var pin *cas.Entry
	if store.Cache() == nil {
		a.warnf("no shared cache: every node will build %s itself (set REZUP_CACHE or [cache] url)", k)
	} else {
		e, err := store.Publish(ctx, k)
		if err != nil {
			return withHint(err, "make the shared cache writable, or point REZUP_CACHE at one that is")
		}
		pin = &e
	}
	rev, err := store.AddRemoteRevision(remote, name, data, m, pin)
	if err != nil {
		return fmt.Errorf("write remote revision: %w", err)
	}
	a.infof("remote revision %s of %s is published in %s (%s, rez %s)", rev.Name, name, remote.Dir, m.Key, m.RezVersion)
	return nil
}

// buildRecipe resolves the container's recipe (written from the defaults
// when missing, salted with --fresh) and makes its entry ready. It returns
// the recipe bytes to freeze into the revision, and the entry held in use
// until release, so that gc cannot take it before the revision exists.
func (a *app) buildRecipe(ctx context.Context, name string, cr *containerRecipe, fresh bool, store *materialize.Store) (data []byte, m *materialize.Manifest, release func(), err error) {
	data = cr.Data
	r := cr.Recipe
	if data == nil {
		if data, err = a.writeDefaultRecipe(cr.Path); err != nil {
			return nil, nil, nil, err
		}
		if r, _, err = recipe.Parse(cr.Path, data); err != nil {
			return nil, nil, nil, err
		}
	}
	salt := func() error {
		var salt [8]byte
		_, _ = rand.Read(salt[:]) // crypto/rand does not fail on supported platforms
		if data, err = recipe.WithSalt(cr.Path, data, hex.EncodeToString(salt[:])); err != nil {
			return err
		}
		r, _, err = recipe.Parse(cr.Path, data)
		return err
	}
	if fresh {
		if err := salt(); err != nil {
			return nil, nil, nil, err
		}
	}
	plan, err := store.Resolve(ctx, r)
	if err != nil {
		return nil, nil, nil, err
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
					return nil, nil, nil, err
				}
				if plan, err = store.Resolve(ctx, r); err != nil {
					return nil, nil, nil, err
				}
			}
		}
	}
	if store.Ready(plan.Key) {
		a.infof("reused %s", plan.Key)
	}
	m, lease, err := store.MaterializeLeased(ctx, plan.Key, plan)
	if err != nil {
		return nil, nil, nil, withHint(err, "fix the recipe %s or the package index it uses, then run `rezup add %s` again; -D shows pip's full output", cr.Path, name)
	}
	if store.Publisher() {
		if why := a.untrustedEntry(store, plan.Key); why != "" {
			lease.Release() // nothing is published: the error is what matters
			return nil, nil, nil, withHint(fmt.Errorf("the build %s %s: it is not published", plan.Key, why),
				"run `rezup add %s --remote` again; set [cache] trusted-keys so that only signed entries are fetched", name)
		}
	}
	return data, m, func() { lease.Release() }, nil
}

// untrustedEntry says why ready entry k must not be handed on by a
// publisher ("" when it may): it was fetched from a cache entry no
// trusted key signed, or an older rezup made it and its origin is unknown.
func (a *app) untrustedEntry(store *materialize.Store, k cas.Key) string {
	m, err := store.ReadManifest(k)
	if err != nil {
		return fmt.Sprintf("cannot be read (%v)", err)
	}
	var trusted []cas.PublicKey
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
