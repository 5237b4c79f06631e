package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/rezup/rezup/internal/pyresolve"
	"github.com/rezup/rezup/materialize"
)

// printPackages is `rezup status NAME --packages`: the lock of one
// revision, venv by venv, or with --json the lock itself.
func (a *app) printPackages(o *statusOptions) error {
	set, err := a.revisionSet(o.name, false)
	if err != nil {
		return err
	}
	var rev *materialize.Revision
	if o.revision != "" {
		rev, err = set.find(o.revision)
	} else {
		rev, err = set.latest()
	}
	if err != nil {
		return err
	}
	lock, err := rev.ReadResolution()
	if err != nil {
		return err
	}
	if o.asJSON {
		if lock == nil {
			a.infof("%s: revision %s (%s) has no lock", o.name, rev.Name, rootWord(rev))
			fmt.Fprintln(a.stdout, "null")
			return nil
		}
		b, err := lock.Marshal()
		if err != nil {
			return err
		}
		_, err = a.stdout.Write(b)
		return err
	}
	if lock == nil {
		fmt.Fprintf(a.stdout, "%s: revision %s (%s) has no lock (built by the Python rezup or an older rezup): its packages are not recorded\n", o.name, rev.Name, rootWord(rev))
		return nil
	}
	fmt.Fprintf(a.stdout, "%s: revision %s (%s)\n", o.name, rev.Name, rootWord(rev))
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VENV\tPACKAGE\tVERSION\tSOURCE")
	for _, v := range lock.Venvs {
		for _, d := range v.Dists {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, d.Name, d.Version, sourceKind(d.Source))
		}
	}
	return tw.Flush()
}

// sourceKind is the kind of a package's source, for people.
func sourceKind(s pyresolve.Source) string {
	if s.Editable {
		return string(s.Kind) + ", editable"
	}
	return string(s.Kind)
}
