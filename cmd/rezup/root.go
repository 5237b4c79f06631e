package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rezup/rezup/recipe"
)

// Every command follows one pattern: xCommand(runF) builds the cobra
// command, whose RunE only turns the command line into an xOptions (usage
// errors, exit 2, are raised there) and hands it to runF; a nil runF is
// the real a.runX. Tests pass a runF that captures the options, so the
// command lines are tested without the binary.

// command is rezup's whole command tree.
func (a *app) command() *cobra.Command { return a.commandFor(nil) }

// namedCommand is a command of rezup and how to build it.
type namedCommand struct {
	name  string
	build func() *cobra.Command
}

// commandFor is the command tree a run with args needs. A launch gets
// only its own: `rezup use …` and `rezup env …` the root and that
// command, bare `rezup` and `rezup -V` (only flags of the root) the root
// alone. Building every command, with its flags and help, cost a warm
// launch a tenth of its own CPU. Everything else (the other commands,
// help, completion, a word that names no command, a flag before the
// command) gets the whole tree, so that help lists, and mistakes are
// matched against, every command.
func (a *app) commandFor(args []string) *cobra.Command {
	commands := []namedCommand{
		{"use", func() *cobra.Command { return a.useCommand(nil) }},
		{"add", func() *cobra.Command { return a.addCommand(nil) }},
		{"status", func() *cobra.Command { return a.statusCommand(nil) }},
		{"drop", func() *cobra.Command { return a.dropCommand(nil) }},
		{"pull", func() *cobra.Command { return a.pullCommand(nil) }},
		{"env", func() *cobra.Command { return a.envCommand(nil) }},
		{"resolve", func() *cobra.Command { return a.resolveCommand(nil) }},
		{"completion", func() *cobra.Command { return a.completionCommand(nil) }},
		{"gc", func() *cobra.Command { return a.gcCommand(nil) }},
		{"key", func() *cobra.Command { return a.keyCommand(nil) }},
		{"diff", func() *cobra.Command { return a.diffCommand(nil) }},
	}
	root := a.rootCommand(nil)
	switch i := commandNamed(commands, args); {
	case i >= 0:
		root.AddCommand(commands[i].build())
	case args != nil && onlyRootFlags(args):
	default:
		for _, c := range commands {
			root.AddCommand(c.build())
		}
		root.AddCommand(a.buildCommands()...)
	}
	root.SetHelpCommand(helpCommand())
	a.completeContainerNames(root)
	return root
}

// launches reports whether the command named name is a launch (use,
// env; bare rezup is the root's): one that builds only its own command
// (commandFor) and makes nothing until it must fetch or build
// (app.makes).
func launches(name string) bool { return name == "use" || name == "env" }

// commandNamed is the index of the launch command args' first word
// names, or -1: when it names another, or none, or args ask for help.
func commandNamed(commands []namedCommand, args []string) int {
	if len(args) == 0 || !launches(args[0]) || slices.Contains(args, "-h") || slices.Contains(args, "--help") {
		return -1
	}
	return slices.IndexFunc(commands, func(c namedCommand) bool { return c.name == args[0] })
}

