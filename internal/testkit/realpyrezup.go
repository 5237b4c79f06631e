package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// PythonRezupSourceVar names the checkout of the real Python rezup 2.6
// (the directory holding src/rezup, or src itself) that RealPythonRezup
// runs. Unset, it is ../shared/python-rezup beside the module root (the
// directory of go.mod), where CI puts it.
const PythonRezupSourceVar = "REZUP_TEST_PYTHON_REZUP"

// PythonRezupDebianPackages are what the real Python rezup needs of
// Debian's python3 (.ci/run installs them).
const PythonRezupDebianPackages = "python3-virtualenv python3-click python3-dotenv python3-distlib python3-shellingham python3-toml"

// PyRezup is the real Python rezup 2.6, the other implementation a site
// runs during a migration: its unchanged source, run by a python that has
// its dependencies. Nothing of it is faked.
type PyRezup struct {
	// Src is the directory put on PYTHONPATH (it holds the rezup package).
	Src string
	// Python runs it: /usr/bin/python3 where it exists (Debian's, with
	// PythonRezupDebianPackages), else python3 on PATH.
	Python string
	// Version is what it says its version is (rezup.__version__): 0.0.0
	// for a source checkout, which has no _version.py.
	Version string
}

var realPyRezup struct {
	once sync.Once
	p    *PyRezup
	err  error
}

// RealPythonRezup returns the real Python rezup, found once per process
// (see PythonRezupSourceVar) and checked to import with its dependencies.
// Without it, the fast tier skips the test, in one line saying why
// (SkipShort); the full tier fails it, saying what to install or set.
func RealPythonRezup(t testing.TB) *PyRezup {
	t.Helper()
	realPyRezup.once.Do(func() { realPyRezup.p, realPyRezup.err = findPythonRezup() })
	if err := realPyRezup.err; err != nil {
		SkipShort(t, "needs the real Python rezup, which is not available: "+err.Error())
		t.Fatalf("testkit: the real Python rezup is not available: %v", err)
	}
	return realPyRezup.p
}

func findPythonRezup() (*PyRezup, error) {
	dir := os.Getenv(PythonRezupSourceVar)
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(filepath.Dir(root), "shared", "python-rezup")
	}
	src := dir
	if _, err := os.Stat(filepath.Join(dir, "src", "rezup", "__init__.py")); err == nil {
		src = filepath.Join(dir, "src")
	} else if _, err := os.Stat(filepath.Join(dir, "rezup", "__init__.py")); err != nil {
		return nil, fmt.Errorf("no rezup package in %s (nor in its src); set %s to a checkout of the Python rezup 2.6", dir, PythonRezupSourceVar)
	}
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		if python, err = exec.LookPath("python3"); err != nil {
			return nil, errors.New(missingTool("python3", err))
		}
	}
	p := &PyRezup{Src: src, Python: python}
	cmd := exec.Command(python, "-c", "import virtualenv, click, dotenv, distlib.scripts, shellingham, colorama, rezup; print(rezup.__version__)")
	cmd.Env = p.Environ(pythonRezupEnv())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s cannot import it with its dependencies (%v: %s): install them (apt-get install -y %s)",
			python, err, lastLine(string(out)), PythonRezupDebianPackages)
	}
	p.Version = strings.TrimSpace(string(out))
	return p, nil
}

// moduleRoot is the directory of go.mod, found from the working directory
// (a test runs in its package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Environ is env with the Python rezup importable: PYTHONPATH is its
// source, and python writes no bytecode into that shared checkout.
func (p *PyRezup) Environ(env []string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if k != "PYTHONPATH" && k != "PYTHONDONTWRITEBYTECODE" {
			out = append(out, kv)
		}
	}
	return append(out, "PYTHONPATH="+p.Src, "PYTHONDONTWRITEBYTECODE=1")
}

// Run runs `python -m rezup ARGS` the way the session runs its binary:
// the session's environment (HOME, the roots) and working directory. It
// fails the test only when python could not run or timed out (RunTimeout);
// a non-zero exit is a result.
func (p *PyRezup) Run(s *Session, args ...string) Result {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Python, append([]string{"-m", "rezup"}, args...)...)
	cmd.Dir = s.Dir
	if cmd.Dir == "" {
		cmd.Dir = s.Home
	}
	var env []string
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		env = append(env, k+"="+s.Env[k])
	}
	cmd.Env = p.Environ(env)
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
	what := "python -m rezup " + strings.Join(args, " ")
	if ctx.Err() != nil {
		s.T.Fatalf("%s: timed out after %v\nstdout:\n%s\nstderr:\n%s", what, RunTimeout, res.Stdout, res.Stderr)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		s.T.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", what, err, res.Stdout, res.Stderr)
	}
	return res
}

// MustRun is Run that fails the test, showing both outputs, unless the
// Python rezup exits 0.
func (p *PyRezup) MustRun(s *Session, args ...string) Result {
	s.T.Helper()
	res := p.Run(s, args...)
	if res.Code != 0 {
		s.T.Fatalf("python -m rezup %s: exit code %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.Code, res.Stdout, res.Stderr)
	}
	return res
}

// Script runs python code with the Python rezup importable, in env
// (nil: a clean copy of the test process's), with stdin as its input,
// and returns what it printed on stdout. Its TMPDIR is a t.TempDir, so
// what it makes with tempfile goes when t ends. It fails the test when
// the script fails.
func (p *PyRezup) Script(t testing.TB, env []string, stdin []byte, code string, args ...string) []byte {
	t.Helper()
	if env == nil {
		env = pythonRezupEnv()
	}
	env = append(slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "TMPDIR=") }), "TMPDIR="+t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Python, append([]string{"-c", code}, args...)...)
	cmd.Env = p.Environ(env)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python script of the Python rezup: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.Bytes()
}
