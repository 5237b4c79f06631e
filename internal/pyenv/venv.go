package pyenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/internal/proc"
	"github.com/rezup/rezup/internal/pyout"
)

// ErrNoVenvModule means the interpreter cannot create a venv: its venv or
// ensurepip module is missing (Debian and Ubuntu ship them separately).
var ErrNoVenvModule = errors.New("python cannot create virtual environments")

// ErrNotInstalled means a distribution or package is not installed in the
// venv.
var ErrNotInstalled = errors.New("not installed")

// tailLines is how much of a failed command's output goes into its error.
const tailLines = 30

// waitDelay bounds how long a cancelled command may keep its output pipes
// open through children it left behind (pip runs build backends).
const waitDelay = 5 * time.Second

// Venv is a virtual environment directory.
type Venv struct {
	Dir string
	// seed, for a venv Create made without pip, is the pip that installs
	// into it until pip is in it (shared by copies of the Venv).
	seed *pipSeed
}

// pipSeed is the base pip of a venv made without pip, and whether it has
// installed pip into the venv yet.
type pipSeed struct {
	pip       BasePip
	installed bool
	copied    bool // installed by Create with BasePip.CopyInto
}

// CreateOptions tune Create. The zero value makes a venv the slow,
// classic way: `python -m venv`, whose ensurepip installs pip.
type CreateOptions struct {
	// WithoutPip makes the venv with `-m venv --without-pip`, and the
	// first Install installs pip itself from the interpreter's bundled
	// wheel in the same pip run (see BasePip), which is seconds faster.
	// Without a usable bundled wheel, Create falls back to ensurepip and
	// says why in the log.
	WithoutPip bool
	// PipCache is where the bundled pip wheel is unpacked (see
	// FindBasePip); required with WithoutPip.
	PipCache string
	// BasePip, when set, is what FindBasePip(py, PipCache) returned
	// already: Create then does not run python to find it again.
	BasePip *BasePip
}

// BinDir is where pip puts scripts: bin, or Scripts on Windows.
func (v Venv) BinDir() string { return filepath.Join(v.Dir, binDirName) }

// Python is the venv's interpreter.
func (v Venv) Python() string { return filepath.Join(v.BinDir(), venvPython) }

// ProdBinDir is where Rez production entry points live: BinDir()/rez.
func (v Venv) ProdBinDir() string { return filepath.Join(v.BinDir(), "rez") }

// Create makes a venv in dir with `py.Executable -E -m venv`: with pip
// (ensurepip), or, with opt.WithoutPip, without it until the first
// Install, which installs pip too. Either way, once Install has run, the
// venv has pip: `VENV/bin/python -m pip` works. The command's output goes
// to log. On failure the error holds the tail of that output; a missing
// venv/ensurepip module wraps ErrNoVenvModule and says which package to
// install.
func Create(ctx context.Context, py Interpreter, dir string, env []string, log io.Writer, opt CreateOptions) (Venv, error) {
	if py.Executable == "" {
		return Venv{}, errors.New("create venv: no interpreter (probe it first)")
	}
	if strings.HasPrefix(py.Version, "2.") {
		return Venv{}, fmt.Errorf("create venv %s: python %s (%s) has no venv module; rezup needs python 3: %w", dir, py.Version, py.Executable, ErrNoVenvModule)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Venv{}, fmt.Errorf("create venv %s: %w", dir, err)
	}
	var seed *pipSeed
	if opt.WithoutPip {
		var pip BasePip
		var err error
		if opt.BasePip != nil {
			pip = *opt.BasePip
		} else {
			pip, err = FindBasePip(ctx, py, opt.PipCache, env)
		}
		if err != nil {
			if ctx.Err() != nil {
				return Venv{}, fmt.Errorf("create venv %s: %w", abs, ctx.Err())
			}
			logf(log, "rezup: creating %s with ensurepip: %v\n", abs, err)
		} else {
			seed = &pipSeed{pip: pip}
		}
	}
	args := []string{"-E", "-m", "venv", abs}
	if seed != nil {
		args = []string{"-E", "-m", "venv", "--without-pip", abs}
	}
	tw := newTailWriter(log)
	cmd := command(ctx, py.Executable, args, env)
	cmd.Stdout, cmd.Stderr = tw, tw
	if err := cmd.Run(); err != nil {
		out := tw.Tail()
		if strings.Contains(out, "ensurepip") || strings.Contains(out, "No module named venv") {
			pkg := "python3-venv"
			if mm := py.MajorMinor(); mm != "" {
				pkg = "python" + mm + "-venv"
			}
			return Venv{}, fmt.Errorf("create venv %s: python %s (%s) lacks the venv/ensurepip modules; install the python3-venv package (%s on Debian/Ubuntu): %w\n%s",
				abs, py.Version, py.Executable, pkg, ErrNoVenvModule, out)
		}
		return Venv{}, pyout.WithOSError(fmt.Errorf("create venv %s with %s failed (%s):\n%s", abs, py.Executable, exitText(err), out), string(out))
	}
	v := Venv{Dir: abs, seed: seed}
	if _, err := os.Stat(v.Python()); err != nil {
		return Venv{}, fmt.Errorf("create venv %s: no interpreter at %s afterwards: %w", abs, v.Python(), err)
	}
	if seed != nil && canCopyPip {
		// pip goes in now, copied compiled from the unpacked wheel:
		// seconds faster than pip installing and compiling itself.
		site, err := v.freshSitePackages(ctx, py, env)
		if err == nil {
			err = seed.pip.CopyInto(site, v.BinDir(), v.Python(), py.Version)
		}
		if err != nil {
			return Venv{}, fmt.Errorf("create venv %s: %w", abs, err)
		}
		seed.installed, seed.copied = true, true
	}
	return v, nil
}

