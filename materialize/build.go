package materialize

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
	"github.com/rezup/rezup/internal/pyid"
	"github.com/rezup/rezup/internal/pyresolve"
	"github.com/rezup/rezup/recipe"
)

// Plan is a recipe resolved on this machine: its interpreters found and
// probed, its build inputs and its key. A plan with a Resolution installs
// exactly that resolution, and its key covers it (recipe.ResolvedBuildInputs);
// without, the recipe's requirement strings, as before locks.
type Plan struct {
	Recipe     *recipe.Recipe
	Interps    map[string]pyenv.Interpreter
	Inputs     []byte
	Key        cas.Key
	Resolution *pyresolve.Resolution
}

// plan finds and probes every interpreter the recipe asks for, and
// computes the key: of res when it is not nil (see withResolution), else
// of the recipe's requirement strings. It runs python at most once per
// distinct interpreter (probes are memoized); it is never on the launch
// hot path.
func (s *Store) plan(ctx context.Context, r *recipe.Recipe, res *pyresolve.Resolution) (*Plan, error) {
	interps, err := s.interpreters(ctx, r)
	if err != nil {
		return nil, err
	}
	if res != nil {
		return (&Plan{Interps: interps}).with(r, res)
	}
	ids := map[string]pyid.ID{}
	for spec, py := range interps {
		ids[spec] = py.ID
	}
	inputs, err := recipe.BuildInputs(r, ids)
	if err != nil {
		return nil, err
	}
	return &Plan{Recipe: r, Interps: interps, Inputs: inputs, Key: cas.KeyOf(inputs)}, nil
}

// ErrNotCached means an entry is neither in the store nor in the shared
// cache, and there was no recipe to build it from.
var ErrNotCached = errors.New("not in the store or the shared cache")

// Request says which build Materialize makes ready, and how it may get it.
type Request struct {
	// Key is the build.
	Key cas.Key
	// Plan builds Key when neither the store nor the shared cache has it;
	// nil: that is ErrNotCached. Its Key must be Key.
	Plan *Plan
	// Pin is the archive a revision pins for Key (see Meta.Archive): only
	// that archive is fetched, whatever the cache's entry.json names, and
	// when it is gone the build is made from Plan, never fetched by key.
	Pin *cache.Entry
	// ForPublish is set when the caller publishes and pins what it gets
	// (add --remote): only an entry a trusted key signed is fetched by key
	// (none, with no trusted keys; a pin is still fetched), no farm build
	// lease is taken, and nothing is published on the way.
	ForPublish bool
}

// Materialize makes build req.Key ready in the store and holds it in use:
// when it returns, the build is there until the Hold is closed, so that a
// collector cannot remove it before a revision refers to it or a command
// runs in it. This is the one way to make a build ready.
//
// A ready build is held at once (the hot path: a stat, a lock, a stat; no
// cache, no python). Otherwise, under the build's exclusive lock (so that
// concurrent callers do the work once), it is fetched from the shared
// cache (verified, unpacked and relocated), or else built from req.Plan
// and published to the cache. Without a plan, a miss is ErrNotCached, and
// so is an entry whose archive this store refuses (a *RefusedError naming
// key and digest). With a plan, a refused or unreachable cache is reported
// once and built over locally, and the build is not published over the
// cache's entry.
func (s *Store) Materialize(ctx context.Context, req Request) (*Hold, error) {
	if req.Pin != nil && req.Pin.Key != req.Key {
		return nil, fmt.Errorf("materialize %s: the pin is for %s", req.Key, req.Pin.Key)
	}
	h, err := s.hold(ctx, req.Key)
	if !errors.Is(err, ErrNotReady) {
		return h, err
	}
	// A collector may remove the entry between making it ready and
	// holding it; a few rounds make that race harmless.
	for attempt := 0; ; attempt++ {
		if err := s.materialize(ctx, req); err != nil {
			return nil, err
		}
		h, err := s.hold(ctx, req.Key)
		if err == nil || !errors.Is(err, ErrNotReady) || attempt == 2 {
			return h, err
		}
	}
}

