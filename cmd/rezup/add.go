package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

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
	cache, err := a.cache(c)
	if err != nil {
		return err
	}
	store, err := a.store(c.root, cache)
	if err != nil {
		return err
	}
	if o.remote {
		if err := a.addRemoteRevision(ctx, o.name, c.recipe, o.fresh, store, c.remote); err != nil {
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
// build to the shared cache, then writes the revision to the remote root:
// nodes that follow it fetch the build instead of running pip.
func (a *app) addRemoteRevision(ctx context.Context, name string, cr *containerRecipe, fresh bool, store *materialize.Store, remote materialize.Root) error {
	data, m, release, err := a.buildRecipe(ctx, name, cr, fresh, store)
	if err != nil {
		return err
	}
	defer release()
	k := m.Key
	if store.Cache() == nil {
		a.warnf("no shared cache: every node will build %s itself (set REZUP_CACHE or [cache] url)", k)
	} else if err := store.Publish(ctx, k); err != nil {
		return withHint(err, "make the shared cache writable, or point REZUP_CACHE at one that is")
	}
	rev, err := store.AddRemoteRevision(remote, name, data, m)
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
	if fresh {
		var salt [8]byte
		_, _ = rand.Read(salt[:]) // crypto/rand does not fail on supported platforms
		if data, err = recipe.WithSalt(cr.Path, data, hex.EncodeToString(salt[:])); err != nil {
			return nil, nil, nil, err
		}
		if r, _, err = recipe.Parse(cr.Path, data); err != nil {
			return nil, nil, nil, err
		}
	}
	plan, err := store.Resolve(ctx, r)
	if err != nil {
		return nil, nil, nil, err
	}
	a.log.Debug("resolved", "container", name, "key", plan.Key, "inputs", string(plan.Inputs))
	if store.Ready(plan.Key) {
		a.infof("reused %s", plan.Key)
	}
	m, lease, err := store.MaterializeLeased(ctx, plan.Key, plan)
	if err != nil {
		return nil, nil, nil, withHint(err, "fix the recipe %s or the package index it uses, then run `rezup add %s` again; -D shows pip's full output", cr.Path, name)
	}
	return data, m, func() { lease.Release() }, nil
}
