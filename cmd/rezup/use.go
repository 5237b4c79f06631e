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
	"github.com/rezup/rezup/internal/envlist"
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
// creates it, as in the Python rezup; any other container must be added
// first.
func (a *app) acquire(ctx context.Context, name string, local bool) (*materialize.Target, launch.Options, error) {
	c, err := a.openContainer(name)
	if err != nil {
		return nil, launch.Options{}, err
	}
	return a.acquireIn(ctx, c, local)
}

// acquireIn is acquire for a container already opened.
func (a *app) acquireIn(ctx context.Context, c *container, local bool) (*materialize.Target, launch.Options, error) {
	return a.acquireWith(ctx, c, local, c.name == recipe.DefaultContainer)
}

// acquireExisting is acquire for the commands that only read a revision
// (env, resolve): a container with no revision is an error saying how to
// make one, never a build started behind a command meant for eval.
func (a *app) acquireExisting(ctx context.Context, name string, local bool) (*materialize.Target, launch.Options, error) {
	c, err := a.openContainer(name)
	if err != nil {
		return nil, launch.Options{}, err
	}
	return a.acquireWith(ctx, c, local, false)
}

// acquireWith is acquire, creating the container's first revision when it
// has none and create is set.
func (a *app) acquireWith(ctx context.Context, c *container, local, create bool) (*materialize.Target, launch.Options, error) {
	name := c.name
	store, err := a.storeFor(c.root, nil, c.recipe.Recipe)
	if err != nil {
		return nil, launch.Options{}, err
	}
	l := &materialize.Launcher{
		Store: store,
		OpenCache: func(frozen *recipe.Recipe) (*cache.Cache, error) {
			a.makes() // a fetch or a build follows
			if frozen == nil {
				return a.cache(c)
			}
			return a.cache(c, frozen)
		},
	}
	if create {
		req := a.addRequest(c, false, false)
		l.First = &req
	}
	if c.hasRemote && !local {
		if l.Trust, err = a.revisionTrust(c); err != nil {
			return nil, launch.Options{}, err
		}
	}
	if c.hasRemote {
		l.Remote = &c.remote
	}
	t, err := l.Pick(ctx, name, local)
	if errors.Is(err, materialize.ErrNoRevision) {
		return nil, launch.Options{}, noRevisionError(c, local)
	}
	if err != nil {
		return nil, launch.Options{}, pickError(addHint(err, c), name)
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
		t.Close()
		return nil, nil, err
	}
	for _, w := range warns {
		a.warnf("%s", w)
	}
	return env, func() { t.Close() }, nil
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
	defer t.Close()
	if err := a.checkLaunchable(o.name, t); err != nil {
		return err
	}
	// The revision is ready: a cache helper would outlive rezup's exec.
	a.closeNet()
	env, warns, err := launch.Environ(opts)
	if err != nil {
		return err
	}
	for _, w := range warns {
		a.warnf("%s", w)
	}
	a.log.Debug("launch ready", "container", o.name, "revision", t.Revision.Name, "remote", t.Remote, "key", t.Key(), "elapsed", time.Since(start))
	// What runs next has the terminal: the status line goes first.
	a.stopLive()

	argv := o.argv
	if o.do != "" {
		argv = shellCommand(o.do)
		// The shell would say a missing command in its own words; rezup
		// says it as for `use -- CMD`, with the same exit code.
		if p := doProgram(o.do); p != "" {
			if _, err := envlist.LookPath(p, env); errors.Is(err, envlist.ErrNotFound) {
				return commandFailed(o.name, p, err)
			}
		}
	}
	if argv == nil && !isTerminal(a.stdin) {
		// No terminal: stdin (a pipe, a heredoc, /dev/null) is a script
		// for the container's shell, as the Python rezup runs it; an
		// empty one ends it at once. Its exit status is rezup's.
		shell, err := launch.Shell(a.environ)
		if err != nil {
			return err
		}
		argv = launch.ScriptShell(shell)
		a.log.Debug("no terminal on stdin: the shell reads it as a script", "shell", shell)
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
		err = launch.Exec(argv, env, t.Hold.File(), nil) // the user's shell
		cleanup()
		return commandFailed(o.name, argv[0], a.launchFailed(o.name, t, err))
	}
	if o.noWait {
		_, err := launch.Start(argv, env, t.Hold.File(), t.CheckCommand)
		return commandFailed(o.name, argv[0], a.launchFailed(o.name, t, err))
	}
	return commandFailed(o.name, argv[0], a.launchFailed(o.name, t, launch.Exec(argv, env, t.Hold.File(), t.CheckCommand)))
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
	case errors.Is(err, envlist.ErrNotFound):
		return withHint(&commandError{container, command, 127, err},
			"check that it is installed and on that PATH (`rezup env %s` prints it); a rez package's command runs with `rezup use %s -- rez-env PKG -- CMD`", container, container)
	case errors.Is(err, envlist.ErrNotExecutable):
		return withHint(&commandError{container, command, 126, err}, "make it executable (chmod +x), or run it with its interpreter")
	}
	return err
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

// refuseInside refuses a command that changes a root (add, drop, gc,
// pull) inside a container's shell or command (REZUP_CONTAINER set), as
// the Python rezup refuses every command there: what runs in that
// container would see its root change under it. Reading commands work.
func (a *app) refuseInside(command string) error {
	name, _ := envlist.Lookup(a.environ, "REZUP_CONTAINER")
	if name == "" {
		return nil
	}
	return withHint(fmt.Errorf("rezup %s changes a root, and this runs inside container %s (REZUP_CONTAINER is set)", command, name),
		"exit the container's shell (or run it from outside the container's command) first")
}
