package materialize

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/internal/pyenv"
	"github.com/rezup/rezup/internal/pyid"
	"github.com/rezup/rezup/internal/pyresolve"
	"github.com/rezup/rezup/recipe"
)

// SharedVenv is the name of the [shared] libs in a lock: they are not a
// venv, but are resolved and installed as one (into libs/NAME).
const SharedVenv = "shared"

// lockVenv is one venv a build makes, as the lock sees it: its name, the
// python spec it runs, its requirements, and whether pip itself goes in.
type lockVenv struct {
	name, python string
	reqs         []string
	withPip      bool
}

// lockVenvs lists the venvs a build of r makes, in the recipe's order: rez
// with its lib and the non-isolated extensions with theirs, the [shared]
// libs, then each isolated extension with rez as a library.
func (s *Store) lockVenvs(r *recipe.Recipe) []lockVenv {
	rez := lockVenv{name: "rez", python: r.Rez.Python, reqs: s.toolReqs(r.Rez, true), withPip: true}
	var isolated []lockVenv
	for _, ext := range r.Extensions {
		if !ext.Isolation {
			rez.reqs = append(rez.reqs, s.toolReqs(ext, true)...)
			continue
		}
		reqs := append(s.toolReqs(r.Rez, false), s.toolReqs(ext, true)...)
		isolated = append(isolated, lockVenv{name: ext.Name, python: ext.Python, reqs: reqs, withPip: true})
	}
	out := []lockVenv{rez}
	if sh := r.Shared; sh != nil {
		out = append(out, lockVenv{name: SharedVenv, python: r.Rez.Python, reqs: append([]string{}, sh.Requires...)})
	}
	return append(out, isolated...)
}

// venvNames are the names of the venvs a build of r makes, in lockVenvs'
// order.
func venvNames(r *recipe.Recipe) []string {
	names := []string{"rez"}
	if r.Shared != nil {
		names = append(names, SharedVenv)
	}
	for _, ext := range r.Extensions {
		if ext.Isolation {
			names = append(names, ext.Name)
		}
	}
	return names
}

// toolReqs are pip's requirement arguments for t, as build installs it.
func (s *Store) toolReqs(t recipe.Tool, withLib bool) []string {
	u := t.URL
	if u == "" {
		u = t.Name
	}
	var reqs []string
	if t.Edit {
		reqs = append(reqs, "-e")
	}
	reqs = append(reqs, s.expand(u))
	if withLib {
		reqs = append(reqs, t.Lib...)
	}
	return reqs
}

// resolve resolves every venv a build of p makes with pip (install
// --dry-run --report), with the recipe's [pip] options and env, and returns
// the resolution (lock.json). pip runs from the interpreter's bundled wheel, needing no venv;
// that wheel is also what every venv's pip is locked to (`pip @ file://…`),
// so that the pip in a venv is the same on every node with the same
// interpreter. Venvs resolve in parallel. A resolution that fails wraps
// pyresolve.ErrNoNetwork or pyresolve.ErrNotFound when pip's output says so.
func (s *Store) resolve(ctx context.Context, p *Plan) (*pyresolve.Resolution, error) {
	r := p.Recipe
	venvs := s.lockVenvs(r)
	// Resolving writes pip's report (and may unpack the bundled pip) in
	// the root's .tmp: a root this account may not write fails here, with
	// the same message as a build would.
	if err := os.MkdirAll(s.opt.Root.TmpDir(), 0o777); err != nil {
		return nil, s.opt.Root.notWritable(s.opt.Root.TmpDir(), fmt.Errorf("resolve: %w", err))
	}
	tmp, err := os.MkdirTemp(s.opt.Root.TmpDir(), "resolve-")
	if err != nil {
		return nil, s.opt.Root.notWritable(s.opt.Root.TmpDir(), fmt.Errorf("resolve: %w", err))
	}
	defer os.RemoveAll(tmp) // best effort: only pip's reports are in it
	// The venvs a build would make, made meanwhile (see spare.go).
	s.prepareVenvs(ctx, p)
	env := mergeEnv(s.opt.Environ, r.Pip.Env)
	locks := make([]pyresolve.VenvResolution, len(venvs))
	errs := make([]error, len(venvs))
	var wg sync.WaitGroup
	for i, v := range venvs {
		wg.Go(func() {
			vl, err := s.resolveVenv(ctx, p, v, env, tmp)
			if err == nil {
				locks[i] = *vl
			}
			errs[i] = err
		})
	}
	wg.Wait()
	// The first failure in recipe order: one line, as pip said it.
	for _, err := range errs {
		if err != nil {
			s.dropSpares() // no build follows
			return nil, err
		}
	}
	return &pyresolve.Resolution{Version: pyresolve.Version, Venvs: locks}, nil
}

