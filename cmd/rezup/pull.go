package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// pullOptions is what `rezup pull` is told.
type pullOptions struct {
	name   string // "" with all
	all    bool
	local  bool
	repair bool
}

func (a *app) pullCommand(runF func(context.Context, *pullOptions) error) *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   "pull [NAME | --all]",
		Short: "Materialize a container's latest revision without launching it",
		Long: `Make the latest ready revision of container NAME (default .main) ready on
this machine: follow the remote root, fetch the build from the shared
cache (or build it), and return. Use it to pre-warm farm nodes.

With --all, pull every container this machine follows, one after the
other in name order: those with a recipe in ~ and those in the local or
remote root. A container that fails does not stop the others; the exit
code is 1 when any failed. A container with no revision anywhere is
reported and skipped: pull never creates a revision.

With --repair, the build is first moved aside (it must not be in use),
then fetched or built again: for a build whose files were deleted.`,
		Example: `  rezup pull prod               # make prod's latest revision ready here, without launching it
  rezup pull --all              # every container this machine follows (farm images, boot scripts)
  rezup pull prod --repair      # fetch or build again a build whose files were deleted
  rezup pull dev --local        # the latest local revision, ignoring the remote root`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.all {
				if len(args) > 0 {
					return usagef("%s --all pulls every container: give no container name (got %q)", cmd.CommandPath(), args[0])
				}
			} else {
				name, err := oneName(cmd, args)
				if err != nil {
					return err
				}
				o.name = name
			}
			if runF == nil {
				runF = a.runPull
			}
			return runF(cmd.Context(), &o)
		},
	}
	cmd.Flags().BoolVarP(&o.local, "local", "l", false, "ignore the remote root")
	cmd.Flags().BoolVar(&o.repair, "repair", false, "move a damaged build aside and fetch or build it again")
	cmd.Flags().BoolVar(&o.all, "all", false, "pull every container this machine follows")
	return cmd
}

// runPull makes o.name's latest revision ready here, or that of every
// container followed with o.all.
func (a *app) runPull(ctx context.Context, o *pullOptions) error {
	if err := a.refuseInside("pull"); err != nil {
		return err
	}
	if o.all {
		return a.pullAll(ctx, o)
	}
	return a.pullOne(ctx, o.name, o.local, o.repair)
}

// pullOne makes name's latest revision ready here, and says which it is.
func (a *app) pullOne(ctx context.Context, name string, local, repair bool) error {
	if repair {
		if err := a.repair(ctx, name, local); err != nil {
			return err
		}
	}
	c, err := a.openContainer(name)
	if err != nil {
		return err
	}
	a.warnUnauthenticated(c, true)
	if !local {
		a.warnMissingRemote(c)
	}
	t, _, err := a.acquireIn(ctx, c, local)
	if err != nil {
		return err
	}
	t.Close()
	if !t.Key().IsZero() {
		// Not the hot path: a pull may look at the whole build.
		if err := a.damaged(name, t, nil); err != nil {
			return err
		}
	}
	from := "local"
	if t.Remote {
		from = "remote"
	}
	built := t.Key().String()
	if t.Revision.PythonBuilt() {
		built = materialize.BuiltByPython // its own venv: no key
	}
	fmt.Fprintf(a.stdout, "%s: revision %s (%s) is ready: %s\n", name, t.Revision.Name, from, built)
	return nil
}

// pullAll pulls every followed container in turn. A failure is reported
// at once, as a failed `rezup pull NAME` would be, and the next container
// is pulled; the error returned at the end names those that failed. Only
// an interrupt stops it early.
func (a *app) pullAll(ctx context.Context, o *pullOptions) error {
	names, failed := a.followedContainers(o.local)
	if len(names) == 0 && len(failed) == 0 {
		a.warnf("no container to pull: no recipe in the home directory, and the roots hold none")
		return nil
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pull --all: interrupted before %s: %w", name, err)
		}
		has, err := a.hasRevision(name, o.local)
		if err == nil && !has {
			// A recipe written but never added, or a root that lists
			// the container with no ready revision yet: there is
			// nothing to pull, and pull never creates a revision.
			fmt.Fprintf(a.stdout, "%s: no revision (nothing to pull)\n", name)
			continue
		}
		if err == nil {
			err = a.pullOne(ctx, name, o.local, o.repair)
		}
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			a.printError(fmt.Errorf("%s: %w", name, err))
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		return withHint(fmt.Errorf("pull --all: %d of %d failed: %s", len(failed), len(names), strings.Join(failed, ", ")),
			"see the errors above; `rezup pull NAME` tries one again")
	}
	return nil
}

// hasRevision tells whether name has a ready revision to pull: in its
// remote root (unless local), or its local root.
func (a *app) hasRevision(name string, local bool) (bool, error) {
	c, err := a.openContainer(name)
	if err != nil {
		return false, err
	}
	roots := []materialize.Root{c.root}
	if c.hasRemote && !local {
		roots = append(roots, c.remote)
	}
	for _, r := range roots {
		_, err := r.Latest(name)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, materialize.ErrNoRevision) {
			return false, err
		}
	}
	return false, nil
}

// followedContainers are the containers this machine follows, sorted:
// those with a recipe in the home directory (~/rezup.toml is .main's),
// and those whose directory exists in their own local root or remote root
// (unless local). A container's roots are its recipe's, else the
// environment's; so the roots searched for names are the environment's
// and those of every recipe, and a name found in a root is kept only if
// that root is its own. A root that cannot be listed is reported, and
// named in failed, so that pull --all does not claim to have pulled all.
func (a *app) followedContainers(local bool) (names, failed []string) {
	seen := map[string]bool{}
	withRecipe := map[string]bool{}
	home, err := a.home()
	if err != nil {
		a.printError(err)
		return nil, []string{"home"}
	}
	files, _ := filepath.Glob(filepath.Join(home, "rezup*.toml")) // the pattern is valid: no error
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.IsDir() {
			continue // not a recipe file: completion and status skip it too
		}
		if n, ok := recipe.ContainerOf(filepath.Base(f)); ok {
			seen[n], withRecipe[n] = true, true
		}
	}
	// The environment's roots are those of a container without a recipe.
	var roots []materialize.Root
	if r, err := a.localRoot(recipe.Default()); err == nil {
		roots = append(roots, r)
	}
	if r, ok, err := a.remoteRoot(recipe.Default()); err == nil && ok && !local {
		roots = append(roots, r)
	}
	for n := range withRecipe {
		c, err := a.openContainer(n)
		if err != nil {
			continue // a broken recipe: its pull reports it
		}
		roots = append(roots, c.root)
		if c.hasRemote && !local {
			roots = append(roots, c.remote)
		}
	}
	listed := map[string]bool{}
	for _, r := range roots {
		if listed[r.Dir] {
			continue
		}
		listed[r.Dir] = true
		ns, err := r.Containers()
		if err != nil {
			a.printError(fmt.Errorf("list the containers of %s: %w", r.Dir, err))
			failed = append(failed, "root "+r.Dir)
			continue
		}
		for _, n := range ns {
			seen[n] = true
		}
	}
	for n := range seen {
		if withRecipe[n] || a.inOwnRoot(n, local) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, failed
}

// inOwnRoot tells whether container name (which has no recipe) has a
// directory in its own local root, or its remote root unless local.
func (a *app) inOwnRoot(name string, local bool) bool {
	c, err := a.openContainer(name)
	if err != nil {
		return false
	}
	dirs := []string{c.root.ContainerDir(name)}
	if c.hasRemote && !local {
		dirs = append(dirs, c.remote.ContainerDir(name))
	}
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}
