package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/internal/selfupdate"
	"github.com/rezup/rezup/launch"
	"github.com/rezup/rezup/recipe"
)

// defaultUpgradePause is how long a check of REZUP_UPGRADE_SOURCE holds,
// as in the Python rezup: one day.
const defaultUpgradePause = 86400 * time.Second

// upgradeStampName is the file, in the local root, whose mtime is the time
// of the last upgrade check.
const upgradeStampName = ".upgrade-check"

// checkUpgrade is the Auto Upgrade of the Python rezup for one binary. It
// does nothing at all without REZUP_UPGRADE_SOURCE, or with --no-upgrade
// or REZUP_NO_UPGRADE; otherwise one stat of the stamp until
// REZUP_UPGRADE_PAUSE has passed. Then it reads the source and, when a
// newer release is there, installs it over this executable (and its
// rezup-net beside it, when the source has it) and re-runs the same
// command line with it.
//
// A broken source or a failed upgrade never stops the command: it warns,
// records the check (so the warning comes once per pause) and goes on.
func (a *app) checkUpgrade(cmd *cobra.Command) error {
	source := a.getenv("REZUP_UPGRADE_SOURCE")
	if source == "" {
		return nil
	}
	if off, _ := cmd.Flags().GetBool("no-upgrade"); off || a.getenv("REZUP_NO_UPGRADE") != "" {
		return nil
	}
	if latest, _ := cmd.Flags().GetBool("latest"); latest {
		return nil // -L only reports
	}
	pause := defaultUpgradePause
	if s := a.getenv("REZUP_UPGRADE_PAUSE"); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || n < 0 {
			a.warnf("REZUP_UPGRADE_PAUSE=%q is not a number of seconds; using %d", s, int(defaultUpgradePause.Seconds()))
		} else {
			pause = time.Duration(n * float64(time.Second))
		}
	}
	stamp, err := a.upgradeStamp()
	if err != nil {
		a.log.Debug("upgrade check skipped", "err", err)
		return nil
	}
	now := time.Now()
	if !selfupdate.Due(stamp, pause, now) {
		return nil
	}
	a.makes() // it may install a rezup
	rel, err := selfupdate.Newest(source, runtime.GOOS, runtime.GOARCH)
	note := "source " + source
	if err == nil {
		note += "\nnewest " + rel.Version.String() + " " + rel.Path
	}
	if rerr := selfupdate.Record(stamp, now, note); rerr != nil {
		// Without a stamp the next launch checks again; that costs a
		// directory read, not a failure.
		a.log.Debug("upgrade check not recorded", "err", rerr)
	}
	if err != nil {
		a.warnf("upgrade check: %v; going on with rezup %s", err, rezupVersion())
		return nil
	}
	cur, err := selfupdate.ParseVersion(rezupVersion())
	if err != nil {
		a.warnf("upgrade check: this rezup's %v; not upgrading", err)
		return nil
	}
	if selfupdate.Compare(rel.Version, cur) <= 0 {
		a.log.Debug("rezup is up to date", "version", cur, "newest", rel.Version)
		return nil
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		a.warnf("upgrade to %s: cannot tell where this rezup is: %v", rel.Version, err)
		return nil
	}
	if err := selfupdate.Install(cmd.Context(), rel, exe, a.startEnviron); err != nil {
		a.warnf("%v; going on with rezup %s", err, cur)
		return nil
	}
	if rel.Helper == "" {
		a.warnf("the upgrade source has no %s: the rezup-net beside rezup is left as it was, and http(s):// and s3:// caches need the one of rezup %s",
			selfupdate.HelperName(rel.Version.String(), runtime.GOOS, runtime.GOARCH), rel.Version)
	}
	a.infof("upgraded %s from %s to %s; running the command again", exe, cur, rel.Version)
	// The same command line and the environment rezup started with: the
	// new binary runs the site-customize script itself.
	code, err := selfupdate.Reexec(exe, os.Args, a.startEnviron)
	if err != nil {
		a.warnf("%v; going on with rezup %s", err, cur)
		return nil
	}
	return &launch.ExitError{Code: code}
}

// upgradeStamp is <local root>/.upgrade-check, the local root being the one
// of ~/rezup.toml (or $REZUP_ROOT_LOCAL, or ~/.rezup).
func (a *app) upgradeStamp() (string, error) {
	r := recipe.Default()
	if a.mainRecipe != nil {
		r = a.mainRecipe.Recipe
	}
	root, err := a.localRoot(r)
	if err != nil {
		return "", err
	}
	return filepath.Join(root.Dir, upgradeStampName), nil
}

// printLatest is `rezup -L`: the newest version in the upgrade source.
func (a *app) printLatest() error {
	source := a.getenv("REZUP_UPGRADE_SOURCE")
	if source == "" {
		return withHint(errors.New("no upgrade source: REZUP_UPGRADE_SOURCE is not set"),
			"set REZUP_UPGRADE_SOURCE to the directory of rezup releases (files named %s)", selfupdate.ReleaseName("VERSION", runtime.GOOS, runtime.GOARCH))
	}
	rel, err := selfupdate.Newest(source, runtime.GOOS, runtime.GOARCH)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, rel.Version)
	return nil
}