func (s *Store) resolveVenv(ctx context.Context, p *Plan, v lockVenv, env []string, tmp string) (*pyresolve.VenvResolution, error) {
	py, ok := p.Interps[v.python]
	if !ok {
		return nil, fmt.Errorf("resolve %s: no interpreter for python %q", v.name, v.python)
	}
	pip, err := s.basePip(ctx, py)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", v.name, err)
	}
	reqs := v.reqs
	if v.withPip {
		reqs = append(reqs[:len(reqs):len(reqs)], "pip @ "+fileURL(pip.Wheel))
	}
	s.opt.Reporter.Infof("resolving %s (python %s)", v.name, py.Version)
	return pyresolve.Resolve(ctx, pyresolve.ResolveOptions{
		Name:         v.name,
		Pip:          pip.Argv(py.Executable),
		Requirements: reqs,
		Options:      p.Recipe.Pip.Options,
		Env:          env,
		TempDir:      tmp,
		Log:          s.opt.Log,
	})
}

// basePips remembers the bundled pip of each interpreter this process
// found (pyenv.FindBasePip runs python): resolving and creating a venv
// both need it.
type basePips struct {
	mu    sync.Mutex
	found map[string]pyenv.BasePip // by interpreter executable
}

// basePip is pyenv.FindBasePip for py, once per Store and its copies.
// Failures are not remembered: they are errors, or Create's fallback to
// ensurepip, which says why each time.
func (s *Store) basePip(ctx context.Context, py pyenv.Interpreter) (pyenv.BasePip, error) {
	s.basePips.mu.Lock()
	pip, ok := s.basePips.found[py.Executable]
	s.basePips.mu.Unlock()
	if ok {
		return pip, nil
	}
	pip, err := pyenv.FindBasePip(ctx, py, s.pipCache(), s.opt.Environ)
	if err != nil && s.pipCache() != s.rootPipCache() && !errors.Is(err, pyenv.ErrNoBasePip) && ctx.Err() == nil {
		// The user's cache could not be written (a home this account
		// cannot write, a full disk): the root's own, as without one.
		s.opt.Reporter.Debugf("pip cache %s: %v; using %s", s.pipCache(), err, s.rootPipCache())
		pip, err = pyenv.FindBasePip(ctx, py, s.rootPipCache(), s.opt.Environ)
	}
	if err != nil {
		return pip, err
	}
	s.basePips.mu.Lock()
	if s.basePips.found == nil {
		s.basePips.found = map[string]pyenv.BasePip{}
	}
	s.basePips.found[py.Executable] = pip
	s.basePips.mu.Unlock()
	return pip, nil
}

// pipCache is where bundled pip wheels are unpacked (pyenv.FindBasePip).
func (s *Store) pipCache() string {
	if s.opt.PipCache != "" {
		return s.opt.PipCache
	}
	return s.rootPipCache()
}

// rootPipCache is the root's own pip cache, .tmp/pip.
func (s *Store) rootPipCache() string { return filepath.Join(s.opt.Root.TmpDir(), "pip") }

// with is the plan of recipe r (p's recipe with another [build] salt, or
// p's own) built from res, with p's interpreters, and no pip run: it
// checks that res has every venv a build of r makes, and computes the key
// that covers res (see recipe.ResolvedBuildInputs). A launch of a revision
// that has a lock.json, and `add --frozen`, build such plans.
func (p *Plan) with(r *recipe.Recipe, res *pyresolve.Resolution) (*Plan, error) {
	if res == nil {
		return nil, errors.New("plan: no resolution")
	}
	for _, v := range venvNames(r) {
		if _, ok := res.Venv(v); !ok {
			return nil, fmt.Errorf("the lock has no venv %q, which the recipe %s builds: the recipe changed since it was locked; run `rezup add` to resolve it again", v, r.File)
		}
	}
	kb, err := res.KeyBytes()
	if err != nil {
		return nil, err
	}
	ids := map[string]pyid.ID{}
	for spec, py := range p.Interps {
		ids[spec] = py.ID
	}
	inputs, err := recipe.ResolvedBuildInputs(r, ids, kb)
	if err != nil {
		return nil, err
	}
	return &Plan{Recipe: r, Interps: p.Interps, Inputs: inputs, Key: cas.KeyOf(inputs), Resolution: res}, nil
}

// interpreters finds and probes every interpreter r asks for.
func (s *Store) interpreters(ctx context.Context, r *recipe.Recipe) (map[string]pyenv.Interpreter, error) {
	interps := map[string]pyenv.Interpreter{}
	for _, spec := range r.PythonSpecs() {
		exe, err := pyenv.Find(spec, s.opt.Home, envlist.Get(s.opt.Environ, "PATH"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.File, err)
		}
		// Remembered beside the unpacked pips: a build then starts no
		// python to learn what it is (see pyenv.ProbeCached).
		py, err := pyenv.ProbeCached(ctx, exe, s.opt.Environ, s.pipCache())
		if err != nil {
			return nil, err
		}
		interps[spec] = py
	}
	return interps, nil
}

