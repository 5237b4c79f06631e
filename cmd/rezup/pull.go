package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/materialize"
)

func (a *app) pullCommand() *cobra.Command {
	var local bool
	cmd := &cobra.Command{
		Use:   "pull [NAME]",
		Short: "Materialize a container's latest revision without launching it",
		Long: `Make the latest ready revision of container NAME (default .main) ready on
this machine: follow the remote root, fetch the build from the shared
cache (or build it), and return. Use it to pre-warm farm nodes.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := oneName(cmd, args)
			if err != nil {
				return err
			}
			t, _, err := a.acquire(cmd.Context(), name, local)
			if err != nil {
				return err
			}
			t.Release()
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
		},
	}
	cmd.Flags().BoolVarP(&local, "local", "l", false, "ignore the remote root")
	return cmd
}
