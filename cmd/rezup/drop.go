package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/materialize"
)

// dropOptions is what `rezup drop` is told.
type dropOptions struct {
	name  string
	force bool
}

func (a *app) dropCommand(runF func(context.Context, *dropOptions) error) *cobra.Command {
	var o dropOptions
	cmd := &cobra.Command{
		Use:   "drop NAME [--force]",
		Short: "Remove a container's local revisions (refused while in use)",
		Long: `Remove container NAME's revisions from the local root, and the builds no
other container uses. It is refused, and nothing is removed, while any
process still runs in one of the container's builds. The recipe file in
your home directory is kept.

With --force the revisions go even then, and so do the builds nothing
uses; a build in use is never deleted: it stays until ` + "`rezup gc`" + ` finds it
unused. drop never touches the remote root.`,
		Example: `  rezup status dev              # what dev holds
  rezup drop dev                # remove dev's revisions and the builds only they used
  rezup drop dev --force        # even while jobs run in them (their builds stay until unused)`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("drop takes exactly one container name")
			}
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			o.name = name
			if runF == nil {
				runF = a.runDrop
			}
			return runF(cmd.Context(), &o)
		},
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "drop the revisions even while in use (builds in use are kept until unused)")
	return cmd
}

// runDrop removes o.name's local revisions and the builds only they used.
func (a *app) runDrop(ctx context.Context, o *dropOptions) error {
	if err := a.refuseInside("drop"); err != nil {
		return err
	}
	c, err := a.openContainer(o.name)
	if err != nil {
		return err
	}
	root := c.root
	store, err := a.store(root, nil)
	if err != nil {
		return err
	}
	res, err := store.Drop(ctx, o.name, o.force)
	if errors.Is(err, materialize.ErrNoRevision) {
		return withHint(fmt.Errorf("no container %s in %s", o.name, root.Dir), "run `rezup status` to list containers")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "dropped %s: %d revision(s), %d build(s) removed\n", o.name, res.Revisions, len(res.Entries))
	if len(res.InUse) > 0 {
		fmt.Fprintf(a.stdout, "%d build(s) in use were kept; `rezup gc` removes them once unused\n", len(res.InUse))
	}
	if len(res.Others) > 0 {
		fmt.Fprintf(a.stdout, "%d build(s) another account made were kept: only it, or root, can remove them (`rezup gc` as that account)\n", len(res.Others))
	}
	return nil
}