// materialize makes req.Key ready in the store, without holding it.
func (s *Store) materialize(ctx context.Context, req Request) (err error) {
	defer s.dropSpares() // the venvs resolve made ahead that this build did not take
	k, p, pin := req.Key, req.Plan, req.Pin
	if _, err := s.ReadManifest(k); err == nil {
		return nil
	}
	lock, err := s.exclusive(ctx, k, "materializing")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.dropLockOfNothing(k, lock)
		}
		lock.Close()
	}()
	if _, err := s.ReadManifest(k); err == nil {
		return nil // made by whoever held the lock before us
	}
	s.clearStaging(k)

	// A build that replaces a refused or stalled entry is not published:
	// the cache keeps the entry it has (see RefusedError).
	publish := !req.ForPublish
	if sc := s.opt.Cache; sc != nil {
		e, err := s.lookup(ctx, sc, k, pin, req.ForPublish)
		if newerFormat(err) {
			// A newer rezup's entry or pin: never a silent miss. As a
			// failed cache, it is told once and built over, without the
			// farm lease and unpublished (the cache keeps what it has).
			if p == nil {
				return s.cacheError(ctx, err)
			}
			s.opt.Reporter.Warnf("%v; building locally", err)
			return s.buildHere(ctx, k, p, false)
		}
		if errors.Is(err, cache.ErrNotFound) && s.farmBuild(ctx, req) {
			s.opt.Reporter.Debugf("cache miss for %s in %s: %v", k, sc, err)
			lease, got, lerr := sc.AcquireBuild(ctx, k, s.leaseOptions())
			switch {
			case lease != nil:
				return s.buildLeased(ctx, k, p, lease)
			case lerr == nil:
				e, err = got, nil // another node built it: fetch that
			case ctx.Err() != nil:
				return lerr
			default:
				// Given up waiting, or the cache failed: build here all
				// the same; buildHere publishes only if the key is still
				// not published by then.
				s.opt.Reporter.Warnf("%v; building locally", lerr)
				return s.buildHere(ctx, k, p, true)
			}
		}
		switch {
		case err == nil:
			_, err := s.fetchEntry(ctx, e, p, pin != nil) // fetch, or by index (delta.go)
			if err == nil || p == nil || ctx.Err() != nil {
				return err
			}
			var re *RefusedError
			var ce *CacheError
			switch {
			case errors.As(err, &re):
				s.noteRefused(re)
			case errors.As(err, &ce):
				// As an unreachable cache: build if we can.
				s.opt.Reporter.Warnf("%v; building locally", err)
			default:
				return err
			}
			publish = false
		case errors.Is(err, cache.ErrNotFound):
			s.opt.Reporter.Debugf("cache miss for %s in %s: %v", k, sc, err)
		default:
			// An unreachable cache must not stop a farm: build if we can.
			if p == nil {
				return s.cacheError(ctx, err)
			}
			s.opt.Reporter.Warnf("shared cache %s: %v; building locally", sc, err)
		}
	}
	return s.buildHere(ctx, k, p, publish)
}

// newerFormat says whether err is the miss of an entry, or a pin, of a
// format this rezup does not know (cache.MissFormat): a newer rezup
// published it.
func newerFormat(err error) bool {
	var miss *cache.MissError
	return errors.As(err, &miss) && miss.Reason == cache.MissFormat
}

// farmBuild reports whether a miss is built under the farm lease (see
// cache.AcquireBuild), so that one node of the farm builds while the others
// wait and fetch: only when there is a recipe, the cache is writable (a
// read-only cache cannot hold a lease, and nothing here would be
// published), and the build is not for a publisher (its caller publishes
// and pins whatever is in the cache). A pinned revision whose archive is
// missing builds without it, as before: what the lease hands a waiter is
// the key's entry.json, and fetching by key would bypass the pin. An
// edit-mode build is never published, so there is nothing to wait for.
func (s *Store) farmBuild(ctx context.Context, req Request) bool {
	return req.Pin == nil && req.Plan != nil && !req.ForPublish && len(EditTools(req.Plan.Recipe)) == 0 && s.opt.Cache.Writable(ctx) == nil
}

