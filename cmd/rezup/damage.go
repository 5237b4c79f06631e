package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/materialize"
)

// damagedBuildError is a build found incomplete or damaged at launch: it
// names the command that repairs it.
type damagedBuildError struct {
	name string
	err  *materialize.DamagedError
}

func (e *damagedBuildError) Error() string {
	return fmt.Sprintf("build %s of %s is damaged (%s): run `rezup pull %s --repair`", e.err.Key, e.name, e.err.Problem, e.name)
}

func (e *damagedBuildError) Unwrap() error { return e.err }

// checkLaunchable costs one stat of what every launch needs anyway: the
// first production bin dir (rez's). Only when it is missing is the build
// inspected, to say what is wrong and how to repair it.
func (a *app) checkLaunchable(name string, t *materialize.Target) error {
	if t.Key().IsZero() || len(t.BinDirs) == 0 {
		return nil // the Python rezup's venvs: not rezup's to repair
	}
	if _, err := os.Stat(t.BinDirs[0]); err == nil {
		return nil
	}
	return a.damaged(name, t, nil)
}

// launchFailed turns the error of a launch whose command could not be
// found or executed (ENOENT: a deleted entry point, or a venv python gone
// from under its scripts) into a damaged-build error when the build is
// damaged; any other error, or one in an intact build, is returned as is.
func (a *app) launchFailed(name string, t *materialize.Target, err error) error {
	if err == nil || t.Key().IsZero() {
		return err
	}
	if !errors.Is(err, envlist.ErrNotFound) && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return a.damaged(name, t, err)
}

// damaged inspects t's build: a *damagedBuildError when it is damaged,
// else orig (nil when there was no error to begin with).
func (a *app) damaged(name string, t *materialize.Target, orig error) error {
	c, err := a.openContainer(name)
	if err != nil {
		return orig
	}
	store, err := a.store(c.root, nil)
	if err != nil {
		return orig
	}
	var de *materialize.DamagedError
	if errors.As(store.Inspect(t.Key()), &de) {
		return &damagedBuildError{name: name, err: de}
	}
	return orig
}

// repair moves the build name's latest revision uses aside, so that the
// acquire that follows fetches or builds it again.
func (a *app) repair(ctx context.Context, name string, local bool) error {
	t, _, err := a.acquire(ctx, name, local)
	if err != nil {
		return err
	}
	k := t.Key()
	t.Close()
	if k.IsZero() {
		return withHint(fmt.Errorf("revision %s of %s was built by the Python rezup: rezup cannot repair its venvs", t.Revision.Name, name),
			"make a new revision with `rezup add %s`", name)
	}
	c, err := a.openContainer(name)
	if err != nil {
		return err
	}
	store, err := a.store(c.root, nil)
	if err != nil {
		return err
	}
	if err := store.Repair(k); err != nil {
		if errors.Is(err, materialize.ErrInUse) {
			return withHint(err, "end the jobs running in build %s (rezup use shells included), then run `rezup pull %s --repair` again", k, name)
		}
		return err
	}
	a.infof("moved build %s of %s aside; making it again", k, name)
	return nil
}
