package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/launch"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// useOptions is what `rezup use` is told.
type useOptions struct {
	name   string
	local  bool
	noWait bool
	do     string
	argv   []string // after --; nil without --
}

func (a *app) useCommand(runF func(context.Context, *useOptions) error) *cobra.Command {
	var o useOptions
	cmd := &cobra.Command{
		Use:   "use [NAME] [-- CMD [ARGS...]]",
		Short: "Open a shell, or run a command, in a container's latest revision",
		Long: `Open an interactive shell in the latest ready revision of container NAME
(default .main), or run CMD there and exit with its exit code.

The remote root's latest revision is preferred (its build fetched from the
shared cache, or built here) unless --local is given. The shell or command
holds its build in use while it runs: gc and drop leave it alone, and a
new revision is only picked up by the next launch.`,
		Example: `  rezup use                                          # a shell in .main
  rezup use prod -- rez-env maya                     # run a command; exit with its exit code
  rezup use prod --do "rez-env maya -- maya -batch"  # a command line, run by /bin/sh
  rezup use prod --local --no-wait -- rez-env nuke   # the latest local revision; return at once`,
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
			if runF == nil {
				runF = a.runUse
			}
			return runF(cmd.Context(), &o)
		},
	}
	// The short forms are the Python rezup's (-d from its 2.x CLI).
	cmd.Flags().BoolVarP(&o.local, "local", "l", false, "ignore the remote root and use the latest local revision")
	cmd.Flags().BoolVarP(&o.noWait, "no-wait", "n", false, "start the command and return at once")
	cmd.Flags().StringVarP(&o.do, "do", "d", "", "run this command line with /bin/sh and exit with its code")
	return cmd
}

// acquire picks container name's latest ready revision (remote first,
// unless local) with materialize.Launcher, and returns it with its build
// held in use, and the options to launch it with. A first use of .main
// creates it (see firstRevision).
func (a *app) acquire(ctx context.Context, name string, local bool) (*materialize.Target, launch.Options, error) {
	c, err := a.openContainer(name)
	if err != nil {
		return nil, launch.Options{}, err
	}
	return a.acquireIn(ctx, c, local)
}

// acquireIn is acquire for a container already opened.
func (a *app) acquireIn(ctx context.Context, c *container, local bool) (*materialize.Target, launch.Options, error) {
	return a.acquireWith(ctx, c, local, func(ctx context.Context, s *materialize.Store) (*materialize.Revision, error) {
		return a.firstRevision(ctx, c, local, s)
	})
}

// acquireExisting is acquire for the commands that only read a revision
// (env, resolve): a container with no revision is an error saying how to
// make one, never a build started behind a command meant for eval.
func (a *app) acquireExisting(ctx context.Context, name string, local bool) (*materialize.Target, launch.Options, error) {
	c, err := a.openContainer(name)
	if err != nil {
		return nil, launch.Options{}, err
	}
	return a.acquireWith(ctx, c, local, func(context.Context, *materialize.Store) (*materialize.Revision, error) {
		return nil, noRevisionError(c, local)
	})
}

// acquireWith is acquire with first deciding what a container without a
// ready revision gets.
func (a *app) acquireWith(ctx context.Context, c *container, local bool, first func(context.Context, *materialize.Store) (*materialize.Revision, error)) (*materialize.Target, launch.Options, error) {
	name := c.name
	store, err := a.store(c.root, nil)
	if err != nil {
		return nil, launch.Options{}, err
	}
	l := &materialize.Launcher{
		Store: store,
		OpenCache: func(frozen *recipe.Recipe) (*cache.Cache, error) {
			if frozen == nil {
				return a.cache(c)
			}
			return a.cache(c, frozen)
		},
		FirstRevision: first,
	}
	if c.hasRemote {
		l.Remote = &c.remote
	}
	t, err := l.Pick(ctx, name, local)
	if err != nil {
		return nil, launch.Options{}, pickError(err, name)
	}
	return t, launch.Options{
		Container: name,
		Remote:    t.Remote,
		Recipe:    t.Recipe,
		BinDirs:   t.BinDirs,
		Environ:   a.environ,
		GOOS:      runtime.GOOS,
	}, nil
}

// pickError adds what to do to an error of materialize.Launcher.Pick: a
// remote root that cannot be read, or a revision's frozen recipe that
// cannot be read at all (not TOML; the lenient parse accepts anything
// else). Other errors pass unchanged.
func pickError(err error, name string) error {
	var re *materialize.RemoteRootError
	if errors.As(err, &re) {
		return withHint(err, "check the remote root %s, or run with --local", re.Root.Dir)
	}
	var rev *materialize.RevisionError
	var bad *recipe.Error
	if !errors.As(err, &rev) || !errors.As(err, &bad) {
		return err
	}
	if rev.Revision.Remote {
		return withHint(err, "publish a new revision with `rezup add %s --remote`, or run with --local", name)
	}
	return withHint(err, "make a new revision with `rezup add %s`, or remove %s to use the one before", name, rev.Revision.Dir)
}

// launchEnv is the environment `use` runs commands with, and the release
// of the in-use lock it holds meanwhile.
func (a *app) launchEnv(ctx context.Context, name string, local bool) (env []string, release func(), err error) {
	t, opts, err := a.acquireExisting(ctx, name, local)
	if err != nil {
		return nil, nil, err
	}
	env, warns, err := launch.Environ(opts)
	if err != nil {
		t.Release()
		return nil, nil, err
	}
	for _, w := range warns {
		a.warnf("%s", w)
	}
	return env, func() { t.Release() }, nil
}