func (s *Store) leaseOptions() cache.LeaseOptions {
	opt := cache.LeaseOptions{
		TTL:  s.opt.LeaseTTL,
		Wait: s.opt.LeaseWait,
		Waiting: func(k cas.Key, held cache.LeaseRecord) {
			s.opt.Reporter.Infof("waiting for %s to build %s (lease until %s)", held.Holder, k, held.Expires.Local().Format(time.RFC3339))
		},
		Polled: func(k cas.Key, what string) {
			s.opt.Reporter.Debugf("%s is not in the cache yet: %s", k, what)
		},
	}
	if s.opt.Creator != nil {
		_, opt.Holder.Host = s.opt.Creator()
	}
	return opt
}

// buildLeased builds k holding the farm lease, publishes it, and releases
// the lease: after the entry is committed, or at once when the build
// failed, so that a waiting node takes over without waiting for the
// expiry.
func (s *Store) buildLeased(ctx context.Context, k cas.Key, p *Plan, lease *cache.BuildLease) error {
	// Released even when ctx is done (Ctrl+C): a lease left behind makes
	// the farm wait for its expiry.
	defer lease.Release(context.WithoutCancel(ctx))
	err := s.buildHere(ctx, k, p, true)
	if err == nil && lease.Lost() {
		s.opt.Reporter.Warnf("the build lease of %s expired while it was built here, and another node took it over", k)
	}
	return err
}

// buildHere builds entry k from p into the store, and then, when publish
// and the cache is writable, packs it to the cache unless the key was
// published meanwhile (by a node that took the lease over, or one that
// built without it). The caller holds k's exclusive lock.
func (s *Store) buildHere(ctx context.Context, k cas.Key, p *Plan, publish bool) error {
	if p == nil {
		return fmt.Errorf("%s: %w", k, ErrNotCached)
	}
	if p.Key != k {
		return fmt.Errorf("build %s: the plan is for %s", k, p.Key)
	}
	staging, err := s.stage(k)
	if err != nil {
		return err
	}
	m, err := s.build(ctx, p, staging)
	if err == nil {
		err = s.publish(staging, m)
	}
	if err != nil {
		// Nothing of a failed build may stay: the staging dir is all there
		// is, read-only if publish got that far.
		s.discard(staging)
		return fmt.Errorf("build %s: %w", k, err)
	}
	s.opt.Reporter.Infof("built %s", k)
	if len(m.Editable) > 0 && publish && s.opt.Cache != nil {
		s.opt.Reporter.Infof("not publishing %s to %s: %v (%s), it points into a source tree", k, s.opt.Cache, ErrEditMode, strings.Join(m.Editable, ", "))
		publish = false
	}
	if publish && s.opt.Cache != nil && s.opt.Cache.Writable(ctx) == nil {
		// Still under the exclusive lock: nobody can remove the entry
		// while it is packed.
		if _, err := s.pack(ctx, k, m, true); err != nil {
			s.opt.Reporter.Warnf("could not publish %s to %s: %v", k, s.opt.Cache, err)
		}
	}
	return nil
}

// lookup finds what to fetch for k: the pinned archive when there is a
// pin (entry.json is not read), else the key's entry. A publisher that
// trusts no key fetches nothing by key: whoever can write the cache
// chose that entry.
func (s *Store) lookup(ctx context.Context, sc *cache.Cache, k cas.Key, pin *cache.Entry, forPublish bool) (cache.Entry, error) {
	switch {
	case pin != nil:
		return sc.Pinned(ctx, *pin)
	case forPublish && len(sc.TrustedKeys()) == 0:
		return cache.Entry{}, &cache.MissError{Key: k, Cache: sc.String(), Reason: cache.MissUntrusted,
			Detail: "a publisher fetches only entries a trusted key signed, and no trusted keys are configured"}
	}
	return sc.Lookup(ctx, k)
}