// installLocked installs venv's lock into v in one pip run: exactly the
// locked distributions (--no-deps, --require-hashes when every one has a
// hash), pip's own wheel included, with the recipe's pip options (an index
// source is found again through them) and extra (--target for [shared]).
func (b *staged) installLocked(ctx context.Context, v pyenv.Venv, venv string, extra ...string) error {
	vl, ok := b.p.Resolution.Venv(venv)
	if !ok {
		return fmt.Errorf("the lock has no venv %q", venv)
	}
	if len(vl.Dists) == 0 {
		return nil
	}
	b.s.opt.Reporter.Infof("installing the lock of %s (%d distributions)", venv, len(vl.Dists))
	vl, err := b.localPip(vl, v)
	if err != nil {
		return fmt.Errorf("venv %s: %w", venv, err)
	}
	if len(vl.Dists) == 0 {
		return nil // only pip, copied in already
	}
	if len(extra) == 0 && venv != SharedVenv {
		done, err := b.installWheels(v, venv, vl)
		if done || err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp(b.s.opt.Root.TmpDir(), "lock-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // best effort: a requirements file nobody else reads
	args, _, err := vl.InstallArgs(filepath.Join(tmp, "requirements.txt"))
	if err != nil {
		return err
	}
	// Bytecode is compiled once the tree is complete (see compile).
	args = append(args, "--no-compile")
	args = append(args, b.p.Recipe.Pip.Options...)
	args = append(args, extra...)
	if venv == SharedVenv {
		return v.Install(ctx, args, b.pipEnv, b.s.opt.Log)
	}
	return v.InstallWithPip(ctx, args, b.pipEnv, b.s.opt.Log)
}

// localPip points the lock's pip, locked to the resolving machine's
// bundled wheel (a file source), at this interpreter's bundled wheel when
// it has the same sha256: the path may differ from node to node, the
// bytes may not.
//
// When Create copied that very wheel into v already (pyenv.Venv.CopiedPip),
// pip is left out of the lock's install: it is installed, at the locked
// version, from the locked bytes.
func (b *staged) localPip(vl pyresolve.VenvResolution, v pyenv.Venv) (pyresolve.VenvResolution, error) {
	wheel, ok := v.SeedWheel()
	copied, isCopied := v.CopiedPip()
	for i, d := range vl.Dists {
		if d.Name != "pip" || d.Source.Kind != pyresolve.KindFile {
			continue
		}
		if isCopied {
			sum, err := fileSHA256(copied.Wheel)
			if err != nil {
				return vl, err
			}
			if sum == d.Source.SHA256 {
				dists := append(append([]pyresolve.Dist{}, vl.Dists[:i]...), vl.Dists[i+1:]...)
				return pyresolve.VenvResolution{Name: vl.Name, Dists: dists}, nil
			}
		}
		if ok {
			sum, err := fileSHA256(wheel)
			if err != nil {
				return vl, err
			}
			if sum == d.Source.SHA256 {
				dists := append([]pyresolve.Dist{}, vl.Dists...)
				dists[i].Source.URL = fileURL(wheel)
				return pyresolve.VenvResolution{Name: vl.Name, Dists: dists}, nil
			}
		}
		if path, ok := filePath(d.Source.URL); ok {
			if _, err := os.Stat(path); err != nil {
				return vl, fmt.Errorf("the lock's pip %s (sha256 %s) is not this interpreter's bundled pip wheel, and %s is not here: lock again with `rezup add`", d.Version, d.Source.SHA256, path)
			}
		}
	}
	return vl, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close() // read side
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fileURL is the file:// URL of an absolute local path.
func fileURL(path string) string {
	u := (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
	if !strings.HasPrefix(u, "file:///") {
		u = "file:///" + strings.TrimPrefix(u, "file://") // C:/x on Windows
	}
	return u
}

func filePath(u string) (string, bool) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "file" {
		return "", false
	}
	path := p.Path
	if len(path) > 2 && path[0] == '/' && path[2] == ':' {
		path = path[1:]
	}
	return filepath.FromSlash(path), true
}

// installWheels installs vl into v without pip when localWheels allows
// it, and says whether it did.
func (b *staged) installWheels(v pyenv.Venv, venv string, vl pyresolve.VenvResolution) (bool, error) {
	site, wheels, why := b.localWheels(v, venv, vl)
	if why != "" {
		b.s.opt.Reporter.Debugf("installing venv %s with pip: %s", venv, why)
		return false, nil
	}
	start := time.Now()
	installed, err := v.InstallWheels(site, b.interp(venv).Version, wheels)
	if err != nil {
		return false, fmt.Errorf("venv %s: %w", venv, err)
	}
	if b.installed == nil {
		b.installed = map[string]wheelInstall{}
	}
	b.installed[venv] = wheelInstall{site: site, dists: installed}
	b.s.opt.Reporter.Debugf("installed %d wheel(s) into venv %s without pip in %v", len(wheels), venv, time.Since(start).Round(time.Millisecond))
	return true, nil
}

// interp is the interpreter of venv: rez's, or an isolated extension's.
func (b *staged) interp(venv string) pyenv.Interpreter {
	r := b.p.Recipe
	spec := r.Rez.Python
	for _, ext := range r.Extensions {
		if ext.Isolation && ext.Name == venv {
			spec = ext.Python
		}
	}
	return b.p.Interps[spec]
}

// localWheels returns the wheels that install vl into v without pip
// (pyenv.Venv.InstallWheels), with the site-packages they go to, when
// that is exactly what pip would do: every distribution is a wheel file
// on this machine with its locked sha256, and neither the recipe's pip
// options nor pip's environment change where or how pip installs.
// Otherwise it says why not, and pip installs the lock.
func (b *staged) localWheels(v pyenv.Venv, venv string, vl pyresolve.VenvResolution) (site string, wheels []pyenv.Wheel, why string) {
	if !pyenv.CanInstallWheels {
		return "", nil, "pip writes the scripts on this platform"
	}
	if opt, ok := installOption(b.p.Recipe.Pip.Options); !ok {
		return "", nil, fmt.Sprintf("the recipe's pip option %s may change how pip installs", opt)
	}
	for _, k := range []string{"PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_USER", "PIP_SRC", "PIP_EDITABLE", "PIP_COMPILE", "PIP_CONFIG_FILE"} {
		if envlist.Get(b.pipEnv, k) != "" {
			return "", nil, k + " is set"
		}
	}
	site, ok := v.WheelSite(b.interp(venv))
	if !ok {
		return "", nil, "the venv's layout is not CPython's on unix"
	}
	for _, d := range vl.Dists {
		src := d.Source
		if src.Kind != pyresolve.KindIndex && src.Kind != pyresolve.KindFile && src.Kind != pyresolve.KindURL || src.SHA256 == "" {
			return "", nil, fmt.Sprintf("%s %s is not a hashed archive", d.Name, d.Version)
		}
		u, _, _ := strings.Cut(src.URL, "#")
		p, ok := filePath(u)
		if !ok || !strings.HasSuffix(p, ".whl") {
			return "", nil, fmt.Sprintf("%s %s is not a local wheel", d.Name, d.Version)
		}
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return "", nil, fmt.Sprintf("%s is not here", p)
		}
		w := pyenv.Wheel{Path: p, SHA256: src.SHA256}
		if src.Kind != pyresolve.KindIndex {
			w.URL = u // asked for as `name @ url`: pip writes direct_url.json
		}
		wheels = append(wheels, w)
	}
	return site, wheels, ""
}

// installOption returns the first pip option of opts that may change how
// or where pip installs (false), or true when all of them only say where
// packages are found (index, find-links, network, output): options the
// lock's resolution used already, and that installing its wheels without
// pip does not need.
func installOption(opts []string) (string, bool) {
	withValue := map[string]bool{
		"-i": true, "--index-url": true, "--extra-index-url": true, "-f": true, "--find-links": true,
		"--trusted-host": true, "--cert": true, "--client-cert": true, "--timeout": true, "--retries": true,
		"--proxy": true, "--cache-dir": true, "--progress-bar": true, "--log": true, "--exists-action": true,
		"--root-user-action": true, "--keyring-provider": true, "-c": true, "--constraint": true,
		"--only-binary": true,
	}
	flags := map[string]bool{
		"--no-index": true, "--disable-pip-version-check": true, "--no-cache-dir": true, "-q": true, "--quiet": true,
		"-v": true, "--verbose": true, "--no-input": true, "--isolated": true, "--pre": true, "--prefer-binary": true,
		"--require-hashes": true, "--no-deps": true, "--no-warn-script-location": true, "--no-warn-conflicts": true,
		"-U": true, "--upgrade": true, "--force-reinstall": true, "-I": true, "--ignore-installed": true,
		"--no-compile": true, "--no-color": true, "--no-build-isolation": true,
	}
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		name, _, hasValue := strings.Cut(o, "=")
		switch {
		case flags[o]:
		case withValue[name] && hasValue:
		case withValue[o] && i+1 < len(opts):
			i++
		case len(o) > 2 && (strings.HasPrefix(o, "-i") || strings.HasPrefix(o, "-f") || strings.HasPrefix(o, "-c")) && !strings.HasPrefix(o, "--"):
			// -iURL, -fDIR, -cFILE
		default:
			return o, false
		}
	}
	return "", true
}
