package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// RunTimeout bounds one Session.Run. A first build (venv creation and pip
// installs) takes seconds; minutes mean a hang.
const RunTimeout = 5 * time.Minute

var binaries struct {
	mu    sync.Mutex
	built map[string]*builtBinary
}

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// companions are the binaries built beside a main package: rezup runs
// rezup-net, from beside its executable, for http(s):// and s3:// caches.
var companions = map[string][]string{
	"github.com/rezup/rezup/cmd/rezup": {"github.com/rezup/rezup/cmd/rezup-net"},
}

// Binary builds the main package pkg ("github.com/rezup/rezup/cmd/rezup")
// once per test process and returns the executable's path. It builds from
// the module root (`go env GOMOD`) into the process temp dir (see Main),
// never into the repository. rezup's helper, rezup-net, is built beside
// rezup by the same go build.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	binaries.mu.Lock()
	if binaries.built == nil {
		binaries.built = map[string]*builtBinary{}
	}
	b := binaries.built[pkg]
	if b == nil {
		b = &builtBinary{}
		binaries.built[pkg] = b
	}
	binaries.mu.Unlock()

	b.once.Do(func() { b.path, b.err = buildBinary(pkg) })
	if b.err != nil {
		t.Fatalf("testkit: %v", b.err)
	}
	return b.path
}

func buildBinary(pkg string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build %s: %s", pkg, missingTool("go", err))
	}
	out, err := exec.Command(goTool, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("build %s: go env GOMOD: %w", pkg, err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("build %s: not inside a Go module (go env GOMOD is %q)", pkg, gomod)
	}
	root, err := processDir()
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	dir, err := os.MkdirTemp(root, "bin-")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	exe := filepath.Join(dir, path.Base(pkg))
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	args := []string{"build", "-o", exe, pkg}
	if more := companions[pkg]; len(more) > 0 {
		// With several packages, -o names the directory they go into.
		args = append([]string{"build", "-o", dir + string(filepath.Separator), pkg}, more...)
	}
	cmd := exec.Command(goTool, args...)
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return exe, nil
}

// Session runs a binary the way a user would from a terminal, with a
// throwaway HOME and a small, known environment.
type Session struct {
	T   testing.TB
	Bin string
	// Home is a fresh t.TempDir(); HOME points at it, so ~/rezup.toml and
	// ~/.rezup are per session.
	Home string
	// Env is the whole environment of every command; edit it freely.
	Env map[string]string
	// Dir is the working directory; "" means Home.
	Dir string
}

// passedEnv are the variables a session takes from the test process: what
// finding and running tools needs, nothing that configures rezup or pip.
var passedEnv = []string{
	"PATH", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE",
	"PYENV_ROOT", "PYENV_VERSION", // python3 may be a pyenv shim
	"GOCOVERDIR",                                      // coverage of binaries built with -cover
	"SYSTEMROOT", "COMSPEC", "PATHEXT", "TEMP", "TMP", // Windows basics
}

// NewSession returns a session running bin. Its environment holds
// passedEnv from the test process, HOME (and USERPROFILE), a user cache
// shared by the process's sessions (XDG_CACHE_HOME), a temp dir of its
// own (TMPDIR, removed when t ends), and pip's quiet settings; no REZUP_*
// or PIP_* variable leaks in. Package sources
// belong in the recipe (see RecipeTOML).
func NewSession(t testing.TB, bin string) *Session {
	t.Helper()
	home := t.TempDir()
	env := map[string]string{
		"HOME":                          home,
		"USERPROFILE":                   home,
		"PIP_DISABLE_PIP_VERSION_CHECK": "1",
		"PIP_NO_CACHE_DIR":              "1",
		"PIP_NO_INPUT":                  "1",
	}
	for _, k := range passedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	// One user cache for every session of the test process: the pip that
	// builds unpack and compile there once (materialize.Options.PipCache)
	// serves them all, as it serves all the roots of one user. An account
	// that cannot read it (setpriv nobody) falls back to its root's.
	if dir, err := userCache(); err == nil {
		env["XDG_CACHE_HOME"] = dir
	}
	tmp := sessionTemp(t)
	for _, k := range []string{"TMPDIR", "TEMP", "TMP"} {
		env[k] = tmp
	}
	return &Session{T: t, Bin: bin, Home: home, Env: env}
}

