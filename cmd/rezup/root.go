package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/recipe"
)

func (a *app) rootCommand() *cobra.Command {
	var showVersion, latest bool
	var uo useOptions
	root := &cobra.Command{
		Use:   "rezup",
		Short: "Launch Rez from versioned, content-addressed environments",
		Long: `rezup launches Rez from versioned Python environments.

Run "rezup" alone to use the default container (.main), creating it on the
first run from ~/rezup.toml.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for rezup", args[0])
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.debug {
				a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			return a.preRun(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				fmt.Fprintf(a.stdout, "rezup %s\n", rezupVersion())
				return nil
			}
			if latest {
				return a.printLatest()
			}
			uo.name = recipe.DefaultContainer
			return a.runUse(cmd.Context(), uo)
		},
	}
	root.Flags().BoolVarP(&showVersion, "version", "V", false, "print the version and exit")
	root.Flags().BoolVarP(&latest, "latest", "L", false, "print the newest rezup version in $REZUP_UPGRADE_SOURCE and exit")
	root.PersistentFlags().BoolVarP(&a.debug, "debug", "D", false, "print debug logs (and pip's output) to stderr")
	root.PersistentFlags().Bool("no-upgrade", false, "do not upgrade rezup from $REZUP_UPGRADE_SOURCE")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%s: %v", c.CommandPath(), err)
	})
	root.AddCommand(a.useCommand(), a.addCommand(), a.statusCommand(), a.dropCommand(), a.pullCommand(), a.envCommand(), a.resolveCommand(), a.completionCommand(), a.gcCommand())
	root.AddCommand(a.keyCommand())
	root.CompletionOptions.DisableDefaultCmd = true
	a.completeContainerNames(root)
	return root
}

// oneName takes the optional container NAME argument.
func oneName(cmd *cobra.Command, args []string) (string, error) {
	switch len(args) {
	case 0:
		return recipe.DefaultContainer, nil
	case 1:
		if err := recipe.ValidContainerName(args[0]); err != nil {
			return "", err
		}
		return args[0], nil
	}
	return "", usagef("%s takes at most one container name, got %d arguments", cmd.CommandPath(), len(args))
}
