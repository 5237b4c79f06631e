package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/internal/proc"
)

// ErrInitScript is wrapped by RunInit when the site-customize script fails.
var ErrInitScript = errors.New("site-customize script failed")

// initPy runs the script as `python script.py` would (sys.argv, sys.path[0],
// __name__ == "__main__"), then writes the resulting environment as
// NUL-separated KEY=VALUE bytes to argv[1]. sys.exit(0) in the script is a
// success; any other exit status is passed on.
const initPy = `import os, runpy, sys
out, script = sys.argv[1], sys.argv[2]
sys.argv = [script]
sys.path[0] = os.path.dirname(script)
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as e:
    if e.code not in (None, 0):
        raise
if os.supports_bytes_environ:
    env = os.environb
else:
    env = dict((k.encode("utf-8"), v.encode("utf-8")) for k, v in os.environ.items())
with open(out, "wb") as f:
    for k, v in env.items():
        f.write(k + b"=" + v + b"\0")
`

// initSh sources the script in sh, then, whether the script returned or
// called exit, dumps the environment. Positional parameters are shifted
// away so the script sees none, as when it is sourced from a prompt.
const initSh = `__rezup_script=$1 __rezup_out=$2
shift 2
trap 'env -0 >"$__rezup_out"' EXIT
. "$__rezup_script"`

// shellOwned are variables a shell sets for itself; the ones the script
// leaves are put back as they were, so they do not leak into launches.
var shellOwned = []string{"_", "SHLVL", "PWD", "OLDPWD"}

// RunInit runs the site-customize script at path (absolute) with environ
// and returns the environment it leaves:
//
//   - "*.py": run by python3 (python on Windows) from environ's PATH;
//   - "*.sh": sourced by sh, then `env -0` reports the environment.
//
// The script's stdout and stderr go to the given writers (cmd/rezup passes
// its stderr for both, so the script never mixes into rezup's output). A
// script that exits non-zero is an error wrapping ErrInitScript; what it
// printed has already gone to stderr.
func RunInit(ctx context.Context, path string, environ []string, stdout, stderr io.Writer) ([]string, error) {
	out, err := os.CreateTemp("", "rezup-init-*.env")
	if err != nil {
		return nil, fmt.Errorf("run site-customize script: %w", err)
	}
	out.Close()                 // the script writes it by name
	defer os.Remove(out.Name()) // best effort: a few bytes in the temp dir

	var argv []string
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".py":
		py, err := envlist.LookPath("python3", environ)
		if err != nil {
			if py, err = envlist.LookPath("python", environ); err != nil {
				return nil, fmt.Errorf("run site-customize script %s: no python3 on PATH: %w", path, err)
			}
		}
		argv = []string{py, "-c", initPy, out.Name(), path}
	case ".sh":
		sh, err := envlist.LookPath("sh", environ)
		if err != nil {
			return nil, fmt.Errorf("run site-customize script %s: %w", path, err)
		}
		argv = []string{sh, "-c", initSh, "rezup-init", path, out.Name()}
	default:
		return nil, fmt.Errorf("site-customize script %s: a %q file cannot run; use a .py or .sh script", path, ext)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("site-customize script: %w", err)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = environ
	cmd.Stdout, cmd.Stderr = stdout, stderr
	proc.Group(cmd) // an interrupt ends the script and what it started
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInitScript, path, err)
	}
	data, err := os.ReadFile(out.Name())
	if err != nil {
		return nil, fmt.Errorf("read the environment of site-customize script %s: %w", path, err)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: %s left no environment (did it replace the shell with exec?)", ErrInitScript, path)
	}
	env := newEnvList(nil)
	for _, kv := range bytes.Split(data, []byte{0}) {
		if k, v, ok := envlist.Split(string(kv)); ok {
			env.set(k, v)
		}
	}
	for _, k := range shellOwned {
		if v, ok := envlist.Lookup(environ, k); ok {
			env.set(k, v)
		} else {
			env.unset(k)
		}
	}
	return env.list(), nil
}

func (e *envList) unset(key string) {
	i, ok := e.idx[envlist.Key(key)]
	if !ok {
		return
	}
	e.keys = append(e.keys[:i], e.keys[i+1:]...)
	e.vals = append(e.vals[:i], e.vals[i+1:]...)
	delete(e.idx, envlist.Key(key))
	for k, j := range e.idx {
		if j > i {
			e.idx[k] = j - 1
		}
	}
}
