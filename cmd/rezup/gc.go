package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// gcOptions is what `rezup gc` is told.
type gcOptions struct {
	names      []string // the containers to collect; none means all
	keep       int
	olderThan  days
	cache      bool
	cacheGrace days
	dryRun     bool
	asJSON     bool
	wait       bool
}

func (o *gcOptions) addFlags(cmd *cobra.Command) {
	o.cacheGrace = days(gc.DefaultCacheGrace)
	f := cmd.Flags()
	f.IntVar(&o.keep, "keep", gc.DefaultKeep, "ready revisions to keep per container, newest first (the latest always stays)")
	f.Var(&o.olderThan, "older-than", "remove only what was last used longer ago than this (e.g. 12h, 30d)")
	f.BoolVar(&o.cache, "cache", false, "also prune the shared cache: keys no remote revision names")
	f.Var(&o.cacheGrace, "cache-grace", "with --cache, keep keys published more recently than this")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan and change nothing")
	f.BoolVar(&o.asJSON, "json", false, "print the plan and what was removed as JSON")
	f.BoolVar(&o.wait, "wait", false, "wait for a gc already running on this root instead of failing")
}

func (a *app) gcCommand(runF func(context.Context, *gcOptions) error) *cobra.Command {
	var o gcOptions
	cmd := &cobra.Command{
		Use:   "gc [NAME...]",
		Short: "Remove old revisions, unused builds, leftovers and (--cache) unused cache entries",
		Long: `Reclaim disk without breaking a running job. gc plans, prints the plan
(what goes, how many bytes, and why each survivor stays), then removes.

  - The latest ready revision of each container stays, and so do the
    --keep newest (default 3). Older revisions go, unless --older-than
    says they were used too recently.
  - A build (store entry) stays while a kept revision uses it or while any
    process runs in it. A revision may go while a job still runs in its
    build: the build then stays until a later gc finds it unused.
  - Staging dirs and trash that crashed runs left behind go.
  - --cache also prunes the shared cache: keys that no revision of the
    remote root (nor a kept local one) names, older than --cache-grace.

NAME... restricts gc to those containers (and the builds only they used).
A second gc on the same root fails at once, or waits with --wait. Last use
is recorded by launches at most once an hour.`,
		Example: `  rezup gc --dry-run                   # what would go, and why the rest stays
  rezup gc --keep 1 --older-than 30d
  rezup gc dev                         # only dev's old revisions and the builds only they used
  rezup gc --cache --json              # from cron, on a machine that publishes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.keep < 1 {
				return usagef("--keep %d: keep at least 1 (the latest revision of each container always stays)", o.keep)
			}
			for _, n := range args {
				if err := recipe.ValidContainerName(n); err != nil {
					return err
				}
			}
			if len(args) > 0 {
				o.names = args
			}
			if runF == nil {
				runF = a.runGC
			}
			return runF(cmd.Context(), &o)
		},
	}
	o.addFlags(cmd)
	return cmd
}

func (a *app) runGC(ctx context.Context, o *gcOptions) error {
	if err := a.refuseInside("gc"); err != nil {
		return err
	}
	in, err := a.gcInput(o)
	if err != nil {
		return err
	}
	if !o.dryRun {
		lock, err := gc.Lock(ctx, in.Store.Root(), o.wait)
		if errors.Is(err, gc.ErrRunning) {
			return withHint(err, "wait for it to finish, or run `rezup gc --wait`")
		}
		if err != nil {
			return err
		}
		defer lock.Close()
	}
	sweep, err := gc.Plan(ctx, in)
	if errors.Is(err, gc.ErrNoContainer) {
		return withHint(err, "run `rezup status` to list containers")
	}
	if err != nil {
		return err
	}
	for _, w := range sweep.Warnings {
		a.warnf("%s", w)
	}
	var res *gc.Result
	var execErr error
	if !o.dryRun {
		res, execErr = sweep.Execute(ctx)
	}
	if o.asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(gc.NewReport(sweep, res, execErr)); err != nil {
			return err
		}
	} else {
		a.printSweep(sweep, res)
	}
	return a.gcFailures(execErr)
}

// gcInput resolves what gc collects: the root ~/rezup.toml names, or the
// named containers' recipes name (one root per run), its remote root and,
// with --cache, the shared cache.
func (a *app) gcInput(o *gcOptions) (gc.PlanInput, error) {
	recipeOf := []string{recipe.DefaultContainer}
	if len(o.names) > 0 {
		recipeOf = o.names
	}
	var first *container
	for i, n := range recipeOf {
		c, err := a.openContainer(n)
		if err != nil {
			return gc.PlanInput{}, err
		}
		if i == 0 {
			first = c
		} else if c.root.Dir != first.root.Dir {
			return gc.PlanInput{}, usagef("containers %s and %s live in different local roots (%s and %s): collect them in separate runs", recipeOf[0], n, first.root.Dir, c.root.Dir)
		}
	}
	var sc *cache.Cache
	if o.cache {
		var err error
		if sc, err = a.cache(first); err != nil {
			return gc.PlanInput{}, err
		}
		if sc == nil {
			return gc.PlanInput{}, withHint(usagef("--cache: no shared cache is configured"),
				"set REZUP_CACHE, [cache] url in %s, or a remote root ([root] remote or REZUP_ROOT_REMOTE)", first.recipe.Path)
		}
	}
	store, err := a.store(first.root, nil)
	if err != nil {
		return gc.PlanInput{}, err
	}
	in := gc.PlanInput{
		Store:      store,
		Containers: o.names,
		Keep:       o.keep,
		OlderThan:  time.Duration(o.olderThan),
		Grace:      gc.DefaultGrace,
		Cache:      sc,
		CacheGrace: time.Duration(o.cacheGrace),
		Now:        time.Now,
	}
	if first.hasRemote {
		remote := first.remote
		in.Remote = &remote
	}
	return in, nil
}

// gcFailures turns Execute's joined failures into one error, after
// warning about all but the first.
func (a *app) gcFailures(execErr error) error {
	if execErr == nil {
		return nil
	}
	errs := []error{execErr}
	if j, ok := execErr.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs[1:] {
		a.warnf("%s", e)
	}
	if len(errs) > 1 {
		return fmt.Errorf("%w (and %d more failure(s) above)", errs[0], len(errs)-1)
	}
	return errs[0]
}

// printSweep prints the plan, or what executing it did, as a table with
// totals.
func (a *app) printSweep(s *gc.Sweep, res *gc.Result) {
	type row struct {
		action string
		it     gc.Item
	}
	var rows []row
	done := map[string]string{}
	id := func(it gc.Item) string { return string(it.Kind) + " " + it.Title() }
	if res != nil {
		for _, it := range res.Removed {
			done[id(it)] = "removed"
		}
		for _, it := range res.Skipped {
			done[id(it)] = "skipped"
			rows = append(rows, row{"skipped", it})
		}
	}
	failed := 0
	for _, it := range s.Remove {
		switch {
		case res == nil:
			rows = append(rows, row{"remove", it})
		case done[id(it)] == "removed":
			rows = append(rows, row{"removed", it})
		case done[id(it)] == "":
			failed++
			rows = append(rows, row{"failed", it})
		}
	}
	for _, it := range s.Kept {
		rows = append(rows, row{"keep", it})
	}
	if len(rows) > 0 {
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACTION\tWHAT\tNAME\tSIZE\tWHY")
		for _, r := range rows {
			size := "-"
			if r.it.Bytes > 0 {
				size = materialize.HumanSize(r.it.Bytes)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.action, r.it.Kind, r.it.Title(), size, r.it.Detail)
		}
		tw.Flush()
	}
	switch {
	case res == nil && len(s.Remove) == 0:
		fmt.Fprintf(a.stdout, "nothing to remove in %s; %d kept (dry run)\n", s.Root, len(s.Kept))
	case res == nil:
		fmt.Fprintf(a.stdout, "would remove %d item(s), %s; %d kept (dry run: nothing was changed)\n", len(s.Remove), materialize.HumanSize(s.Bytes()), len(s.Kept))
	case len(s.Remove) == 0:
		fmt.Fprintf(a.stdout, "nothing to remove in %s; %d kept\n", s.Root, len(s.Kept))
	default:
		line := fmt.Sprintf("removed %d item(s), %s; %d kept", len(res.Removed), materialize.HumanSize(res.Bytes), len(s.Kept)+len(res.Skipped))
		if len(res.Skipped) > 0 {
			line += fmt.Sprintf(" (%d skipped: changed since the plan, or not this account's to remove)", len(res.Skipped))
		}
		if failed > 0 {
			line += fmt.Sprintf("; %d failed", failed)
		}
		fmt.Fprintln(a.stdout, line)
	}
}

// days is a duration flag that also takes days: 30d, 1d12h, 90m, 0.
type days time.Duration

func (d *days) String() string {
	if *d == 0 {
		return "0"
	}
	v := time.Duration(*d)
	if v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return v.String()
}

func (d *days) Set(s string) error {
	v, err := parseDays(s)
	if err != nil {
		return err
	}
	*d = days(v)
	return nil
}

func (d *days) Type() string { return "duration" }

func parseDays(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration: use e.g. 12h, 30d or 1d12h", s)
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	if n, rest, ok := strings.Cut(s, "d"); ok {
		d, err := strconv.ParseUint(n, 10, 32)
		if err != nil {
			return 0, bad
		}
		total, s = time.Duration(d)*24*time.Hour, rest
		if s == "" {
			return total, nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, bad
	}
	return total + v, nil
}