// Install runs `python -E -m pip install --disable-pip-version-check
// --no-input args...` with the venv's python. Output streams to log; on
// failure the error is "pip install ARGS failed (exit N):" and the last
// lines of the output. env is where PIP_* settings go.
//
// In a venv Create made without pip, the first Install runs the base pip
// (PipCommand) and installs the bundled pip wheel along with args, in the
// same run; with args that install elsewhere than the venv (--target,
// --prefix, --root), pip is installed by a run of its own first.
func (v Venv) Install(ctx context.Context, args []string, env []string, log io.Writer) error {
	if v.seed != nil && !v.seed.installed {
		if installsElsewhere(args) {
			if err := v.pip(ctx, []string{v.seed.pip.Wheel}, env, log); err != nil {
				return err
			}
		} else {
			args = append(slices.Clip(args), v.seed.pip.Wheel)
		}
	}
	return v.pip(ctx, args, env, log)
}

// CopiedPip is the bundled pip Create copied into the venv (false when
// pip was not copied: a venv made with ensurepip, or on Windows, where the
// first Install installs it). A caller whose requirements hold pip (a
// lock) leaves it out when it is that wheel.
func (v Venv) CopiedPip() (BasePip, bool) {
	if v.seed == nil || !v.seed.copied {
		return BasePip{}, false
	}
	return v.seed.pip, true
}

// freshSitePackages is the site-packages of a venv `-m venv` just made
// for py: lib/pythonX.Y/site-packages, found without running python when
// it is there (CPython on unix), else as python says.
func (v Venv) freshSitePackages(ctx context.Context, py Interpreter, env []string) (string, error) {
	site := filepath.Join(v.Dir, "lib", "python"+py.MajorMinor(), "site-packages")
	if fi, err := os.Stat(site); err == nil && fi.IsDir() && py.MajorMinor() != "" {
		return site, nil
	}
	return v.SitePackages(ctx, env)
}

// SeedWheel is the bundled pip wheel the first Install of a venv Create
// made without pip adds, while the venv has no pip yet ("", false
// otherwise): a caller whose requirements already hold pip (a lock) finds
// it here and installs it with InstallWithPip.
func (v Venv) SeedWheel() (string, bool) {
	if v.seed == nil || v.seed.installed {
		return "", false
	}
	return v.seed.pip.Wheel, true
}

// InstallWithPip is Install for args that install pip into the venv
// themselves (a requirements file that holds pip): the seed wheel is not
// added, and once it succeeds the venv counts as having pip.
func (v Venv) InstallWithPip(ctx context.Context, args []string, env []string, log io.Writer) error {
	if err := v.pip(ctx, args, env, log); err != nil {
		return err
	}
	if v.seed != nil {
		v.seed.installed = true
	}
	return nil
}

