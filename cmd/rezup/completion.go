package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// completionOptions is what `rezup completion` is told.
type completionOptions struct {
	shell string
	root  *cobra.Command // the tree whose completion script is printed
}

// completionShells are the shells `rezup completion` writes a script for;
// pwsh is another name for powershell.
var completionShells = []string{"bash", "zsh", "fish", "powershell", "pwsh"}

func (a *app) completionCommand(runF func(context.Context, *completionOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script",
		Long: `Print the completion script of a shell. Commands and container names
(from your recipes and the local and remote roots) then complete with Tab,
and so do diff's revisions.`,
		Example: `  source <(rezup completion bash)                                 # in ~/.bashrc
  rezup completion zsh > "${fpath[1]}/_rezup"
  rezup completion fish > ~/.config/fish/completions/rezup.fish
  rezup completion powershell | Out-String | Invoke-Expression    # in $PROFILE`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("completion takes one shell: bash, zsh, fish or powershell")
			}
			if !slices.Contains(completionShells, args[0]) {
				return usagef("completion: unknown shell %q: use bash, zsh, fish or powershell", args[0])
			}
			o := &completionOptions{shell: args[0], root: cmd.Root()}
			if runF == nil {
				runF = a.runCompletion
			}
			return runF(cmd.Context(), o)
		},
	}
}

// runCompletion prints o.root's completion script for o.shell.
func (a *app) runCompletion(_ context.Context, o *completionOptions) error {
	switch o.shell {
	case "bash":
		return o.root.GenBashCompletionV2(a.stdout, true)
	case "zsh":
		return o.root.GenZshCompletion(a.stdout)
	case "fish":
		return o.root.GenFishCompletion(a.stdout, true)
	case "powershell", "pwsh":
		return o.root.GenPowerShellCompletionWithDesc(a.stdout)
	}
	return fmt.Errorf("completion: no script for shell %q", o.shell) // RunE lets only completionShells through
}

// completeContainerNames makes the container argument of these commands
// complete with the known container names.
func (a *app) completeContainerNames(root *cobra.Command) {
	for _, c := range root.Commands() {
		switch c.Name() {
		case "diff":
			c.ValidArgsFunction = a.diffArgs
		case "use", "add", "status", "drop", "env", "resolve", "pull":
			if c.ValidArgsFunction == nil {
				c.ValidArgsFunction = a.containerArgs
			}
		}
	}
}

// containerArgs completes the one NAME before "--"; what follows "--" is a
// command (use) or a Rez request (resolve), left to the shell.
func (a *app) containerArgs(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if dashTyped() {
		return nil, cobra.ShellCompDirectiveDefault
	}
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, n := range a.completionNames() {
		if strings.HasPrefix(n, toComplete) {
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// diffArgs completes diff's NAME, then the names of its revisions.
func (a *app) diffArgs(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return a.containerArgs(cmd, args, toComplete)
	}
	if len(args) > 2 || revisionSpec().MatchString(args[0]) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	local, _ := cmd.Flags().GetBool("local") // defined by diffCommand: no error
	set, err := a.revisionSet(args[0], local)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp // a Tab must not print errors
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range append(ready(set.remote), ready(set.local)...) {
		if !seen[r.Name] && strings.HasPrefix(r.Name, toComplete) {
			seen[r.Name] = true
			out = append(out, r.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

// dashTyped reports whether "--" comes before the word being completed.
// cmd.ArgsLenAtDash cannot tell: cobra's completion parses the flags once
// with an extra "--" appended, and pflag keeps that position. The command
// line of a completion request is the process's own (rezup __complete …).
func dashTyped() bool {
	if len(os.Args) < 2 {
		return false
	}
	return slices.Contains(os.Args[1:len(os.Args)-1], "--")
}

// completionNames are the known containers. Errors only shorten the
// list: a Tab must not print them.
func (a *app) completionNames() []string {
	names, _ := a.knownContainers() // see above: errors only shorten the list
	return names
}