// onlyRootFlags reports whether args are only flags of the root (no
// word, no help): the root alone runs them.
func onlyRootFlags(args []string) bool {
	for _, a := range args {
		switch a {
		case "-V", "--version", "-L", "--latest", "-D", "--debug", "-q", "--quiet", "--no-upgrade":
		default:
			return false
		}
	}
	return true
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
		Long: `rezup launches Rez from versioned Python environments. A container
(.main, prod, dev, …) is made from a recipe (~/rezup.toml for .main,
~/rezup.NAME.toml for NAME); each "rezup add" makes a new revision of it,
and launches use the latest ready one.

Run "rezup" alone to use the default container (.main), creating it on the
first run from ~/rezup.toml; "rezup use" opens a shell or runs a command in
any container.`,
		Example: `  rezup                            # a shell in .main (built from ~/rezup.toml on the first run)
  rezup use prod -- rez-env maya   # run a command in prod's latest revision
  rezup add dev --skip-use         # a new revision of dev from ~/rezup.dev.toml
  rezup status                     # list the containers`,
		// Bare rezup takes no argument: a first argument that is not a
		// command is a typo, and cobra's own check (and its suggestions)
		// does not run for a root with Args, so unknownCommand does it.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if a.debug {
				a.log = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
			}
			if !a.debug && !a.quiet && isTerminal(a.stderr) {
				a.live = &liveLine{a: a, now: time.Now}
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
	root.PersistentFlags().BoolVarP(&a.quiet, "quiet", "q", false, "print errors only")
	root.PersistentFlags().Bool("no-upgrade", false, "do not upgrade rezup from $REZUP_UPGRADE_SOURCE")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// "rezup pul --all": a first word that names no command leaves
		// cobra parsing the root's flags, which fails on the flag of the
		// command meant; the words gathered by then hold the real mistake.
		if args := c.Flags().Args(); c.HasSubCommands() && len(args) > 0 {
			return unknownCommand(c, args[0])
		}
		return unknownFlag(c, err)
	})
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// unknownCommand is the usage error for an argument of cmd that names
// none of its commands, with the commands close to it (Levenshtein
// distance of 2 or less, or a prefix) as the hint, as cobra suggests them.
func unknownCommand(cmd *cobra.Command, arg string) error {
	// The help to see is cmd's, also when cmd is not the command that
	// ran ("rezup help nosuch").
	err := &usageError{msg: fmt.Sprintf("unknown command %q for %q", arg, cmd.CommandPath()), cmd: cmd.CommandPath()}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, which it sets only on its own path
	}
	switch s := cmd.SuggestionsFor(arg); len(s) {
	case 0:
		return err
	case 1:
		return withHint(err, "did you mean this? %s", s[0])
	default:
		return withHint(err, "did you mean one of these? %s", strings.Join(s, ", "))
	}
}

// unknownFlag is the usage error of a flag cmd cannot parse, with the
// flags close to a mistyped one (--dryrun: --dry-run) as the hint.
func unknownFlag(cmd *cobra.Command, err error) error {
	ue := &usageError{msg: fmt.Sprintf("%s: %v", cmd.CommandPath(), err)}
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return ue
	}
	name, _, _ = strings.Cut(name, "=")
	var close []string
	seen := map[string]bool{}
	visit := func(f *pflag.Flag) {
		if seen[f.Name] || f.Hidden {
			return
		}
		seen[f.Name] = true
		if d := editDistance(name, f.Name); d <= 2 || strings.HasPrefix(f.Name, name) || strings.ReplaceAll(f.Name, "-", "") == strings.ReplaceAll(name, "-", "") {
			close = append(close, "--"+f.Name)
		}
	}
	cmd.LocalFlags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	switch len(close) {
	case 0:
		return ue
	case 1:
		return withHint(ue, "did you mean this? %s (see %s --help)", close[0], cmd.CommandPath())
	default:
		sort.Strings(close)
		return withHint(ue, "did you mean one of these? %s (see %s --help)", strings.Join(close, ", "), cmd.CommandPath())
	}
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// helpCommand is "rezup help [COMMAND]": cobra's, with help text of its
// own and an unknown topic as a usage error (cobra prints the root's usage
// and exits 0).
func helpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND...]",
		Short: "Help about any command",
		Long: `Print the help of a command: what it does, examples, and its flags; the
same as "rezup COMMAND --help". Without a command, rezup's own help.`,
		Example: `  rezup help               # every command
  rezup help use           # the same as: rezup use --help
  rezup help key generate`,
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			parent, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range parent.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			target, rest, err := c.Root().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 {
				return unknownCommand(target, rest[0])
			}
			target.InitDefaultHelpFlag() // its -h line, as --help shows it
			return target.Help()
		},
	}
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
