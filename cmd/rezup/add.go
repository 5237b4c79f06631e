package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

type addOptions struct {
	skipUse bool
	fresh   bool
}

func (a *app) addCommand() *cobra.Command {
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
			cr, err := a.loadRecipe(name)
			if err != nil {
				return err
			}
			root, err := a.localRoot(cr.Recipe)
			if err != nil {
				return err
			}
			store, err := a.store(root)
			if err != nil {
				return err
			}
			if _, err := a.addRevision(cmd.Context(), name, cr, o.fresh, store); err != nil {
				return err
			}
			if o.skipUse {
				return nil
			}
			return a.runUse(cmd.Context(), useOptions{name: name})
		},
	}
	cmd.Flags().BoolVar(&o.skipUse, "skip-use", false, "do not open a shell in the new revision")
	cmd.Flags().BoolVar(&o.fresh, "fresh", false, "force a new build of an unchanged recipe (sets a new [build] salt)")
	return cmd
}

// addRevision builds (or reuses) the container's recipe and records a new
// ready revision of it. A missing recipe is written from the defaults.
func (a *app) addRevision(ctx context.Context, name string, cr *containerRecipe, fresh bool, store *materialize.Store) (*materialize.Revision, error) {
	data := cr.Data
	r := cr.Recipe
	if data == nil {
		var err error
		if data, err = a.writeDefaultRecipe(cr.Path); err != nil {
			return nil, err
		}
		if r, _, err = recipe.Parse(cr.Path, data); err != nil {
			return nil, err
		}
	}
	if fresh {
		var salt [8]byte
		_, _ = rand.Read(salt[:]) // crypto/rand does not fail on supported platforms
		var err error
		if data, err = recipe.WithSalt(cr.Path, data, hex.EncodeToString(salt[:])); err != nil {
			return nil, err
		}
		if r, _, err = recipe.Parse(cr.Path, data); err != nil {
			return nil, err
		}
	}
	plan, err := store.Resolve(ctx, r)
	if err != nil {
		return nil, err
	}
	a.log.Debug("resolved", "container", name, "key", plan.Key, "inputs", string(plan.Inputs))
	reused := store.Ready(plan.Key)
	m, err := store.Ensure(ctx, plan)
	if err != nil {
		return nil, withHint(err, "fix the recipe %s or the package index it uses, then run `rezup add %s` again; -D shows pip's full output", cr.Path, name)
	}
	rev, err := store.AddRevision(name, data, m)
	if err != nil {
		return nil, err
	}
	how := "built"
	if reused {
		how = "reused"
	}
	a.infof("revision %s of %s is ready (%s %s, rez %s)", rev.Name, name, how, plan.Key, m.RezVersion)
	return rev, nil
}
