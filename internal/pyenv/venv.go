package pyenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
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
type Venv struct{ Dir string }

// BinDir is where pip puts scripts: bin, or Scripts on Windows.
func (v Venv) BinDir() string { return filepath.Join(v.Dir, binDirName) }

// Python is the venv's interpreter.
func (v Venv) Python() string { return filepath.Join(v.BinDir(), venvPython) }

// ProdBinDir is where Rez production entry points live: BinDir()/rez.
func (v Venv) ProdBinDir() string { return filepath.Join(v.BinDir(), "rez") }

// Create makes a venv (with pip) in dir with `py.Executable -E -m venv`.
// The command's output goes to log. On failure the error holds the tail of
// that output; a missing venv/ensurepip module wraps ErrNoVenvModule and
// says which package to install.
func Create(ctx context.Context, py Interpreter, dir string, env []string, log io.Writer) (Venv, error) {
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
	tw := newTailWriter(log)
	cmd := command(ctx, py.Executable, []string{"-E", "-m", "venv", abs}, env)
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
		return Venv{}, fmt.Errorf("create venv %s with %s failed (%s):\n%s", abs, py.Executable, exitText(err), out)
	}
	v := Venv{Dir: abs}
	if _, err := os.Stat(v.Python()); err != nil {
		return Venv{}, fmt.Errorf("create venv %s: no interpreter at %s afterwards: %w", abs, v.Python(), err)
	}
	return v, nil
}

// Install runs `python -E -m pip install --disable-pip-version-check
// --no-input args...` with the venv's python. Output streams to log; on
// failure the error is "pip install ARGS failed (exit N):" and the last
// lines of the output. env is where PIP_* settings go.
func (v Venv) Install(ctx context.Context, args []string, env []string, log io.Writer) error {
	tw := newTailWriter(log)
	argv := append([]string{"-E", "-m", "pip", "install", "--disable-pip-version-check", "--no-input"}, args...)
	cmd := command(ctx, v.Python(), argv, env)
	cmd.Stdout, cmd.Stderr = tw, tw
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pip install %s failed (%s):\n%s", strings.Join(args, " "), exitText(err), tw.Tail())
	}
	return nil
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

var rezVersionRe = regexp.MustCompile(`(?m)^_rez_version\s*=\s*['"]([^'"\s]+)['"]`)

// RezVersion returns the version of the rez package installed in the venv
// (editable or not), read from rez/utils/_version.py. A venv without rez
// wraps ErrNotInstalled.
func (v Venv) RezVersion(ctx context.Context, env []string) (string, error) {
	out, err := output(ctx, v.Python(), []string{"-E", "-c", rezDirScript}, env)
	if err != nil {
		return "", fmt.Errorf("rez version: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("rez version: package rez in %s: %w", v.Dir, ErrNotInstalled)
	}
	path := filepath.Join(dir, "utils", "_version.py")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("rez version: %w", err)
	}
	m := rezVersionRe.FindSubmatch(data)
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