func (v Venv) pip(ctx context.Context, args []string, env []string, log io.Writer) error {
	tw := newTailWriter(log)
	pip := v.PipCommand()
	argv := append(pip[1:], append([]string{"install", "--disable-pip-version-check", "--no-input"}, args...)...)
	cmd := command(ctx, pip[0], argv, env)
	cmd.Stdout, cmd.Stderr = tw, tw
	if err := cmd.Run(); err != nil {
		shown := args
		if v.seed != nil && !v.seed.installed && len(args) > 0 && args[len(args)-1] == v.seed.pip.Wheel {
			shown = args[:len(args)-1] // the seed wheel is rezup's, not the caller's
		}
		return pyout.WithOSError(fmt.Errorf("pip install %s failed (%s):\n%s", strings.Join(shown, " "), exitText(err), tw.Tail()), tw.Tail())
	}
	if v.seed != nil && slices.Contains(args, v.seed.pip.Wheel) {
		v.seed.installed = true
	}
	return nil
}

// PipCommand is the argv prefix that runs pip for this venv: its own pip
// (`VENV/bin/python -E -m pip`), or, in a venv Create made without pip
// that has no pip yet, the base pip run by the venv's python, which
// installs into the venv all the same. Append the pip command and its
// arguments.
func (v Venv) PipCommand() []string {
	if v.seed != nil && !v.seed.installed {
		return v.seed.pip.Argv(v.Python())
	}
	return []string{v.Python(), "-E", "-m", "pip"}
}

// installsElsewhere says whether pip install args put packages outside
// the venv's site-packages.
func installsElsewhere(args []string) bool {
	for _, a := range args {
		for _, opt := range []string{"--target", "-t", "--prefix", "--root", "--user"} {
			if a == opt || strings.HasPrefix(a, opt+"=") || (opt == "-t" && strings.HasPrefix(a, "-t") && len(a) > 2) {
				return true
			}
		}
	}
	return false
}

func logf(log io.Writer, format string, args ...any) {
	if log != nil {
		// Only a note; a failing log must not fail the build.
		_, _ = fmt.Fprintf(log, format, args...)
	}
}

const consoleScriptsScript = `import json, sys
try:
    from importlib import metadata
except ImportError:
    import importlib_metadata as metadata
try:
    dist = metadata.distribution(sys.argv[1])
except metadata.PackageNotFoundError:
    sys.stdout.write("null")
    sys.exit(0)
json.dump([[ep.name, ep.value] for ep in dist.entry_points if ep.group == "console_scripts"], sys.stdout)
`

// ConsoleScripts lists the console_scripts entry points of the installed
// distribution dist, sorted by name. It asks the venv's python
// (importlib.metadata), so editable installs work too. A distribution that
// is not installed wraps ErrNotInstalled.
func (v Venv) ConsoleScripts(ctx context.Context, dist string, env []string) ([]EntryPoint, error) {
	out, err := output(ctx, v.Python(), []string{"-E", "-c", consoleScriptsScript, dist}, env)
	if err != nil {
		return nil, fmt.Errorf("console scripts of %s: %w", dist, err)
	}
	var pairs [][2]string
	if err := json.Unmarshal(bytes.TrimSpace(out), &pairs); err != nil {
		return nil, fmt.Errorf("console scripts of %s: unexpected output %q: %w", dist, tail(out, 3), err)
	}
	return v.entryPoints(dist, pairs)
}

// entryPoints parses consoleScriptsScript's pairs (nil: dist is not
// installed).
func (v Venv) entryPoints(dist string, pairs [][2]string) ([]EntryPoint, error) {
	if pairs == nil {
		return nil, fmt.Errorf("console scripts of %s in %s: distribution %w", dist, v.Dir, ErrNotInstalled)
	}
	// Several entries may share a name; the last one wins, as it does for
	// pip's script maker.
	byName := map[string]EntryPoint{}
	for _, p := range pairs {
		ep, err := ParseEntryPoint(p[0], p[1])
		if err != nil {
			return nil, fmt.Errorf("console scripts of %s: %w", dist, err)
		}
		byName[ep.Name] = ep
	}
	eps := make([]EntryPoint, 0, len(byName))
	for _, ep := range byName {
		eps = append(eps, ep)
	}
	sort.Slice(eps, func(i, j int) bool { return eps[i].Name < eps[j].Name })
	return eps, nil
}

