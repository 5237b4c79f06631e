package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/internal/pylock"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// statusContainer and statusRevision are the --json output; their field
// names are stable (see README).
type statusContainer struct {
	Name   string `json:"name"`
	Root   string `json:"root"`
	Remote string `json:"remote,omitempty"`
	Recipe string `json:"recipe,omitempty"`
	Count  int    `json:"revision_count"`
	// RemoteCount counts the remote root's revisions of the container.
	RemoteCount int              `json:"remote_revision_count"`
	Revisions   []statusRevision `json:"revisions,omitempty"`
	// Error is why the container's recipe cannot be read, in the list of
	// every container; its roots, and so its counts, are then unknown.
	Error string `json:"error,omitempty"`
}

type statusRevision struct {
	Name       string    `json:"name"`
	Time       time.Time `json:"time"`
	From       string    `json:"from"` // local or remote
	Ready      bool      `json:"ready"`
	RezVersion string    `json:"rez_version,omitempty"`
	Key        string    `json:"key,omitempty"`
	Built      bool      `json:"built"` // the store entry (or its own venv) is here
	// BuiltBy is "python-rezup" for a revision the Python rezup built,
	// which launches from its own venv and has no key.
	BuiltBy string `json:"built_by,omitempty"`
	Bytes   int64  `json:"bytes,omitempty"`
	Files   int64  `json:"files,omitempty"`
	// Lock is the revision's lock.json (see internal/pylock), absent for
	// a revision made before locks or by the Python rezup.
	Lock *pylock.Lock `json:"lock,omitempty"`
	// Error is why its revision.json cannot be read (launches skip it).
	Error string `json:"error,omitempty"`
}

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
root's first (as use prefers them): timestamp, root, rez version, date,
key, size and state; the first ready one is marked latest.

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
			if o.revision != "" && !revisionSpec.MatchString(o.revision) {
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
			if path, broken := a.brokenRecipe(n, err); broken {
				// One bad recipe must not hide every other
				// container: it is listed with its error.
				c = statusContainer{Name: n, Recipe: path, Error: err.Error()}
			} else if err != nil {
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

// brokenRecipe tells whether err is container name's recipe failing to
// parse or to be read, and returns the recipe's path.
func (a *app) brokenRecipe(name string, err error) (string, bool) {
	if err == nil {
		return "", false
	}
	home, herr := a.home()
	if herr != nil {
		return "", false
	}
	path := filepath.Join(home, recipe.FileName(name))
	var re *recipe.Error
	var pe *fs.PathError
	if errors.As(err, &re) && re.File == path || errors.As(err, &pe) && pe.Path == path {
		return path, true
	}
	return "", false
}

func (a *app) containerStatus(name string, detail bool) (statusContainer, error) {
	con, err := a.openContainer(name)
	if err != nil {
		return statusContainer{}, err
	}
	a.warnUnauthenticated(con)
	cr, root := con.recipe, con.root
	c := statusContainer{Name: name, Root: root.Dir}
	if cr.Data != nil {
		c.Recipe = cr.Path
	}
	revs, err := root.Revisions(name)
	if err != nil {
		return c, err
	}
	c.Count = len(revs)
	var remoteRevs []*materialize.Revision
	if con.hasRemote {
		c.Remote = con.remote.Dir
		if remoteRevs, err = con.remote.Revisions(name); err != nil {
			return c, err
		}
		c.RemoteCount = len(remoteRevs)
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
	for _, rev := range append(remoteRevs, revs...) {
		sr := statusRevision{Name: rev.Name, Time: rev.Time.UTC(), From: "local", Ready: rev.Ready()}
		if rev.Remote {
			sr.From = "remote"
		}
		if rev.Meta != nil {
			sr.RezVersion = rev.Meta.RezVersion
			if !rev.Meta.Key.IsZero() {
				sr.Key = rev.Meta.Key.String()
			}
		}
		if rev.Err != nil {
			sr.Error = rev.Err.Error()
		}
		if lock, err := rev.ReadLock(); err != nil {
			if sr.Error == "" {
				sr.Error = err.Error()
			}
		} else {
			sr.Lock = lock
		}
		k, ok := rev.Key()
		local := rev
		if rev.Remote {
			// Built here when its local mirror's entry is.
			if mirror, err := root.Revision(name, rev.Name); err == nil {
				k, ok = mirror.Key()
				local = mirror
			}
		}
		if local.PythonBuilt() {
			// Its venv is inside the revision: the walk is its size.
			sr.Built, sr.BuiltBy, sr.Bytes = true, materialize.BuiltByPython, local.Bytes()
			if sr.RezVersion == "" {
				sr.RezVersion = local.PythonRezVersion()
			}
		} else if ok {
			if m, err := store.ReadManifest(k); err == nil {
				sr.Built, sr.Bytes, sr.Files = true, m.Bytes, m.Files
				if sr.RezVersion == "" {
					sr.RezVersion = m.RezVersion
				}
			}
		}
		c.Revisions = append(c.Revisions, sr)
	}
	return c, nil
}

func (a *app) printContainers(cs []statusContainer) {
	if len(cs) == 0 {
		fmt.Fprintln(a.stdout, "no containers yet: run `rezup` or `rezup add NAME`")
		return
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREMOTE\tREVISIONS\tROOT")
	for _, c := range cs {
		if c.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\tbroken recipe: %s\n", c.Name, c.Error)
			continue
		}
		remote := "-"
		if c.Remote != "" {
			remote = c.Remote
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", c.Name, remote, c.Count+c.RemoteCount, c.Root)
	}
	tw.Flush()
}

func (a *app) printRevisions(c statusContainer) {
	fmt.Fprintf(a.stdout, "container %s in %s\n", c.Name, c.Root)
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
		size := "-"
		if r.Built {
			size = materialize.HumanSize(r.Bytes)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.From, rez, r.Time.Local().Format("02 Jan 06 15:04"), key, size, state)
	}
	tw.Flush()
}
