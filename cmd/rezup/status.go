package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyresolve"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// statusContainer and statusRevision are the --json output; their field
// names are stable (see README), and every field is always there: an
// empty string field is null, an empty list [].
type statusContainer struct {
	Name   string    `json:"name"`
	Root   string    `json:"root"`
	Remote optString `json:"remote"`
	Recipe optString `json:"recipe"`
	// Description is the recipe's description: the home recipe's, else
	// the latest revision's frozen one.
	Description optString `json:"description"`
	// Count counts the container's revisions once each: a remote
	// revision and its local mirror (pulled by a launch) are one.
	Count int `json:"revision_count"`
	// LocalCount and RemoteCount count the revisions in each root, the
	// local mirrors of remote revisions included in LocalCount.
	LocalCount  int `json:"local_revision_count"`
	RemoteCount int `json:"remote_revision_count"`
	// Revisions is listed for one container (status NAME) only.
	Revisions []statusRevision `json:"revisions,omitzero"`
	// Error is why the container's home recipe does not parse strictly
	// (add refuses it); the other commands read it leniently, and so do
	// its roots and counts here.
	Error optString `json:"error"`
}

type statusRevision struct {
	Name string    `json:"name"`
	Time time.Time `json:"time"`
	// From is where the revision is: local, remote, or both (a remote
	// revision that a launch or pull mirrored here).
	From       string    `json:"from"`
	Ready      bool      `json:"ready"`
	RezVersion optString `json:"rez_version"`
	Key        optString `json:"key"`
	Built      bool      `json:"built"` // the store entry (or its own venv) is here
	// BuiltBy is "python-rezup" for a revision the Python rezup built,
	// which launches from its own venv and has no key.
	BuiltBy optString `json:"built_by"`
	// MirrorBuiltBy is "python-rezup" for a remote revision that pins its
	// build whose local mirror the Python rezup made: rezup runs the
	// pinned build (Key, Built, Bytes say which), and leaves the mirror,
	// installed from the recipe by pip, to the Python rezup.
	MirrorBuiltBy optString `json:"mirror_built_by"`
	Bytes         int64     `json:"bytes"`
	// SharedBytes is what of Bytes the build's files share with other
	// builds through the object store (hard links): on disk once for all.
	SharedBytes int64 `json:"shared_bytes"`
	Files       int64 `json:"files"`
	// Lock is the revision's lock.json (see internal/pyresolve), null for
	// a revision made before locks or by the Python rezup.
	Lock *pyresolve.Resolution `json:"lock"`
	// Error is why its revision.json cannot be read (launches skip it).
	Error optString `json:"error"`
}

// optString is a string that JSON shows as null when empty, so that a
// field is never left out of status --json.
type optString string

func (s optString) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

// From values of a status revision.
const (
	fromLocal  = "local"
	fromRemote = "remote"
	fromBoth   = "both"
)

// statusOptions is what `rezup status` is told.
type statusOptions struct {
	name   string // "" lists every container
	asJSON bool
	// packages lists the packages of one revision of name (revision, by
	// default the latest) rather than its revisions.
	packages bool
	revision string
}