// rezDirScript finds the rez package without importing it: importing runs
// rez's __init__, which has no business running during a build.
const rezDirScript = `import sys
try:
    from importlib.util import find_spec
    spec = find_spec("rez")
    locs = spec and spec.submodule_search_locations
    if locs:
        sys.stdout.write(list(locs)[0])
except ImportError:
    pass
`

var rezVersionRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?m)^_rez_version\s*=\s*['"]([^'"\s]+)['"]`)
})

// RezVersion returns the version of the rez package installed in the venv
// (editable or not), read from rez/utils/_version.py. A venv without rez
// wraps ErrNotInstalled.
func (v Venv) RezVersion(ctx context.Context, env []string) (string, error) {
	out, err := output(ctx, v.Python(), []string{"-E", "-c", rezDirScript}, env)
	if err != nil {
		return "", fmt.Errorf("rez version: %w", err)
	}
	return v.rezVersionIn(strings.TrimSpace(string(out)))
}

// rezVersionIn reads the version of the rez package in dir, where
// rezDirScript found it ("": not installed).
func (v Venv) rezVersionIn(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("rez version: package rez in %s: %w", v.Dir, ErrNotInstalled)
	}
	path := filepath.Join(dir, "utils", "_version.py")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("rez version: %w", err)
	}
	m := rezVersionRe().FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("rez version: %s has no _rez_version assignment", path)
	}
	return string(m[1]), nil
}

// SitePackages returns the venv's purelib directory.
func (v Venv) SitePackages(ctx context.Context, env []string) (string, error) {
	out, err := output(ctx, v.Python(), []string{"-E", "-c", `import sys, sysconfig; sys.stdout.write(sysconfig.get_paths()["purelib"])`}, env)
	if err != nil {
		return "", fmt.Errorf("site-packages of %s: %w", v.Dir, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("site-packages of %s: python printed nothing", v.Dir)
	}
	return dir, nil
}

func command(ctx context.Context, exe string, args []string, env []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = env
	cmd.WaitDelay = waitDelay
	// Its own process group: an interrupt ends python and what it
	// started (compileall's workers, pip's build backends) together.
	proc.Group(cmd)
	return cmd
}

// output runs a short introspection command and returns its stdout; its
// stderr tail goes into the error.
func output(ctx context.Context, exe string, args []string, env []string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := command(ctx, exe, args, env)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%s failed (%s):\n%s", exe, exitText(err), tail(stderr.Bytes(), tailLines))
		}
		return nil, err
	}
	return stdout.Bytes(), nil
}

// exitText describes how a command ended: "exit 2", or the start error.
func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if code := ee.ExitCode(); code >= 0 {
			return fmt.Sprintf("exit %d", code)
		}
		return ee.String() // killed by a signal
	}
	return err.Error()
}

// tail returns the last n lines of out, without trailing blank lines.
func tail(out []byte, n int) string {
	s := strings.TrimRight(string(out), "\r\n\t ")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailWriter passes output on to a log and keeps its end for an error
// message, in bounded memory however much pip prints.
type tailWriter struct {
	log io.Writer
	buf []byte
}

const tailKeep = 16 << 10

func newTailWriter(log io.Writer) *tailWriter { return &tailWriter{log: log} }

func (t *tailWriter) Write(p []byte) (int, error) {
	if t.log != nil {
		// A failing log must not fail the install it is reporting on.
		_, _ = t.log.Write(p)
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailKeep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailKeep:]...)
	}
	return len(p), nil
}

// Tail returns the last lines written.
func (t *tailWriter) Tail() string { return tail(t.buf, tailLines) }

// Compile byte-compiles the Python sources under dir (a site-packages, or
// a --target lib dir) with the venv's python, as checked-hash pycs whose
// recorded file names are under asDir (compileall -d). It is what makes
// two builds of the same packages byte-identical: pip's own compilation
// (skip it with `install --no-compile`) writes timestamp pycs, which
// embed each source's mtime, and the staging path. A relative asDir
// (dir's path within the build) keeps the build's prefix out of the pycs
// too: import replaces the recorded name with the source's real path
// (the pyc of a checked-hash pyc always has its source), so it shows
// only in a compile-time traceback.
//
// checked-hash rather than unchecked-hash: a pyc is then used only while
// its source hashes the same, at the cost of reading the source at
// import. Relocating an entry to another prefix rewrites the sources that
// hold the old one; an unchecked pyc would keep running the old bytes.
// Python before 3.7 has no hash pycs: it gets timestamp pycs, which are
// not reproducible.
//
// Files that do not compile (Python 2 leftovers in some packages) are
// left without bytecode, as pip leaves them; they are named in log.
func (v Venv) Compile(ctx context.Context, py Interpreter, dir, asDir string, env []string, log io.Writer) error {
	return v.CompileExcept(ctx, py, dir, asDir, nil, env, log)
}

// CompileExcept is Compile leaving out the top-level packages skip of dir,
// compiled already (pip, copied compiled by Create).
func (v Venv) CompileExcept(ctx context.Context, py Interpreter, dir, asDir string, skip []string, env []string, log io.Writer) error {
	// -f: pip and the build's own python runs (pip from the venv, for
	// one) wrote timestamp pycs at import, which compileall would keep
	// as up to date.
	args := []string{"-E", "-m", "compileall", "-f", "-q", "-d", asDir}
	if countSources(dir, skip, parallelFrom) >= parallelFrom {
		// Worker processes cost a few hundred ms to start: worth it only
		// for many files (rez itself), not the few of a small install.
		args = append(args, "-j0")
	}
	if len(skip) > 0 {
		// compileall matches -x against each file's path (as given under
		// dir); Go's QuoteMeta escapes are Python re escapes too.
		alts := make([]string, len(skip))
		for i, name := range skip {
			alts[i] = regexp.QuoteMeta(filepath.Join(dir, name) + string(filepath.Separator))
		}
		args = append(args, "-x", "^(?:"+strings.Join(alts, "|")+")")
	}
	if !olderThan(py.Version, 3, 7) {
		args = append(args, "--invalidation-mode", "checked-hash")
	}
	if !olderThan(py.Version, 3, 9) {
		args = append(args, "-r", "1000") // before 3.9 the default is 10 levels, and -r does not exist
	}
	tw := newTailWriter(log)
	cmd := command(ctx, v.Python(), append(args, dir), env)
	cmd.Stdout, cmd.Stderr = tw, tw
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 && ctx.Err() == nil {
		// compileall's "some files did not compile": pip ignores those
		// too (they are imported, if ever, from source).
		logf(log, "rezup: some files under %s did not compile; they stay source only\n", dir)
		return nil
	}
	if err != nil {
		return pyout.WithOSError(fmt.Errorf("compile %s failed (%s):\n%s", dir, exitText(err), tw.Tail()), tw.Tail())
	}
	return nil
}

// parallelFrom is how many .py files make Compile use worker processes.
const parallelFrom = 200

// countSources counts the .py files under dir, but those under its
// top-level entries skip, up to limit (a walk error counts as many).
func countSources(dir string, skip []string, limit int) int {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && filepath.Dir(p) == dir && slices.Contains(skip, d.Name()) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".py") {
			if n++; n >= limit {
				return filepath.SkipAll
			}
		}
		return nil
	})
	if err != nil {
		return limit
	}
	return n
}

// olderThan says whether version ("3.11.7") is before major.minor; an
// unparsable version is not.
func olderThan(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma < major || ma == major && mi < minor
}

// MoveTo renames the venv to dir (on the same file system; dir must not
// exist) and relocates what names its old path (pyvenv.cfg's command,
// the activate scripts, the shebangs of pip's scripts) to dir. The venv
// returned is the same venv there, pip seed included.
func (v Venv) MoveTo(dir string) (Venv, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Venv{}, err
	}
	if err := os.Rename(v.Dir, abs); err != nil {
		return Venv{}, fmt.Errorf("move venv: %w", err)
	}
	if _, err := Relocate(abs, v.Dir, abs); err != nil {
		return Venv{}, fmt.Errorf("move venv to %s: %w", abs, err)
	}
	return Venv{Dir: abs, seed: v.seed}, nil
}