// runUse launches a shell or a command in a container's latest revision.
func (a *app) runUse(ctx context.Context, o *useOptions) error {
	start := time.Now()
	if err := launch.CheckNested(a.environ); err != nil {
		return err
	}
	t, opts, err := a.acquire(ctx, o.name, o.local)
	if err != nil {
		return err
	}
	defer t.Release()
	if err := a.checkLaunchable(o.name, t); err != nil {
		return err
	}
	// The revision is ready: a cache helper would outlive rezup's exec.
	a.closeNet()
	if o.argv == nil && o.do == "" && !isTerminal(a.stdin) {
		// A shell reading a pipe or /dev/null (a script, a cron job, a
		// farm's job wrapper) would run nothing, or whatever comes in,
		// and bash complains about job control: the revision is ready,
		// say how to run something in it instead.
		a.infof("%s", noShellMessage(o.name, t.Revision.Name))
		return nil
	}
	env, warns, err := launch.Environ(opts)
	if err != nil {
		return err
	}
	for _, w := range warns {
		a.warnf("%s", w)
	}
	a.log.Debug("launch ready", "container", o.name, "revision", t.Revision.Name, "remote", t.Remote, "key", t.Key(), "elapsed", time.Since(start))

	argv := o.argv
	if o.do != "" {
		argv = shellCommand(o.do)
		// The shell would say a missing command in its own words; rezup
		// says it as for `use -- CMD`, with the same exit code.
		if p := doProgram(o.do); p != "" {
			if _, err := launch.LookPath(p, env); errors.Is(err, launch.ErrNotFound) {
				return commandFailed(o.name, p, err)
			}
		}
	}
	if argv == nil {
		shell, err := launch.Shell(a.environ)
		if err != nil {
			return err
		}
		argv, env, cleanup, err := launch.Interactive(shell, env, opts)
		if err != nil {
			return err
		}
		err = launch.Exec(argv, env, t.Lease.File())
		cleanup()
		return commandFailed(o.name, argv[0], a.launchFailed(o.name, t, err))
	}
	if o.noWait {
		_, err := launch.Start(argv, env, t.Lease.File())
		return commandFailed(o.name, argv[0], a.launchFailed(o.name, t, err))
	}
	return commandFailed(o.name, argv[0], a.launchFailed(o.name, t, launch.Exec(argv, env, t.Lease.File())))
}

// commandError is a command that `use` cannot run: not found (Code 127)
// or not executable (126), the codes a shell exits with, so that a
// script running rezup tells them from the command's own failures.
type commandError struct {
	Container, Command string
	Code               int
	err                error
}

func (e *commandError) Error() string {
	if e.Code == 126 {
		return fmt.Sprintf("command %q in container %s is not executable", e.Command, e.Container)
	}
	if strings.ContainsRune(e.Command, '/') || strings.ContainsRune(e.Command, filepath.Separator) {
		return fmt.Sprintf("command %q not found", e.Command)
	}
	return fmt.Sprintf("command %q not found on the PATH of container %s", e.Command, e.Container)
}

func (e *commandError) Unwrap() error { return e.err }

// commandFailed turns the error of launching command in container into a
// *commandError with what to do, when the command cannot be found or run;
// any other error (a damaged build among them) is returned as is.
func commandFailed(container, command string, err error) error {
	switch {
	case errors.Is(err, launch.ErrNotFound):
		return withHint(&commandError{container, command, 127, err},
			"check that it is installed and on that PATH (`rezup env %s` prints it); a rez package's command runs with `rezup use %s -- rez-env PKG -- CMD`", container, container)
	case errors.Is(err, launch.ErrNotExecutable):
		return withHint(&commandError{container, command, 126, err}, "make it executable (chmod +x), or run it with its interpreter")
	}
	return err
}

// firstRevision handles a container without a ready revision: .main is
// created on first use, as in the Python rezup; any other container must
// be added first.
func (a *app) firstRevision(ctx context.Context, c *container, local bool, store *materialize.Store) (*materialize.Revision, error) {
	name, cr := c.name, c.recipe
	if name != recipe.DefaultContainer {
		return nil, noRevisionError(c, local)
	}
	a.infof("creating container %s", name)
	before := snapshotRoot(store.Root())
	rev, err := a.addRevision(ctx, &addOptions{name: name}, cr, store, store.Root())
	if err != nil {
		before.undo(store)
		return nil, err
	}
	return rev, nil
}

// noRevisionError is the one wording, for every command, of a container
// with no ready revision where it was looked for: the local root, and the
// remote root unless local.
func noRevisionError(c *container, local bool) error {
	where := c.root.Dir
	if c.hasRemote && !local {
		where += " or in the remote root " + c.remote.Dir
	}
	add := "rezup add"
	if c.name != recipe.DefaultContainer {
		add += " " + c.name
	}
	if c.recipe.Data == nil {
		return withHint(fmt.Errorf("no revision of %s in %s, and no recipe %s", c.name, where, c.recipe.Path),
			"run `%s` to make one (it writes the default recipe first), or write %s first", add, c.recipe.Path)
	}
	return withHint(fmt.Errorf("no revision of %s in %s", c.name, where), "run `%s` to make one", add)
}

// noShellMessage is what `use` without a command says when stdin is not
// a terminal, instead of starting a shell.
func noShellMessage(name, revision string) string {
	use := "rezup use"
	if name != recipe.DefaultContainer {
		use += " " + name
	}
	return fmt.Sprintf("revision %s of %s is ready; no terminal on stdin, so no shell: run a command with `%s -- CMD` or `%s --do \"CMD\"`", revision, name, use, use)
}