// build installs the recipe into staging, laid out as the final entry, and
// relocates it to the final prefix.
func (s *Store) build(ctx context.Context, p *Plan, staging string) (*Manifest, error) {
	r := p.Recipe
	b := &staged{s: s, p: p, dir: staging, final: s.opt.Root.EntryDir(p.Key), pipEnv: mergeEnv(s.opt.Environ, r.Pip.Env)}
	if r.Rez.Edit {
		b.editBin = prodBin(b.final, "rez")
	}

	rez, rezVersion, err := b.installRez(ctx)
	if err != nil {
		return nil, err
	}
	if sh := r.Shared; sh != nil {
		if err := b.installShared(ctx, rez, sh); err != nil {
			return nil, err
		}
	}
	venvs := []string{"rez"}
	for _, ext := range r.Extensions {
		venv, err := b.installExtension(ctx, rez, ext)
		if err != nil {
			return nil, err
		}
		if ext.Isolation {
			venvs = append(venvs, venv)
		}
	}

	start := time.Now()
	rep, err := pyenv.Relocate(staging, staging, b.final)
	if err != nil {
		return nil, fmt.Errorf("relocate: %w", err)
	}
	s.opt.Reporter.Debugf("relocated %d file(s) to %s in %v", rep.Rewritten, b.final, time.Since(start).Round(time.Millisecond))
	if len(rep.Binary) > 0 {
		s.opt.Reporter.Warnf("%d binary file(s) hold the build path and were left as they are, e.g. %s", len(rep.Binary), rep.Binary[0])
	}
	if err := b.compile(ctx, rez, venvs); err != nil {
		return nil, err
	}

	m := &Manifest{
		Key:          p.Key,
		Prefix:       b.final,
		Interpreters: map[string]pyenv.Interpreter{},
		RezPython:    r.Rez.Python,
		Venvs:        venvs,
		EntryPoints:  b.eps,
		RezVersion:   rezVersion,
		Editable:     EditTools(r),
		Created:      s.opt.Now().UTC(),
		RezupVersion: s.opt.Version,
		Origin:       &Origin{How: OriginBuilt},
	}
	maps.Copy(m.Interpreters, p.Interps)
	return m, nil
}

// compile byte-compiles the relocated tree, venv by venv and the shared
// libs, as hash pycs that name their sources relative to the build
// ("venv/rez/lib/…", pyenv.Venv.Compile): pip installed with --no-compile,
// so the tree holds no install-time mtime, and no pyc names the prefix,
// so two builds of the same packages have byte-identical pycs whatever
// their keys and roots, and a new revision shares every pyc of the
// packages it did not change (objects.go; import fixes co_filename up to
// the real source, as for pip's own, see pyenv.CopyInto). It then makes
// pip's RECORD files say what relocation and the removed console scripts
// left (pyenv.RehashRecords): as pip wrote them, they hash scripts whose
// shebang named the staging dir, a random name.
func (b *staged) compile(ctx context.Context, rez pyenv.Venv, venvs []string) error {
	r := b.p.Recipe
	for _, name := range venvs {
		start := time.Now()
		v := pyenv.Venv{Dir: filepath.Join(b.dir, "venv", name)}
		spec := r.Rez.Python
		for _, ext := range r.Extensions {
			if ext.Isolation && ext.Name == name {
				spec = ext.Python
			}
		}
		site, ok := b.site[name]
		if inst, wheels := b.installed[name]; !ok && wheels {
			site, ok = inst.site, true
		}
		if !ok {
			var err error
			if site, err = v.SitePackages(ctx, b.s.opt.Environ); err != nil {
				return err
			}
		}
		rel, err := filepath.Rel(b.dir, site)
		if err != nil {
			return err
		}
		// pip, copied compiled by pyenv.Create, is compiled already,
		// unless the install replaced it (with --no-compile: no pycs).
		var skip []string
		if b.pipCopied[name] {
			if fi, err := os.Stat(filepath.Join(site, "pip", "__pycache__")); err == nil && fi.IsDir() {
				skip = []string{"pip"}
			}
		}
		if err := v.CompileExcept(ctx, b.p.Interps[spec], site, rel, skip, b.s.opt.Environ, b.s.opt.Log); err != nil {
			return fmt.Errorf("venv %s: %w", name, err)
		}
		if err := pyenv.RehashRecords(site, filepath.Join(b.final, rel)); err != nil {
			return fmt.Errorf("venv %s: %w", name, err)
		}
		b.s.opt.Reporter.Debugf("compiled venv %s in %v", name, time.Since(start).Round(time.Millisecond))
	}
	if sh := r.Shared; sh != nil {
		lib := filepath.Join("libs", sh.Name)
		if err := rez.Compile(ctx, b.p.Interps[r.Rez.Python], filepath.Join(b.dir, lib), lib, b.s.opt.Environ, b.s.opt.Log); err != nil {
			return fmt.Errorf("shared libs %s: %w", sh.Name, err)
		}
		if err := pyenv.RehashRecords(filepath.Join(b.dir, lib), filepath.Join(b.final, lib)); err != nil {
			return fmt.Errorf("shared libs %s: %w", sh.Name, err)
		}
	}
	return nil
}

