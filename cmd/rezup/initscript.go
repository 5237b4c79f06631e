package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/launch"
	"github.com/rezup/rezup/recipe"
)

// preRun runs before every command, in this order: the site-customize
// script of ~/rezup.toml, which may set anything later steps read (roots,
// REZUP_UPGRADE_SOURCE, what launches see), then the upgrade check.
//
// Help, completion and --version skip both: they must work with a broken
// script or source, and completion runs on every Tab.
func (a *app) preRun(cmd *cobra.Command) error {
	switch cmd.Name() {
	case "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
		return nil
	}
	if v, err := cmd.Flags().GetBool("version"); err == nil && v {
		return nil
	}
	switch {
	case cmd == cmd.Root(), launches(cmd.Name()):
		// A launch: makes is called once it fetches or builds (OpenCache).
	default:
		a.makes()
	}
	a.startEnviron = a.environ
	if err := a.runInitScript(cmd); err != nil {
		return err
	}
	return a.checkUpgrade(cmd)
}

// runInitScript runs ~/rezup.toml's [init] script, when set, and makes the
// environment it leaves rezup's own. With no script set, the cost is the
// parse of ~/rezup.toml, which a launch of .main needs anyway: the parsed
// recipe is handed on to loadRecipe rather than read twice.
func (a *app) runInitScript(cmd *cobra.Command) error {
	cr, err := a.readRecipe(recipe.DefaultContainer)
	if err != nil {
		return err
	}
	a.mainRecipe = cr
	script := cr.Recipe.Init.Script
	if script == "" {
		return nil
	}
	home, err := a.home()
	if err != nil {
		return err
	}
	path := a.expand(script, home)
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(cr.Path), path)
	}
	a.log.Debug("site-customize script", "script", path)
	// What the script prints is for people, but a failed script's
	// output (a traceback) goes after the error's first line, where the
	// error printer keeps an excerpt without -D.
	var output tailBuffer
	env, err := launch.RunInit(cmd.Context(), path, a.environ, &output, &output)
	if errors.Is(err, launch.ErrInitScript) {
		return withHint(fmt.Errorf("%w\n%s", err, output.String()), "fix the script (its output is below), or remove [init] script from %s", cr.Path)
	}
	// A stderr that cannot be written loses only the script's messages.
	_, _ = a.stderr.Write(output.Bytes())
	if err != nil {
		return withHint(err, "set [init] script in %s to an existing .py or .sh file, or remove it", cr.Path)
	}
	a.environ = env
	if h, _ := a.home(); h != home {
		a.mainRecipe = nil // the script moved HOME: ~/rezup.toml is another file now
	}
	return nil
}