func (a *app) statusCommand(runF func(context.Context, *statusOptions) error) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status [NAME] [--packages [--revision REV]] [--json]",
		Short: "List containers, or the revisions of one container",
		Long: `Without NAME, list the containers: those with a recipe in ~ and those
in the local or remote root. With NAME, list its revisions, the remote
root's first (as use prefers them): timestamp, where it is (local,
remote, or both for a remote revision mirrored here, counted once), rez
version, date (ISO 8601, local time with its zone), key, size and state;
the first ready one is marked latest. Key, size and rez version are those
of the build a launch runs: for a remote revision that pins its build
and that the Python rezup pulled here first, the pinned build (state:
runs the pinned build), not the Python rezup's mirror.

With --packages, list the packages of NAME's latest revision (or of
--revision REV, named as in the list, by a unique prefix, or as latest~N),
venv by venv: name, version and where it came from (index, file, url, vcs
or dir, and whether it is editable), from the revision's lock. With
--json, the lock itself (null for a revision without one). A revision the
Python rezup or an older rezup built has no lock: status says so.`,
		Example: `  rezup status                                      # every container
  rezup status prod                                 # prod's revisions
  rezup status prod --packages                      # what the latest revision installs
  rezup status prod --packages --revision latest~1 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("status takes at most one container name")
			}
			if len(args) == 1 {
				if err := recipe.ValidContainerName(args[0]); err != nil {
					return err
				}
				o.name = args[0]
			}
			if o.packages && o.name == "" {
				return usagef("status --packages lists one container's packages: give its name (status NAME --packages)")
			}
			if o.revision != "" && !o.packages {
				return usagef("status --revision goes with --packages")
			}
			if o.revision != "" && !revisionSpec().MatchString(o.revision) {
				return usagef("--revision %q names no revision: use a revision name as `rezup status %s` shows it, a unique prefix of one, latest or latest~N", o.revision, o.name)
			}
			if runF == nil {
				runF = a.runStatus
			}
			return runF(cmd.Context(), &o)
		},
	}
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&o.packages, "packages", false, "list the packages of NAME's latest revision")
	cmd.Flags().StringVar(&o.revision, "revision", "", "with --packages: the revision to list (default the latest)")
	return cmd
}

// runStatus prints the revisions of o.name, or every known container.
func (a *app) runStatus(_ context.Context, o *statusOptions) error {
	if o.packages {
		return a.printPackages(o)
	}
	var out []statusContainer
	if o.name != "" {
		c, err := a.containerStatus(o.name, true)
		if err != nil {
			return err
		}
		out = []statusContainer{c}
	} else {
		names, err := a.knownContainers()
		if err != nil {
			return err
		}
		for _, n := range names {
			c, err := a.containerStatus(n, false)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
	}
	if o.asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if o.name != "" {
			return enc.Encode(out[0])
		}
		if out == nil {
			out = []statusContainer{}
		}
		return enc.Encode(out)
	}
	if o.name != "" {
		a.printRevisions(out[0])
	} else {
		a.printContainers(out)
	}
	return nil
}

// knownContainers are those with a recipe in the home directory or a
// directory in the default local root.
func (a *app) knownContainers() ([]string, error) {
	home, err := a.home()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(home, "rezup*.toml")) // the pattern is valid: no error
	for _, f := range files {
		if n, ok := recipe.ContainerOf(filepath.Base(f)); ok {
			seen[n] = true
		}
	}
	// The roots of ~/rezup.toml (which default to the environment's).
	main, err := a.openContainer(recipe.DefaultContainer)
	if err != nil {
		return nil, err
	}
	roots := []materialize.Root{main.root}
	if main.hasRemote {
		roots = append(roots, main.remote)
	}
	for _, r := range roots {
		names, err := r.Containers()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

func (a *app) containerStatus(name string, detail bool) (statusContainer, error) {
	con, err := a.openContainer(name)
	if err != nil {
		return statusContainer{}, err
	}
	a.warnUnauthenticated(con, false)
	a.warnMissingRemote(con)
	cr, root := con.recipe, con.root
	c := statusContainer{Name: name, Root: root.Dir}
	if cr.Data != nil || cr.Unreadable {
		c.Recipe = optString(cr.Path)
	}
	if cr.Data != nil {
		c.Description = optString(cr.Recipe.Description)
	}
	if cr.Strict != nil {
		// Read leniently (see readRecipe), as every launch reads it:
		// listed with its roots and revisions, and why add refuses it.
		c.Error = optString(cr.Strict.Error())
	}
	revs, err := root.Revisions(name)
	if err != nil {
		return c, err
	}
	var remoteRevs []*materialize.Revision
	if con.hasRemote {
		c.Remote = optString(con.remote.Dir)
		if remoteRevs, err = con.remote.Revisions(name); err != nil {
			return c, err
		}
	}
	// A local revision named as a remote one is its mirror: the same
	// revision, pulled here (same container, same timestamp).
	local := make(map[string]*materialize.Revision, len(revs))
	for _, rev := range revs {
		local[rev.Name] = rev
	}
	mirrors := 0
	for _, rev := range remoteRevs {
		if local[rev.Name] != nil {
			mirrors++
		}
	}
	c.LocalCount, c.RemoteCount = len(revs), len(remoteRevs)
	c.Count = len(revs) + len(remoteRevs) - mirrors
	if c.Description == "" {
		c.Description = optString(frozenDescription(append(remoteRevs, revs...)))
	}
	if !detail {
		return c, nil
	}
	if len(revs)+len(remoteRevs) == 0 && cr.Data == nil {
		if _, err := os.Stat(root.ContainerDir(name)); err != nil {
			return c, withHint(fmt.Errorf("no container %s in %s", name, root.Dir), "run `rezup status` to list containers, or `rezup add %s` to create it", name)
		}
	}
	store, err := a.store(root, nil)
	if err != nil {
		return c, err
	}
	c.Revisions = []statusRevision{}
	for _, rev := range remoteRevs {
		c.Revisions = append(c.Revisions, statusOfRevision(store, rev, local[rev.Name]))
	}
	mirrored := make(map[string]bool, len(remoteRevs))
	for _, rev := range remoteRevs {
		mirrored[rev.Name] = true
	}
	for _, rev := range revs {
		if !mirrored[rev.Name] {
			c.Revisions = append(c.Revisions, statusOfRevision(store, rev, nil))
		}
	}
	return c, nil
}

// statusOfRevision is the status of rev; mirror is its local mirror when
// rev is a remote revision pulled here (nil otherwise). Ready and lock
// are rev's; the key, whether it is built, and its size are those of the
// build a launch runs: the mirror's, which records the key of its build on
// this machine (it differs from the remote one only when another
// interpreter built it), but for a mirror the Python rezup made of a
// revision that pins its build, which launches run from the store.
func statusOfRevision(store *materialize.Store, rev, mirror *materialize.Revision) statusRevision {
	sr := statusRevision{Name: rev.Name, Time: rev.Time.UTC(), From: fromLocal, Ready: rev.Ready()}
	switch {
	case rev.Remote && mirror != nil:
		sr.From = fromBoth
	case rev.Remote:
		sr.From = fromRemote
	}
	if rev.Meta != nil {
		sr.RezVersion = optString(rev.Meta.RezVersion)
		if !rev.Meta.Key.IsZero() {
			sr.Key = optString(rev.Meta.Key.String())
		}
	}
	if rev.Err != nil {
		sr.Error = optString(rev.Err.Error())
	}
	if lock, err := rev.ReadResolution(); err != nil {
		if sr.Error == "" {
			sr.Error = optString(err.Error())
		}
	} else {
		sr.Lock = lock
	}
	here := rev
	switch {
	case mirror != nil && mirror.PythonBuilt() && rev.Pinned():
		// Pulled by the Python rezup: launches run the pinned build from
		// the store, not the mirror (see materialize.Revision.Pinned).
		sr.MirrorBuiltBy = optString(materialize.BuiltByPython)
	case mirror != nil:
		here = mirror
		if mirror.Meta != nil && !mirror.Meta.Key.IsZero() {
			sr.Key = optString(mirror.Meta.Key.String())
		}
	}
	k, ok := here.Key()
	if here.PythonBuilt() {
		// Its venv is inside the revision: the walk is its size.
		sr.Built, sr.BuiltBy, sr.Bytes = true, materialize.BuiltByPython, here.Bytes()
		if sr.RezVersion == "" {
			sr.RezVersion = optString(here.PythonRezVersion())
		}
	} else if ok {
		if m, err := store.ReadManifest(k); err == nil {
			sr.Built, sr.Bytes, sr.Files = true, m.Bytes, m.Files
			if l, err := store.ObjectList(k); err == nil {
				sr.SharedBytes = min(l.LinkedBytes(), m.Bytes)
			}
			if sr.RezVersion == "" {
				sr.RezVersion = optString(m.RezVersion)
			}
		}
	}
	return sr
}

func (a *app) printContainers(cs []statusContainer) {
	if len(cs) == 0 {
		fmt.Fprintln(a.stdout, "no containers yet: run `rezup` or `rezup add NAME`")
		return
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREMOTE\tREVISIONS\tROOT\tDESCRIPTION")
	for _, c := range cs {
		remote := "-"
		if c.Remote != "" {
			remote = string(c.Remote)
		}
		root := c.Root
		if c.Error != "" {
			root += " (broken recipe: " + string(c.Error) + ")"
		}
		desc := string(c.Description)
		if desc == "" {
			desc = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", c.Name, remote, c.Count, root, desc)
	}
	tw.Flush()
}

func (a *app) printRevisions(c statusContainer) {
	fmt.Fprintf(a.stdout, "container %s in %s\n", c.Name, c.Root)
	if c.Description != "" {
		fmt.Fprintf(a.stdout, "description: %s\n", c.Description)
	}
	if c.Remote != "" {
		fmt.Fprintf(a.stdout, "remote root %s\n", c.Remote)
	}
	if len(c.Revisions) == 0 {
		fmt.Fprintf(a.stdout, "no revisions: run `rezup add %s`\n", c.Name)
		return
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tFROM\tREZ\tDATE\tKEY\tSIZE\tSTATE")
	// Remote revisions come first, as `rezup use` prefers them: the first
	// ready one listed is the one it launches.
	latest := false
	for _, r := range c.Revisions {
		state := "ready"
		switch {
		case r.Error != "":
			state = "unreadable revision.json (skipped)"
		case !r.Ready:
			state = "not ready"
		case !latest:
			state, latest = "latest", true
		}
		if r.Ready && !r.Built {
			state += ", not built here"
		}
		if r.MirrorBuiltBy != "" {
			state += ", runs the pinned build (the Python rezup's mirror is left to it)"
		}
		size := "-"
		if r.Built {
			size = materialize.HumanSize(r.Bytes)
			if r.SharedBytes > 0 {
				size += fmt.Sprintf(" (%s shared)", materialize.HumanSize(r.SharedBytes))
			}
		}
		key := r.Key
		if r.BuiltBy != "" && key == "" {
			key = r.BuiltBy
		}
		if key == "" {
			key = "-"
		}
		rez := r.RezVersion
		if rez == "" {
			rez = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.From, rez, r.Time.Local().Format(time.RFC3339), key, size, state)
	}
	tw.Flush()
}

// frozenDescription is the description of the first ready revision of
// revs whose frozen recipe can be read; "" for none.
func frozenDescription(revs []*materialize.Revision) string {
	for _, rev := range revs {
		if !rev.Ready() {
			continue
		}
		data, err := fsx.ReadMeta(rev.RecipePath(), fsx.MaxJSONMeta)
		if err != nil {
			continue
		}
		if r, _, err := recipe.ParseFrozen(rev.RecipePath(), data); err == nil {
			return r.Description
		}
	}
	return ""
}