// staged is one build in progress: a recipe being installed into a
// staging dir laid out as the final entry, whose scripts already point at
// the final prefix.
type staged struct {
	s       *Store
	p       *Plan
	dir     string              // the staging dir
	final   string              // .store/<key>
	pipEnv  []string            // the environment pip runs with: Options.Environ and [pip] env
	editBin string              // rez's production bin dir when rez is installed editable, else ""
	eps     map[string][]string // the production scripts written, by venv
	// lockDone: the venvs whose lock is installed (a locked build).
	lockDone map[string]bool
	// pipCopied: the venvs pyenv.Create copied a compiled pip into.
	pipCopied map[string]bool
	// site: the site-packages of venvs, as python said (the same path
	// once relocated: the staging dir does not move).
	site map[string]string
	// installed: the venvs whose lock InstallWheels installed, without pip.
	installed map[string]wheelInstall
}

// wheelInstall is what InstallWheels installed into a venv, and where.
type wheelInstall struct {
	site  string
	dists []pyenv.InstalledDist
}

// installRez creates the rez venv, installs rez with its production
// scripts and marks the production dir with rez's version.
func (b *staged) installRez(ctx context.Context) (pyenv.Venv, string, error) {
	r := b.p.Recipe
	rez, err := b.createVenv(ctx, "rez", r.Rez.Python)
	if err != nil {
		return rez, "", err
	}
	if err := b.install(ctx, rez, r.Rez, true); err != nil {
		return rez, "", err
	}
	// What the build reads from the rez venv: from what InstallWheels
	// wrote, or in one python run.
	var in pyenv.Inspection
	if installed, ok := b.installed["rez"]; ok {
		in, err = rez.InspectInstalled(installed.site, r.Rez.Name, installed.dists)
	} else {
		in, err = rez.Inspect(ctx, r.Rez.Name, b.s.opt.Environ)
	}
	if err != nil {
		return rez, "", err
	}
	b.site = map[string]string{"rez": in.SitePackages}
	if err := b.writeScripts(rez, "rez", r.Rez, in.Scripts); err != nil {
		return rez, "", err
	}
	return rez, in.RezVersion, pyenv.WriteProductionMarker(rez.ProdBinDir(), in.RezVersion)
}

