package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

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
	strict  bool
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
written to the remote root, for every machine that follows it. What Python
rezup nodes following that root would read differently in the recipe, or
could not read (a mixed array, a list in [env], ...), is a warning, one
line each; --strict (or [root] python-compatible = true in the recipe)
refuses to publish it instead.`,
		Example: `  rezup add                     # a new revision of .main from ~/rezup.toml, then a shell in it
  rezup add dev --skip-use      # dev from ~/rezup.dev.toml (written from the defaults if missing)
  rezup add prod -r -s --strict # build, publish to the cache and remote root; refuse what Python nodes read otherwise
  rezup add prod --frozen -s    # build the latest revision's lock again, without an index`,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			o.name = name
			if o.strict && !o.remote {
				return usagef("add --strict goes with --remote: it checks what Python rezup nodes read in a remote revision")
			}
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
	cmd.Flags().BoolVar(&o.strict, "strict", false, "with --remote: refuse a recipe that Python rezup nodes read differently")
	return cmd
}

// runAdd builds (or reuses) a new revision of o.name, locally or on the
// remote root (materialize.Store.Add), then uses it unless told not to.
func (a *app) runAdd(ctx context.Context, o *addOptions) error {
	if err := a.refuseInside("add"); err != nil {
		return err
	}
	c, err := a.openContainerStrict(o.name)
	if err != nil {
		return err
	}
	// A usage error that needs the recipe to tell: raised here, not in RunE.
	if o.remote && !c.hasRemote {
		return usagef("add --remote needs a remote root: set REZUP_ROOT_REMOTE or [root] remote in %s", c.recipe.Path)
	}
	sc, err := a.cache(c)
	if err != nil {
		return err
	}
	store, err := a.store(c.root, sc)
	if err != nil {
		return err
	}
	req := a.addRequest(c, o.fresh, o.frozen)
	if o.remote {
		req.Remote, req.Strict = &c.remote, o.strict
		// The key that signs the cache's entries signs the revision too.
		if _, req.Signer, err = a.resolveTrust(c.recipe.Recipe); err != nil {
			return err
		}
	}
	added, err := store.Add(ctx, req)
	if err != nil {
		return addHint(err, c)
	}
	m, rev := added.Manifest, added.Revision
	if o.remote {
		a.infof("remote revision %s of %s is published in %s (%s, rez %s)", rev.Name, o.name, c.remote.Dir, m.Key, m.RezVersion)
		// Said once published: a refused publish is its error alone.
		a.warnUnauthenticated(c, false)
	} else {
		a.infof("revision %s of %s is ready (%s, rez %s)", rev.Name, o.name, m.Key, m.RezVersion)
	}
	if o.skipUse {
		return nil
	}
	return a.runUse(ctx, &useOptions{name: o.name, local: !o.remote})
}

// addRequest is what Store.Add is asked for container c: its recipe in the
// home directory, written from the defaults when missing.
func (a *app) addRequest(c *container, fresh, frozen bool) materialize.AddRequest {
	req := materialize.AddRequest{
		Container:  c.name,
		RecipePath: c.recipe.Path,
		Recipe:     c.recipe.Recipe,
		RecipeData: c.recipe.Data,
		Default:    recipe.DefaultTOML(),
		Fresh:      fresh,
		Frozen:     frozen,
	}
	if c.recipe.Data == nil && c.name != recipe.DefaultContainer {
		// A new container builds where .main does: what ~/rezup.toml says
		// of where packages come from, and of the cache, carries over.
		if home, err := a.home(); err == nil {
			mainPath := filepath.Join(home, recipe.FileName(recipe.DefaultContainer))
			if main, err := os.ReadFile(mainPath); err == nil {
				data, carried := recipe.DefaultFrom(mainPath, main)
				if len(carried) > 0 {
					req.Default = data
					req.DefaultNote = fmt.Sprintf("with %s of %s", strings.Join(carried, ", "), mainPath)
				}
			}
		}
	}
	return req
}

// addHint says what to do about an error of Store.Add, for container c.
func addHint(err error, c *container) error {
	name, path := c.name, c.recipe.Path
	var step *materialize.StepError
	var pyd *materialize.PythonDifferencesError
	switch {
	case errors.Is(err, materialize.ErrNothingFrozen):
		return withHint(err, "run `rezup add %s` without --frozen once, with the package index reachable", name)
	case errors.Is(err, materialize.ErrEditMode):
		return withHint(err, "remove edit = true from %s to publish a revision, or run `rezup add %s` without --remote to use it here", path, name)
	case errors.As(err, &pyd) && pyd.Setting:
		return withHint(err, "change %s so that both rezups read it the same way (each line below says how they differ), or set [root] python-compatible = false there once no node runs the Python rezup", path)
	case errors.As(err, &pyd):
		return withHint(err, "change %s so that both rezups read it the same way (each line below says how they differ), or publish without --strict once no node runs the Python rezup", path)
	case errors.Is(err, materialize.ErrNotPublished):
		return withHint(err, "run `rezup add %s --remote` again; set [cache] trusted-keys so that only signed entries are fetched", name)
	case errors.As(err, &step) && step.Step == "publish":
		return withHint(err, "make the shared cache writable, or point REZUP_CACHE at one that is")
	case errors.As(err, &step) && step.Step == "resolve" && step.Frozen && (errors.Is(err, pyresolve.ErrNoNetwork) || errors.Is(err, pyresolve.ErrNotFound)):
		return withHint(err, "check the recipe %s and the package index; without network access, `rezup add %s --frozen` builds the latest revision's lock again without resolving", path, name)
	case errors.As(err, &step) && step.Step == "resolve" && (errors.Is(err, pyresolve.ErrNoNetwork) || errors.Is(err, pyresolve.ErrNotFound)):
		return withHint(err, "check the recipe %s: its [pip] options must reach a package index or a directory of wheels (--find-links) that has what it asks for", path)
	case errors.As(err, &step):
		return withHint(err, "fix the recipe %s or the package index it uses, then run `rezup add %s` again; -D shows pip's full output", path, name)
	}
	return err
}