// PipCache is the pip cache of the test process's user: rezup/pip in
// the user cache directory every session has as XDG_CACHE_HOME (see
// NewSession), where rezup keeps it. A library test gives its stores this
// materialize.Options.PipCache, as rezup does every root of one user: the
// interpreter's bundled pip is then unpacked and compiled, and python
// probed, once per test process, not once per root. Other tests share it.
func PipCache(t testing.TB) string {
	t.Helper()
	dir, err := userCache()
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return filepath.Join(dir, "rezup", "pip")
}

func userCache() (string, error) {
	dir, err := processDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "cache"), nil
}

// sessionTemp is the temp dir of one session's commands: pip's build and
// unpack dirs go there, and what a pip killed mid-install leaves is
// removed with it when t ends, not left in the system temp dir for every
// run. It is beside t's temp dirs, not in them, and mode 1777 (as /tmp):
// a session may run as another account, which cannot enter t.TempDir.
func sessionTemp(t testing.TB) string {
	t.Helper()
	// Best effort: a grandchild the test killed may still be writing
	// there; a leftover costs disk space, not correctness.
	return sharedTemp(t, "rezup-session-", func(string, error) {})
}

// Result is one finished command.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Command returns the configured, unstarted command for args.
func (s *Session) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.Bin, args...)
	cmd.Dir = s.Dir
	if cmd.Dir == "" {
		cmd.Dir = s.Home
	}
	cmd.Env = make([]string, 0, len(s.Env))
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		cmd.Env = append(cmd.Env, k+"="+s.Env[k])
	}
	// A grandchild that keeps stdout open (a shell, a background pip) must
	// not hang the test after the binary itself exits.
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// Run runs the binary with args and returns what it printed and its exit
// code. It fails the test only when the binary could not run or timed out
// (RunTimeout); a non-zero exit is a result.
func (s *Session) Run(args ...string) Result {
	s.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := s.Command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
	if ctx.Err() != nil {
		s.T.Fatalf("%s: timed out after %v\nstdout:\n%s\nstderr:\n%s", s.describe(args), RunTimeout, res.Stdout, res.Stderr)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		s.T.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", s.describe(args), err, res.Stdout, res.Stderr)
	}
	return res
}

// MustRun is Run that fails the test, showing both outputs, unless the
// binary exits 0.
func (s *Session) MustRun(args ...string) Result {
	s.T.Helper()
	res := s.Run(args...)
	if res.Code != 0 {
		s.T.Fatalf("%s: exit code %d\nstdout:\n%s\nstderr:\n%s", s.describe(args), res.Code, res.Stdout, res.Stderr)
	}
	return res
}

// Start starts the binary in the background and returns the running
// command. Its Stdout and Stderr are *Buffer, safe to read while it runs.
// Wait for it yourself; if it is still running when the test ends, it is
// killed and reaped.
func (s *Session) Start(args ...string) *exec.Cmd {
	s.T.Helper()
	cmd := s.Command(context.Background(), args...)
	cmd.Stdout, cmd.Stderr = new(Buffer), new(Buffer)
	if err := cmd.Start(); err != nil {
		s.T.Fatalf("%s: %v", s.describe(args), err)
	}
	s.T.Cleanup(func() {
		if cmd.ProcessState == nil {
			// Kill may race with a natural exit; Wait reports either way
			// and the test is over, so both errors are moot.
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// WriteFile writes content to rel, a slash-separated path under Home,
// creating parent directories.
func (s *Session) WriteFile(rel, content string) {
	s.T.Helper()
	p := filepath.Join(s.Home, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.T.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		s.T.Fatal(err)
	}
}

func (s *Session) describe(args []string) string {
	return strings.Join(append([]string{filepath.Base(s.Bin)}, args...), " ")
}

// Buffer is a bytes.Buffer safe for one writer and concurrent readers.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RecipeTOML returns a recipe that installs rez RezVersion offline from
// wheelhouse, followed by extra (more TOML, e.g. [[extension]] tables).
func RecipeTOML(wheelhouse, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[pip]\noptions = [\"--disable-pip-version-check\", \"--no-index\", \"--find-links\", %s]\n\n", tomlString(wheelhouse))
	fmt.Fprintf(&b, "[rez]\nurl = %s\n", tomlString("rez=="+RezVersion))
	if extra != "" {
		b.WriteString("\n" + extra)
		if !strings.HasSuffix(extra, "\n") {
			b.WriteString("\n")
		}
	}
	return b.String()
}
