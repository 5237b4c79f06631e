package pyenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyid"
)

// ErrNoPython means a required interpreter is not there: not on PATH, not
// at the given path, or no longer where a venv's pyvenv.cfg says.
var ErrNoPython = errors.New("python interpreter not found")

// Interpreter is a Python interpreter on this machine, as it reports
// itself: where it is, and what it is. Its JSON is the four fields side
// by side (executable first), as a manifest records it.
type Interpreter struct {
	// Executable is sys.executable: the real interpreter, never a shim
	// (pyenv shims are shell scripts that exec it).
	Executable string `json:"executable"`
	// ID is what the interpreter is; it is what a key depends on, where
	// it is installed is not.
	pyid.ID
}

// MajorMinor returns "3.11" for Version "3.11.7".
func (py Interpreter) MajorMinor() string {
	parts := strings.SplitN(py.Version, ".", 3)
	if len(parts) < 2 {
		return py.Version
	}
	return parts[0] + "." + parts[1]
}

// versionSpec is a python version (3, 3.11); compiled on first use, as
// are this package's other regexps: a launch never needs them.
var versionSpec = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\d+(\.\d+)*$`) })

// Find resolves a recipe's python value to an executable path. spec is
//
//   - "": the default interpreter name (python3) looked up in pathEnv;
//   - a version such as "3", "3.11" or "2.7": python3, python3.11,
//     python2.7 looked up in pathEnv (a micro version, "3.11.7", looks up
//     python3.11: Probe tells the micro version);
//   - a bare name without a path separator ("pypy3"): looked up in pathEnv;
//   - anything else: a path, with a leading ~ expanded to home, that must
//     exist and be executable.
//
// The result may be a shim; Probe gives the real executable. A failure
// wraps ErrNoPython and names what was looked for.
func Find(spec, home, pathEnv string) (string, error) {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return lookPath(defaultPython, pathEnv)
	case versionSpec().MatchString(spec):
		parts := strings.SplitN(spec, ".", 3)
		name := "python" + parts[0]
		if len(parts) > 1 {
			name += "." + parts[1]
		}
		return lookPath(name, pathEnv)
	case !strings.ContainsAny(spec, `/\`) && spec != "~":
		return lookPath(spec, pathEnv)
	}
	path := spec
	if path == "~" || strings.HasPrefix(path, "~/") || strings.HasPrefix(path, `~\`) {
		if home == "" {
			return "", fmt.Errorf("python %s: cannot expand ~ without a home directory: %w", spec, ErrNoPython)
		}
		path = filepath.Join(home, path[1:])
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("python %s: %w", spec, err)
	}
	info, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("python %s not found: %w", abs, ErrNoPython)
	}
	if !isExecutable(abs, info) {
		return "", fmt.Errorf("python %s is not an executable file: %w", abs, ErrNoPython)
	}
	return abs, nil
}

// lookPath looks the command name up in the PATH value pathEnv (see
// envlist.LookPath: relative entries, meaning the current directory, are
// skipped), a library being given its PATH rather than reading it.
func lookPath(name, pathEnv string) (string, error) {
	p, err := envlist.LookPath(name, []string{"PATH=" + pathEnv})
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: %w", name, ErrNoPython)
	}
	return p, nil
}

// probeScript runs on Python 2.7 and 3.x alike.
const probeScript = `import json, platform, sys, sysconfig
json.dump({
    "executable": sys.executable,
    "implementation": platform.python_implementation().lower(),
    "version": "%d.%d.%d" % tuple(sys.version_info[:3]),
    "platform": sysconfig.get_platform(),
}, sys.stdout)
`

// ProbeCached is Probe remembered in cacheDir (see memo): the python run
// is skipped while exe and the interpreter it is are unchanged. Only an
// exe that is the interpreter itself (a symlink to it, or the file) is
// remembered: a shim or wrapper script may run another python tomorrow.
// cacheDir "" is Probe.
func ProbeCached(ctx context.Context, exe string, env []string, cacheDir string) (Interpreter, error) {
	var py Interpreter
	if loadMemo(cacheDir, "probe", exe, &py) {
		return py, nil
	}
	st, stamped := stamps(exe)
	py, err := Probe(ctx, exe, env)
	if err != nil {
		return py, err
	}
	if real, err := filepath.EvalSymlinks(py.Executable); stamped && err == nil && real == st[0].Path {
		storeMemo(cacheDir, "probe", exe, st, py)
	}
	return py, nil
}

// Probe runs exe once (with -E -s, so PYTHON* variables and the user site
// cannot change the answer) and returns its identity.
func Probe(ctx context.Context, exe string, env []string) (Interpreter, error) {
	out, err := output(ctx, exe, []string{"-E", "-s", "-c", probeScript}, env)
	if err != nil {
		return Interpreter{}, fmt.Errorf("probe python %s: %w", exe, err)
	}
	var py Interpreter
	if err := json.Unmarshal(bytes.TrimSpace(out), &py); err != nil {
		return Interpreter{}, fmt.Errorf("probe python %s: unexpected output %q: %w", exe, tail(out, 3), err)
	}
	if py.Executable == "" {
		return Interpreter{}, fmt.Errorf("probe python %s: it does not know its own executable (sys.executable is empty)", exe)
	}
	return py, nil
}

// Trust names the interpreters this machine already has, which CheckBase
// may accept as a venv's base and run: never one that only an unpacked
// archive's pyvenv.cfg points to.
type Trust struct {
	// PathEnv is the caller's PATH. An interpreter found in one of its
	// (absolute) directories under the names a venv's version gives
	// (python3.11, python3, python) is trusted: the user runs it anyway.
	PathEnv string
	// Exes are interpreters the recipe names, as found and probed on
	// this machine (Interpreter.Executable).
	Exes []string
}

// CheckBase checks that the base interpreter of the venv in venvDir (the
// "home" directory of its pyvenv.cfg) exists, is an interpreter this
// machine already has (see Trust), and is the version the venv was built
// with. A relocated venv is useless without it.
//
// pyvenv.cfg comes from an archive that anyone who can write the shared
// cache may have made, so its home is never trusted by itself: the
// interpreter there is compared, by file identity after resolving
// symlinks, with those trust names, and only a trusted one is run (for
// its exact version). When none is that file directly, the first one on
// PATH is asked for its real executable (a pyenv shim is a script that
// execs the real interpreter). Failures wrap ErrNoPython and name the
// interpreter and version needed.
func CheckBase(ctx context.Context, venvDir string, trust Trust, env []string) error {
	return checkBase(ctx, venvDir, trust, env, "")
}

// CheckBaseCached is CheckBase remembering in cacheDir (see memo) the
// version each trusted interpreter said it is: a later check of a venv of
// the same interpreter runs no python while that interpreter's file is
// unchanged (same resolved path, size and mtime). Which interpreter is
// trusted is decided anew each time, as CheckBase decides it.
func CheckBaseCached(ctx context.Context, venvDir string, trust Trust, env []string, cacheDir string) error {
	return checkBase(ctx, venvDir, trust, env, cacheDir)
}

func checkBase(ctx context.Context, venvDir string, trust Trust, env []string, cacheDir string) error {
	cfgPath := filepath.Join(venvDir, "pyvenv.cfg")
	cfg, err := readPyvenvCfg(cfgPath)
	if err != nil {
		return err
	}
	home := cfg["home"]
	if home == "" {
		return fmt.Errorf("%s: no home entry", cfgPath)
	}
	if !filepath.IsAbs(home) {
		return fmt.Errorf("%s: home %q is not an absolute path", cfgPath, home)
	}
	version := cfg["version"]
	if version == "" {
		version = cfg["version_info"] // virtualenv's spelling: 3.11.7.final.0
	}
	version, parts, names := baseNames(version)
	needs := ""
	if version != "" {
		needs = " (python " + version + ")"
	}
	// Stat follows symlinks: baseInfo is the real file, whatever links
	// lead to it. Nothing here runs it.
	var base string
	var baseInfo os.FileInfo
	for _, n := range names {
		for _, cand := range executableNames(n) {
			p := filepath.Join(home, cand)
			if info, err := os.Stat(p); err == nil && isExecutable(p, info) {
				base, baseInfo = p, info
				break
			}
		}
		if base != "" {
			break
		}
	}
	if base == "" {
		return fmt.Errorf("base interpreter %s%s not found: %w", filepath.Join(home, names[0]), needs, ErrNoPython)
	}

	trusted := ""
	same := func(p string) bool {
		info, err := os.Stat(p)
		return err == nil && isExecutable(p, info) && os.SameFile(baseInfo, info)
	}
	for _, exe := range trust.Exes {
		if exe != "" && filepath.IsAbs(exe) && same(exe) {
			trusted = exe
			break
		}
	}
	firstOnPath := ""
	if trusted == "" {
		trusted = pathInterpreter(trust.PathEnv, names, same)
	}
	if trusted == "" {
		firstOnPath = pathInterpreter(trust.PathEnv, names, executable)
	}
	if trusted == "" && firstOnPath != "" {
		// Maybe a shim: ask the interpreter on PATH (trusted: the user
		// runs it) for the real one, and compare that.
		py, err := Probe(ctx, firstOnPath, env)
		if err == nil && same(py.Executable) {
			if len(parts) == 3 && py.Version != version {
				return fmt.Errorf("base interpreter %s is python %s, the venv needs python %s: %w", base, py.Version, version, ErrNoPython)
			}
			return nil
		}
	}
	if trusted == "" {
		return fmt.Errorf("base interpreter %s%s is not an interpreter of this machine (none on PATH or named by the recipe is that file); not running it: %w", base, needs, ErrNoPython)
	}
	if len(parts) < 3 {
		return nil // nothing precise to compare against
	}
	got, err := baseVersion(ctx, trusted, env, cacheDir)
	if err != nil {
		return fmt.Errorf("base interpreter %s (python %s): %w", trusted, version, err)
	}
	if got != version {
		return fmt.Errorf("base interpreter %s is python %s, the venv needs python %s: %w", base, got, version, ErrNoPython)
	}
	return nil
}

// baseVersion is the major.minor.micro version of the trusted interpreter
// exe, from its memo in cacheDir when that holds, else from running it.
// Only the version matters here, and this check runs on every fetch: skip
// site (-S) and the imports of a full Probe, which cost three times the
// interpreter's bare start. The answer is remembered only when exe is the
// interpreter itself (its sys.executable resolves to exe's file), never a
// shim or a script that might run another one tomorrow.
func baseVersion(ctx context.Context, exe string, env []string, cacheDir string) (string, error) {
	if done, ok := prefetches.Load(exe); ok {
		select {
		case <-done.(chan struct{}):
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return runBaseVersion(ctx, exe, env, cacheDir)
}

func runBaseVersion(ctx context.Context, exe string, env []string, cacheDir string) (string, error) {
	var v string
	if loadMemo(cacheDir, "version", exe, &v) {
		return v, nil
	}
	st, stamped := stamps(exe)
	out, err := output(ctx, exe, []string{"-E", "-s", "-S", "-c", versionScript}, env)
	if err != nil {
		return "", err
	}
	v, self, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if real, err := filepath.EvalSymlinks(self); stamped && self != "" && err == nil && real == st[0].Path {
		storeMemo(cacheDir, "version", exe, st, v)
	}
	return v, nil
}

// prefetches are the runs PrefetchBase started, by interpreter path,
// each a channel closed once its answer is in its memo (or not to be).
var prefetches sync.Map

// PrefetchBase starts, on a goroutine of its own, what a later
// CheckBaseCached of a venv of python version is most likely to run: the
// version of the first interpreter on trust's PATH under the names that
// version gives (python3.11, python3, python), read from its memo in
// cacheDir or from running it, and remembered there. A check that then
// needs that interpreter's version waits for this run and reads its
// memo, instead of starting python again: a fetch overlaps python's start
// with its download and unpack. It runs only an interpreter CheckBase
// trusts (on PATH: the user runs it anyway), and decides nothing: which
// interpreter a venv may use is decided by the check, as ever, from its
// pyvenv.cfg. ctx bounds the run; stop ends it (killing python, if it
// still runs) and returns once it is over: nothing it started outlives
// the caller. Without a version (digits and dots), a cacheDir (nowhere
// to hand the answer over) or an interpreter of those names, it does
// nothing.
func PrefetchBase(ctx context.Context, version string, trust Trust, env []string, cacheDir string) (stop func()) {
	stop = func() {}
	// The version comes from a cache entry: anything but digits and dots
	// (a cache writer's "3/x.11") would make the names it gives paths
	// below PATH's directories.
	if cacheDir == "" || !versionSpec().MatchString(version) {
		return stop
	}
	_, _, names := baseNames(version)
	exe := pathInterpreter(trust.PathEnv, names, executable)
	if exe == "" {
		return stop
	}
	done := make(chan struct{})
	if _, running := prefetches.LoadOrStore(exe, done); running {
		return stop // its starter stops it
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		_, _ = runBaseVersion(ctx, exe, env, cacheDir) // an error is the check's to meet
	}()
	return func() {
		cancel()
		<-done
	}
}

// baseNames is a venv's python version cut to major.minor.micro, its
// parts, and the names its base interpreter may have, most precise first.
// The version comes from pyvenv.cfg or a cache entry, both an archive's
// word: only parts of digits go into a name, so that a version such as
// "3/sub.11" never names a path below a directory (home, PATH's).
func baseNames(version string) (string, []string, []string) {
	parts := strings.Split(version, ".")
	if len(parts) > 3 {
		parts = parts[:3]
	}
	var names []string
	if len(parts) >= 2 && digits(parts[0]) && digits(parts[1]) {
		names = append(names, "python"+parts[0]+"."+parts[1])
	}
	if digits(parts[0]) {
		names = append(names, "python"+parts[0])
	}
	names = append(names, "python")
	return strings.Join(parts, "."), parts, names
}

// digits tells whether s is one or more ASCII digits.
func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// pathInterpreter is the first file of names in the absolute directories
// of pathEnv, directory by directory, for which ok holds ("" for none).
func pathInterpreter(pathEnv string, names []string, ok func(p string) bool) string {
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue // as lookPath: never the current directory
		}
		for _, n := range names {
			for _, cand := range executableNames(n) {
				if p := filepath.Join(dir, cand); ok(p) {
					return p
				}
			}
		}
	}
	return ""
}

// executable tells whether p is an executable file (symlinks followed).
func executable(p string) bool {
	info, err := os.Stat(p)
	return err == nil && isExecutable(p, info)
}

// versionScript prints major.minor.micro, then the interpreter's own
// path on a line of its own, on Python 2.7 and 3.x alike.
const versionScript = `import sys; sys.stdout.write("%d.%d.%d\n%s" % (tuple(sys.version_info[:3]) + (sys.executable,)))`

// readPyvenvCfg reads a venv's pyvenv.cfg, a small regular file (see
// fsx.ReadMeta): an archive may hold anything under that name.
func readPyvenvCfg(path string) (map[string]string, error) {
	data, err := fsx.ReadMeta(path, fsx.MaxPyvenvCfg)
	if err != nil {
		return nil, fmt.Errorf("read venv config: %w", err)
	}
	cfg := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		cfg[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	return cfg, sc.Err()
}
