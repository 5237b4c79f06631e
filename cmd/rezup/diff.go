package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyresolve"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// diffOptions is what `rezup diff` is told.
type diffOptions struct {
	name     string
	old, new string // revision specs; "" for the defaults
	local    bool
	asJSON   bool
}

func (a *app) diffCommand(runF func(context.Context, *diffOptions) error) *cobra.Command {
	var o diffOptions
	cmd := &cobra.Command{
		Use:   "diff [NAME] [REV1 [REV2]]",
		Short: "Show what changed between two revisions of a container",
		Long: `Show what changed from revision REV1 to REV2 of container NAME (default
.main): the packages of each venv (added, removed, upgraded, downgraded,
or the same version from another source) from the revisions' locks, and
the keys of their frozen recipes that were added, removed or changed.

REV2 defaults to the latest ready revision, REV1 to the ready revision
before REV2 in the same root. A revision is named as "rezup status NAME"
shows it, by a unique prefix of that name, or as latest, latest~1,
latest~2, … (counting back from the latest in its root). Like status and
use, diff follows the remote root unless --local is given.

The first argument is NAME unless it looks like a revision (digits and
dots, or latest[~N]); give all three arguments for a container whose name
looks like one. A revision without a lock (built by the Python rezup, or
by an older rezup) has no package list: diff says "no lock" and still
compares the recipes. The exit code is 0 whether or not anything changed.`,
		Example: `  rezup diff                         # .main: the latest revision against the one before
  rezup diff prod                    # the same for prod
  rezup diff prod latest~2           # what the last two revisions changed
  rezup diff prod 1763900000 1763900100.000001 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 3 {
				return usagef("%s takes a container name and at most two revisions, got %d arguments", cmd.CommandPath(), len(args))
			}
			o.name = recipe.DefaultContainer
			if len(args) == 3 || len(args) > 0 && !revisionSpec().MatchString(args[0]) {
				if err := recipe.ValidContainerName(args[0]); err != nil {
					return err
				}
				o.name, args = args[0], args[1:]
			}
			for _, r := range args {
				if !revisionSpec().MatchString(r) {
					return usagef("%q names no revision: use a revision name as `rezup status %s` shows it, a unique prefix of one, latest or latest~N", r, o.name)
				}
			}
			switch len(args) {
			case 2:
				o.old, o.new = args[0], args[1]
			case 1:
				o.old = args[0]
			}
			if runF == nil {
				runF = a.runDiff
			}
			return runF(cmd.Context(), &o)
		},
	}
	cmd.Flags().BoolVarP(&o.local, "local", "l", false, "ignore the remote root")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print JSON")
	return cmd
}

// diffRevision is one side of a diff (--json).
type diffRevision struct {
	Name string    `json:"name"`
	From string    `json:"from"` // local or remote
	Time time.Time `json:"time"`
	Key  string    `json:"key,omitempty"`
	// Locked is whether the revision has a lock; without one (the
	// Python rezup's, an older rezup's) its packages are unknown.
	Locked bool `json:"locked"`
}

// diffPackage is one changed distribution (--json); Old is absent when
// it was added, New when it was removed.
type diffPackage struct {
	Venv   string          `json:"venv"`
	Name   string          `json:"name"`
	Change string          `json:"change"` // added, removed, upgraded, downgraded, source changed
	Old    *pyresolve.Dist `json:"old,omitempty"`
	New    *pyresolve.Dist `json:"new,omitempty"`
}

// diffReport is `rezup diff --json`.
type diffReport struct {
	Container string       `json:"container"`
	Old       diffRevision `json:"old"`
	New       diffRevision `json:"new"`
	// Packages is null when either revision has no lock, [] when the
	// locks install the same packages.
	Packages []diffPackage      `json:"packages"`
	Recipe   []recipe.Change    `json:"recipe"`
	changes  []pyresolve.Change // for the text output
}

// runDiff prints what changed between two revisions of o.name.
func (a *app) runDiff(_ context.Context, o *diffOptions) error {
	set, err := a.revisionSet(o.name, o.local)
	if err != nil {
		return err
	}
	// One revision given is REV1: what changed since it.
	var newRev, oldRev *materialize.Revision
	if o.new != "" {
		newRev, err = set.find(o.new)
	} else {
		newRev, err = set.latest()
	}
	if err != nil {
		return err
	}
	if o.old != "" {
		oldRev, err = set.find(o.old)
	} else {
		oldRev, err = set.before(newRev)
	}
	if err != nil {
		return err
	}
	rep, err := diffRevisions(o.name, oldRev, newRev)
	if err != nil {
		return err
	}
	if o.asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // requirements hold < and >
		return enc.Encode(rep)
	}
	a.printDiff(rep)
	return nil
}

// diffRevisions compares the locks and frozen recipes of two revisions.
func diffRevisions(container string, old, new *materialize.Revision) (*diffReport, error) {
	rep := &diffReport{Container: container, Old: describeRevision(old), New: describeRevision(new)}
	oldLock, err := old.ReadResolution()
	if err != nil {
		return nil, err
	}
	newLock, err := new.ReadResolution()
	if err != nil {
		return nil, err
	}
	rep.Old.Locked, rep.New.Locked = oldLock != nil, newLock != nil
	if oldLock != nil && newLock != nil {
		rep.changes = pyresolve.Diff(oldLock, newLock)
		rep.Packages = []diffPackage{}
		for _, c := range rep.changes {
			rep.Packages = append(rep.Packages, diffPackage{Venv: c.Venv, Name: c.Name, Change: string(c.Kind), Old: c.Old, New: c.New})
		}
	}
	oldRecipe, err := frozenRecipe(old)
	if err != nil {
		return nil, err
	}
	newRecipe, err := frozenRecipe(new)
	if err != nil {
		return nil, err
	}
	if rep.Recipe, err = recipe.Diff(oldRecipe, newRecipe); err != nil {
		return nil, err // both parsed as TOML above
	}
	return rep, nil
}

func describeRevision(r *materialize.Revision) diffRevision {
	d := diffRevision{Name: r.Name, From: rootWord(r), Time: r.Time.UTC()}
	if k, ok := r.Key(); ok {
		d.Key = k.String()
	}
	return d
}

// frozenRecipe reads a revision's frozen recipe, checking it is TOML.
func frozenRecipe(r *materialize.Revision) ([]byte, error) {
	data, err := fsx.ReadMeta(r.RecipePath(), fsx.MaxJSONMeta)
	if err != nil {
		return nil, fmt.Errorf("read the recipe of revision %s: %w", r.Name, err)
	}
	if _, err := recipe.Diff(data, data); err != nil {
		return nil, withHint(fmt.Errorf("%s: not a TOML recipe: %v", r.RecipePath(), errors.Unwrap(err)),
			"compare other revisions (`rezup status %s` lists them)", r.Container)
	}
	return data, nil
}

func (a *app) printDiff(rep *diffReport) {
	w := a.stdout
	side := func(d diffRevision) string { return fmt.Sprintf("%s (%s)", d.Name, d.From) }
	fmt.Fprintf(w, "%s: %s -> %s\n", rep.Container, side(rep.Old), side(rep.New))
	fmt.Fprintln(w, "packages:")
	switch {
	case !rep.Old.Locked || !rep.New.Locked:
		var missing []string
		for _, d := range []diffRevision{rep.Old, rep.New} {
			if !d.Locked {
				missing = append(missing, d.Name)
			}
		}
		fmt.Fprintf(w, "  no lock in %s (built by the Python rezup or an older rezup): packages not compared\n", strings.Join(missing, " and "))
	case len(rep.changes) == 0:
		fmt.Fprintln(w, "  no changes")
	default:
		for _, line := range strings.SplitAfter(strings.TrimSuffix(pyresolve.FormatDiff(rep.changes), "\n"), "\n") {
			fmt.Fprint(w, "  ", line)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "recipe:")
	if len(rep.Recipe) == 0 {
		fmt.Fprintln(w, "  no changes")
	}
	for _, c := range rep.Recipe {
		fmt.Fprintln(w, "  "+c.String())
	}
}
