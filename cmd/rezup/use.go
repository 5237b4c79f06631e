package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/fsx"
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

// target is a revision ready to launch: its entry held in use.
type target struct {
	rev     *materialize.Revision // the local revision (a pulled mirror when remote)
	remote  bool                  // followed from the remote root
	key     cas.Key
	lock    *fsx.Lock
	release func()
	opts    launch.Options
}

// acquire resolves container name to its latest ready revision (remote
// first, unless local), materializes it when needed and takes its in-use
// lock. On the hot path (a local revision whose entry is here) that is a
// recipe parse, a directory read or two, a small JSON file, a stat and a
// lock: no python, no hashing, no tree walk.
func (a *app) acquire(ctx context.Context, name string, local bool) (*target, error) {
	for attempt := 0; ; attempt++ {
		t, err := a.acquireOnce(ctx, name, local)
		// A collector may remove the revision picked as latest once a
		// newer one exists (the build it uses stays while held): start
		// again from the newer one.
		if err != nil && errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			a.log.Debug("revision vanished; looking again", "container", name, "err", err)
			continue
		}
		return t, err
	}
}

func (a *app) acquireOnce(ctx context.Context, name string, local bool) (*target, error) {
	c, err := a.openContainer(name)
	if err != nil {
		return nil, err
	}
	cr, root, remote := c.recipe, c.root, c.remote
	// The cache is opened lazily: the hot path never needs it.
	var store *materialize.Store
	openStore := func(more ...*recipe.Recipe) error {
		cache, err := a.cache(c, more...)
		if err != nil {
			return err
		}
		store, err = a.store(root, cache)
		return err
	}

	var rev *materialize.Revision
	fromRemote := false
	if c.hasRemote && !local {
		rrev, err := remote.Latest(name)
		switch {
		case err == nil:
			a.warnSkipped(rrev)
			fromRemote = true
			if lrev, err := root.Revision(name, rrev.Name); err == nil && lrev.Ready() {
				rev = lrev
				break
			}
			rr, _, err := recipe.LoadFrozen(rrev.RecipePath()) // its warnings come with the launch
			if err != nil {
				return nil, frozenError(fmt.Errorf("remote revision %s of %s: %w", rrev.Name, name, err), rrev, name)
			}
			if err := openStore(rr); err != nil {
				return nil, err
			}
			if rev, err = store.Pull(ctx, rrev); err != nil {
				return nil, err
			}
		case errors.Is(err, materialize.ErrNoRevision):
			a.log.Debug("no remote revision; using the local root", "container", name, "remote", remote.Dir)
		default:
			return nil, withHint(err, "check the remote root %s, or run with --local", remote.Dir)
		}
	}
	if rev == nil {
		rev, err = root.Latest(name)
		if err == nil {
			a.warnSkipped(rev)
		}
		if errors.Is(err, materialize.ErrNoRevision) {
			if err := openStore(); err != nil {
				return nil, err
			}
			rev, err = a.firstRevision(ctx, name, cr, store)
		}
		if err != nil {
			return nil, err
		}
	}
	if store == nil {
		if store, err = a.store(root, nil); err != nil {
			return nil, err
		}
		// Only needed when the entry is missing: open the cache then.
		if !rev.PythonBuilt() && !store.Ready(mustKey(rev)) {
			frozen, _, _ := recipe.LoadFrozen(rev.RecipePath()) // a bad recipe is reported by Acquire
			if err := openStore(frozen); err != nil {
				return nil, err
			}
		}
	}
	key, lock, release, err := store.Acquire(ctx, rev)
	if err != nil {
		return nil, frozenError(err, rev, name)
	}
	// A revision's frozen recipe never stops a launch: what it could
	// not understand is shown at every launch. Its other warnings were
	// shown when it was added or built.
	frozen, warns, err := recipe.LoadFrozen(rev.RecipePath())
	if err != nil {
		release()
		return nil, frozenError(fmt.Errorf("revision %s of %s: %w", rev.Name, name, err), rev, name)
	}
	for _, w := range warns {
		if w.Ignored {
			a.warnf("%s", w)
		}
	}
	return &target{
		rev: rev, remote: fromRemote, key: key, lock: lock, release: release,
		opts: launch.Options{
			Container: name,
			Remote:    fromRemote,
			Recipe:    frozen,
			BinDirs:   store.RevisionBinDirs(rev, key),
			Environ:   a.environ,
			GOOS:      runtime.GOOS,
		},
	}, nil
}

// frozenError adds what to do to an error about a revision's frozen
// recipe that cannot be read at all (not TOML): the lenient parse accepts
// anything else. Other errors pass unchanged.
func frozenError(err error, rev *materialize.Revision, name string) error {
	var re *recipe.Error
	if !errors.As(err, &re) {
		return err
	}
	if rev.Remote {
		return withHint(err, "publish a new revision with `rezup add %s --remote`, or run with --local", name)
	}
	return withHint(err, "make a new revision with `rezup add %s`, or remove %s to use the one before", name, rev.Dir)
}

// warnSkipped warns, one line each, about the newer revisions Latest
// passed over because their revision.json could not be read.
func (a *app) warnSkipped(rev *materialize.Revision) {
	for _, s := range rev.Skipped {
		a.warnf("revision %s of %s is skipped: %v; using %s", s.Name, s.Container, s.Err, rev.Name)
	}
}

// mustKey is a revision's key, or the zero key (never ready) without one.
func mustKey(rev *materialize.Revision) cas.Key {
	k, _ := rev.Key()
	return k
}

// launchEnv is the environment `use` runs commands with, and the release
// of the in-use lock it holds meanwhile.
func (a *app) launchEnv(ctx context.Context, name string, local bool) (env []string, release func(), err error) {
	t, err := a.acquire(ctx, name, local)
	if err != nil {
		return nil, nil, err
	}
	env, warns, err := launch.Environ(t.opts)
	if err != nil {
		t.release()
		return nil, nil, err
	}
	for _, w := range warns {
		a.warnf("%s", w)
	}
	return env, t.release, nil
}

// runUse launches a shell or a command in a container's latest revision.
func (a *app) runUse(ctx context.Context, o *useOptions) error {
	start := time.Now()
	if err := launch.CheckNested(a.environ); err != nil {
		return err
	}
	t, err := a.acquire(ctx, o.name, o.local)
	if err != nil {
		return err
	}
	defer t.release()
	env, warns, err := launch.Environ(t.opts)
	if err != nil {
		return err
	}
	for _, w := range warns {
		a.warnf("%s", w)
	}
	a.log.Debug("launch ready", "container", o.name, "revision", t.rev.Name, "remote", t.remote, "key", t.key, "elapsed", time.Since(start))

	argv := o.argv
	if o.do != "" {
		argv = shellCommand(o.do)
	}
	if argv == nil {
		shell, err := launch.Shell(a.environ)
		if err != nil {
			return err
		}
		argv, env, cleanup, err := launch.Interactive(shell, env, t.opts)
		if err != nil {
			return err
		}
		err = launch.Exec(argv, env, t.lock)
		cleanup()
		return err
	}
	if o.noWait {
		_, err := launch.Start(argv, env, t.lock)
		return err
	}
	return launch.Exec(argv, env, t.lock)
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