// installExtension installs one [[extension]] with its entry points: into
// the rez venv, or into a venv of its own when it is isolated. It returns
// the name of the venv it went into.
func (b *staged) installExtension(ctx context.Context, rez pyenv.Venv, ext recipe.Tool) (string, error) {
	v, venv := rez, "rez"
	if ext.Isolation {
		venv = ext.Name
		var err error
		if v, err = b.createVenv(ctx, ext.Name, ext.Python); err != nil {
			return "", err
		}
		// An isolated extension still imports rez: install it as a
		// library, without production scripts.
		r := b.p.Recipe
		if err := b.install(ctx, v, r.Rez, false); err != nil {
			return "", err
		}
		// rez's plain scripts would run without -E, and bin/rez, its
		// main script, is where the production dir goes: remove them.
		eps, err := b.consoleScripts(ctx, v, venv, r.Rez.Name)
		if err != nil {
			return "", err
		}
		if err := pyenv.RemoveScripts(v.BinDir(), entryNames(eps)); err != nil {
			return "", err
		}
	}
	if err := b.install(ctx, v, ext, true); err != nil {
		return "", err
	}
	return venv, b.writeEntryPoints(ctx, v, venv, ext)
}

// createVenv creates staging/venv/<name> with the interpreter spec
// resolved to.
func (b *staged) createVenv(ctx context.Context, name, spec string) (pyenv.Venv, error) {
	py := b.p.Interps[spec]
	b.s.opt.Reporter.Infof("creating venv %s (python %s)", name, py.Version)
	dir := filepath.Join(b.dir, "venv", name)
	if err := os.MkdirAll(filepath.Dir(dir), 0o777); err != nil {
		return pyenv.Venv{}, err
	}
	if v, ok := b.s.takeSpare(ctx, name, py, dir); ok {
		b.notePipCopied(name, v)
		return v, nil
	}
	// Without ensurepip: the first install brings pip from the
	// interpreter's bundled wheel, unpacked once under .tmp/pip.
	opt := pyenv.CreateOptions{WithoutPip: true, PipCache: b.s.pipCache()}
	if pip, err := b.s.basePip(ctx, py); err == nil {
		opt.BasePip = &pip
	} // else Create finds it failing again, and falls back to ensurepip saying why
	v, err := pyenv.Create(ctx, py, dir, b.s.opt.Environ, b.s.opt.Log, opt)
	if err != nil {
		return v, fmt.Errorf("venv %s: %w", name, err)
	}
	b.notePipCopied(name, v)
	return v, nil
}

// notePipCopied remembers whether Create copied pip into the venv name.
func (b *staged) notePipCopied(name string, v pyenv.Venv) {
	if _, ok := v.CopiedPip(); ok {
		if b.pipCopied == nil {
			b.pipCopied = map[string]bool{}
		}
		b.pipCopied[name] = true
	}
}

// install pip-installs tool t into v, with its lib packages when withLib.
// A locked build installs v's whole lock at the first call for v (rez and
// the extensions that share its venv in one pip run), and nothing after.
func (b *staged) install(ctx context.Context, v pyenv.Venv, t recipe.Tool, withLib bool) error {
	if b.p.Resolution != nil {
		venv := filepath.Base(v.Dir)
		if b.lockDone[venv] {
			return nil
		}
		if b.lockDone == nil {
			b.lockDone = map[string]bool{}
		}
		b.lockDone[venv] = true
		return b.installLocked(ctx, v, venv)
	}
	b.s.opt.Reporter.Infof("installing %s", t.URL)
	var args []string
	if t.Edit {
		args = append(args, "--editable")
	}
	args = append(args, b.s.expand(t.URL))
	if withLib {
		args = append(args, t.Lib...)
	}
	// Bytecode is compiled once the tree is complete (see compile).
	args = append(args, "--no-compile")
	args = append(args, b.p.Recipe.Pip.Options...)
	return v.Install(ctx, args, b.pipEnv, b.s.opt.Log)
}

// writeEntryPoints replaces the console scripts of t that pip wrote into
// v with production scripts, which run the final venv's python with t's
// flags.
func (b *staged) writeEntryPoints(ctx context.Context, v pyenv.Venv, venv string, t recipe.Tool) error {
	eps, err := b.consoleScripts(ctx, v, venv, t.Name)
	if err != nil {
		return err
	}
	return b.writeScripts(v, venv, t, eps)
}

