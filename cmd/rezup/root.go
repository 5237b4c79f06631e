package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/recipe"
)

// Every command follows one pattern: xCommand(runF) builds the cobra
// command, whose RunE only turns the command line into an xOptions (usage
// errors, exit 2, are raised there) and hands it to runF; a nil runF is
// the real a.runX. Tests pass a runF that captures the options, so the
// command lines are tested without the binary.

// command is rezup's whole command tree.
func (a *app) command() *cobra.Command {
	root := a.rootCommand(nil)
	root.AddCommand(a.useCommand(nil), a.addCommand(nil), a.statusCommand(nil), a.dropCommand(nil), a.pullCommand(nil), a.envCommand(nil), a.resolveCommand(nil), a.completionCommand(nil), a.gcCommand(nil), a.keyCommand(nil), a.diffCommand(nil))
	root.AddCommand(a.buildCommands()...)
	a.completeContainerNames(root)
	return root
}

// rootOptions is what bare `rezup` is told.
type rootOptions struct {
	version bool
	latest  bool
	use     useOptions // without -V or -L, bare rezup is `rezup use .main`
}

// rootCommand is bare `rezup`, without its subcommands, and what they all
// share: the persistent flags, preRun, and flag errors as usage errors.
func (a *app) rootCommand(runF func(context.Context, *rootOptions) error) *cobra.Command {
	var o rootOptions
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
			o.use.name = recipe.DefaultContainer
			if runF == nil {
				runF = a.runRoot
			}
			return runF(cmd.Context(), &o)
		},
	}
	root.Flags().BoolVarP(&o.version, "version", "V", false, "print the version and exit")
	root.Flags().BoolVarP(&o.latest, "latest", "L", false, "print the newest rezup version in $REZUP_UPGRADE_SOURCE and exit")
	root.PersistentFlags().BoolVarP(&a.debug, "debug", "D", false, "print debug logs (and pip's output) to stderr")
	root.PersistentFlags().Bool("no-upgrade", false, "do not upgrade rezup from $REZUP_UPGRADE_SOURCE")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%s: %v", c.CommandPath(), err)
	})
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

func (a *app) runRoot(ctx context.Context, o *rootOptions) error {
	if o.version {
		fmt.Fprintln(a.stdout, currentVersionLine())
		return nil
	}
	if o.latest {
		return a.printLatest()
	}
	return a.runUse(ctx, &o.use)
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
