package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/materialize"
)

// pullOptions is what `rezup pull` is told.
type pullOptions struct {
	name   string
	local  bool
	repair bool
}

func (a *app) pullCommand(runF func(context.Context, *pullOptions) error) *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   "pull [NAME]",
		Short: "Materialize a container's latest revision without launching it",
		Long: `Make the latest ready revision of container NAME (default .main) ready on
this machine: follow the remote root, fetch the build from the shared
cache (or build it), and return. Use it to pre-warm farm nodes.

With --repair, the build is first moved aside (it must not be in use),
then fetched or built again: for a build whose files were deleted.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			o.name = name
			if runF == nil {
				runF = a.runPull
			}
			return runF(cmd.Context(), &o)
		},
	}
	cmd.Flags().BoolVarP(&o.local, "local", "l", false, "ignore the remote root")
	cmd.Flags().BoolVar(&o.repair, "repair", false, "move a damaged build aside and fetch or build it again")
	return cmd
}

// runPull makes o.name's latest revision ready here, and says which it is.
func (a *app) runPull(ctx context.Context, o *pullOptions) error {
	if o.repair {
		if err := a.repair(ctx, o.name, o.local); err != nil {
			return err
		}
	}
	c, err := a.openContainer(o.name)
	if err != nil {
		return err
	}
	a.warnUnauthenticated(c)
	t, _, err := a.acquireIn(ctx, c, o.local)
	if err != nil {
		return err
	}
	t.Release()
	if !t.Key().IsZero() {
		// Not the hot path: a pull may look at the whole build.
		if err := a.damaged(o.name, t, nil); err != nil {
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
	fmt.Fprintf(a.stdout, "%s: revision %s (%s) is ready: %s\n", o.name, t.Revision.Name, from, built)
	return nil
}
