package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/launch"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

type useOptions struct {
	name   string
	local  bool
	noWait bool
	do     string
	argv   []string
}

func (a *app) useCommand() *cobra.Command {
	var o useOptions
	cmd := &cobra.Command{
		Use:   "use [NAME] [-- CMD [ARGS...]]",
		Short: "Open a shell, or run a command, in a container's latest revision",
		Long: `Open an interactive shell in the latest ready revision of container NAME
(default .main), or run CMD there and exit with its exit code.

  rezup use                     # shell in .main
  rezup use prod -- rez-env maya
  rezup use prod --do "rez-env maya -- maya -batch"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			names, argv := args, []string(nil)
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				names, argv = args[:dash], args[dash:]
				if len(argv) == 0 {
					return usagef("nothing after --: give the command to run")
				}
			}
			name, err := oneName(cmd, names)
			if err != nil {
				return err
			}
			if argv != nil && o.do != "" {
				return usagef("give the command either after -- or with --do, not both")
			}
			if o.noWait && argv == nil && o.do == "" {
				return usagef("--no-wait needs a command (after -- or with --do)")
			}
			o.name, o.argv = name, argv
			return a.runUse(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.local, "local", false, "ignore the remote root and use the latest local revision")
	cmd.Flags().BoolVar(&o.noWait, "no-wait", false, "start the command and return at once")
	cmd.Flags().StringVar(&o.do, "do", "", "run this command line with /bin/sh and exit with its code")
	return cmd
}

// runUse is the launch hot path when the revision is local and built:
// one recipe parse, one directory read, one revision.json, one stat, one
// lock, then exec.
func (a *app) runUse(ctx context.Context, o useOptions) error {
	start := time.Now()
	if err := launch.CheckNested(a.environ); err != nil {
		return err
	}
	cr, err := a.loadRecipe(o.name)
	if err != nil {
		return err
	}
	root, err := a.localRoot(cr.Recipe)
	if err != nil {
		return err
	}
	store, err := a.store(root)
	if err != nil {
		return err
	}
	rev, err := root.Latest(o.name)
	if errors.Is(err, materialize.ErrNoRevision) {
		rev, err = a.firstRevision(ctx, o.name, cr, store)
	}
	if err != nil {
		return err
	}
	key, lock, unlock, err := store.Acquire(ctx, rev)
	if err != nil {
		return err
	}
	defer unlock()
	frozen, _, err := recipe.Load(rev.RecipePath())
	if err != nil {
		return fmt.Errorf("revision %s of %s: %w", rev.Name, o.name, err)
	}
	lo := launch.Options{
		Container: o.name,
		Remote:    rev.Remote,
		Recipe:    frozen,
		BinDirs:   store.BinDirs(key, rev.Meta.Venvs),
		Environ:   a.environ,
		GOOS:      runtime.GOOS,
	}
	env, err := launch.Environ(lo)
	if err != nil {
		return err
	}
	a.log.Debug("launch ready", "container", o.name, "revision", rev.Name, "key", key, "elapsed", time.Since(start))

	argv := o.argv
	if o.do != "" {
		argv = shellCommand(o.do)
	}
	if argv == nil {
		shell, err := launch.Shell(a.environ)
		if err != nil {
			return err
		}
		argv, env, cleanup, err := launch.Interactive(shell, env, lo)
		if err != nil {
			return err
		}
		err = launch.Exec(argv, env, lock)
		cleanup()
		return err
	}
	path, err := launch.LookPath(argv[0], env)
	if err != nil {
		return err
	}
	argv = append([]string{path}, argv[1:]...)
	if o.noWait {
		_, err := launch.Start(argv, env, lock)
		return err
	}
	return launch.Exec(argv, env, lock)
}

// firstRevision handles a container without a ready revision: .main is
// created on first use, as in the Python rezup; any other container must
// be added first.
func (a *app) firstRevision(ctx context.Context, name string, cr *containerRecipe, store *materialize.Store) (*materialize.Revision, error) {
	if name != recipe.DefaultContainer {
		if cr.Data == nil {
			return nil, withHint(fmt.Errorf("container %s has no revision, and there is no recipe %s", name, cr.Path),
				"run `rezup add %s` to create it (it writes the default recipe), or write %s first", name, cr.Path)
		}
		return nil, withHint(fmt.Errorf("container %s has no revision yet", name), "run `rezup add %s`", name)
	}
	a.infof("creating container %s", name)
	return a.addRevision(ctx, name, cr, false, store)
}
