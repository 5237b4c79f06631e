package main

import (
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/recipe"
)

func (a *app) rootCommand() *cobra.Command {
	var showVersion bool
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
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			if a.debug {
				a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if showVersion {
				fmt.Fprintf(a.stdout, "rezup %s\n", rezupVersion())
				return nil
			}
			uo.name = recipe.DefaultContainer
			return a.runUse(cmd.Context(), uo)
		},
	}
	root.Flags().BoolVarP(&showVersion, "version", "V", false, "print the version and exit")
	root.PersistentFlags().BoolVarP(&a.debug, "debug", "D", false, "print debug logs (and pip's output) to stderr")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%s: %v", c.CommandPath(), err)
	})
	root.AddCommand(a.useCommand(), a.addCommand(), a.statusCommand(), a.dropCommand(), a.pullCommand(), a.gcCommand())
	root.CompletionOptions.HiddenDefaultCmd = true
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