// consoleScripts are the console scripts of dist in v: from what
// InstallWheels wrote there, or as v's python says.
func (b *staged) consoleScripts(ctx context.Context, v pyenv.Venv, venv, dist string) ([]pyenv.EntryPoint, error) {
	if installed, ok := b.installed[venv]; ok {
		if eps, ok := pyenv.InstalledScripts(dist, installed.dists); ok {
			return eps, nil
		}
	}
	return v.ConsoleScripts(ctx, dist, b.s.opt.Environ)
}

// writeScripts is writeEntryPoints with t's console scripts eps read.
func (b *staged) writeScripts(v pyenv.Venv, venv string, t recipe.Tool, eps []pyenv.EntryPoint) error {
	// The plain scripts pip wrote run without -E, and bin/rez must
	// become the production dir: remove them, as the Python rezup does.
	if err := pyenv.RemoveScripts(v.BinDir(), entryNames(eps)); err != nil {
		return err
	}
	finalVenv := pyenv.Venv{Dir: filepath.Join(b.final, "venv", venv)}
	if b.eps == nil {
		b.eps = map[string][]string{}
	}
	b.eps[venv] = append(b.eps[venv], entryNames(eps)...)
	return pyenv.WriteEntryPoints(v.ProdBinDir(), finalVenv.Python(), t.Flags, eps, b.editBin)
}

// installShared installs the deprecated [shared] section. The Python rezup
// put it in <container>/libs/NAME and reused it across revisions; here it
// lives inside the store entry (libs/NAME), linked by a relative .pth, so
// that an entry stays immutable, self-contained and relocatable: an
// in-place `pip install -U` into a directory that running jobs import
// from is exactly what rezup exists to prevent.
//
// A locked build installs the lock's "shared" venv there.
func (b *staged) installShared(ctx context.Context, rez pyenv.Venv, sh *recipe.Shared) error {
	s := b.s
	s.opt.Reporter.Infof("installing shared libs %s", sh.Name)
	lib := filepath.Join(b.dir, "libs", sh.Name)
	if b.p.Resolution != nil {
		if err := b.installLocked(ctx, rez, SharedVenv, "--target", lib); err != nil {
			return err
		}
	} else {
		args := append([]string{"--upgrade", "--no-compile", "--target", lib}, sh.Requires...)
		args = append(args, b.p.Recipe.Pip.Options...)
		if err := rez.Install(ctx, args, b.pipEnv, s.opt.Log); err != nil {
			return err
		}
	}
	site, ok := b.site["rez"]
	if !ok {
		var err error
		if site, err = rez.SitePackages(ctx, s.opt.Environ); err != nil {
			return err
		}
	}
	rel, err := filepath.Rel(site, lib)
	if err != nil {
		return err
	}
	return fsx.WriteFile(filepath.Join(site, "_rezup_shared.pth"), []byte(rel+"\n"), 0o666)
}

func entryNames(eps []pyenv.EntryPoint) []string {
	names := make([]string, len(eps))
	for i, ep := range eps {
		names[i] = ep.Name
	}
	return names
}

func prodBin(entry, venv string) string {
	return pyenv.Venv{Dir: filepath.Join(entry, "venv", venv)}.ProdBinDir()
}

// binDirs are the production bin dirs of a ready entry, in venv order.
func (s *Store) binDirs(k cas.Key, venvs []string) []string {
	dirs := make([]string, len(venvs))
	for i, v := range venvs {
		dirs[i] = prodBin(s.opt.Root.EntryDir(k), v)
	}
	return dirs
}

func (s *Store) expand(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		return filepath.Join(s.opt.Home, p[1:])
	}
	return p
}

// mergeEnv returns environ with extra set on top, in a stable order.
func mergeEnv(environ []string, extra map[string]string) []string {
	if len(extra) == 0 {
		return environ
	}
	out := make([]string, 0, len(environ)+len(extra))
	override := make(map[string]bool, len(extra))
	for k := range extra {
		override[envlist.Key(k)] = true
	}
	for _, kv := range environ {
		if k, _, ok := envlist.Split(kv); !ok || !override[envlist.Key(k)] {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+extra[k])
	}
	return out
}
