package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/internal/proc"
	"github.com/spf13/cobra"
)

// resolvePy runs under the revision's rez-python as a script file, which
// every rez version's rez-python accepts (FILE ARG...). rez-python does
// not pass the script's exit status on, so the result, failure included,
// is written as JSON to the file named by argv[1]; an exception's
// traceback goes to stderr, and its error is the traceback's last line, so
// that an excerpt of the output does not repeat it. It stays Python 2
// compatible, as rez with python = 2.7 still exists.
const resolvePy = `import json
import sys
import traceback

out, request = sys.argv[1], sys.argv[2:]
result = {"ok": False}
try:
    from rez.resolved_context import ResolvedContext
    context = ResolvedContext(request)
    if context.success:
        result = {"ok": True, "environ": context.get_environ()}
    else:
        result["error"] = str(context.failure_description or "the resolve failed")
except Exception as e:
    traceback.print_exc()
    result["error"] = traceback.format_exception_only(type(e), e)[-1].strip()
with open(out, "w") as f:
    json.dump(result, f)
`

// resolveOptions is what `rezup resolve` is told.
type resolveOptions struct {
	name    string
	request []string // after --
	asJSON  bool
	local   bool
}

func (a *app) resolveCommand(runF func(context.Context, *resolveOptions) error) *cobra.Command {
	var o resolveOptions
	cmd := &cobra.Command{
		Use:   "resolve [NAME] -- REQUEST...",
		Short: "Resolve a Rez context in a container and print its environment",
		Long: `Resolve the Rez package REQUEST in the latest revision of container NAME
(default .main), with that revision's rez-python, and print the resolved
context's environment: sh export lines, or one JSON object with --json.
A request Rez cannot resolve exits 1 with Rez's reason.`,
		Example: `  rezup resolve -- maya-2024 arnold                # in .main
  rezup resolve prod --json -- nuke                # prod, as JSON
  rezup resolve prod --local -- "houdini-20.5+<21"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash < 0 || dash == len(args) {
				return usagef("give the Rez request after --, e.g. rezup resolve -- maya-2024")
			}
			name, err := oneName(cmd, args[:dash])
			if err != nil {
				return err
			}
			o.name, o.request = name, args[dash:]
			if runF == nil {
				runF = a.runResolve
			}
			return runF(cmd.Context(), &o)
		},
	}
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVarP(&o.local, "local", "l", false, "ignore the remote root and use the latest local revision")
	return cmd
}

// runResolve prints the environment of o.request resolved in o.name.
func (a *app) runResolve(ctx context.Context, o *resolveOptions) error {
	vars, err := a.resolve(ctx, o.name, o.local, o.request)
	if err != nil {
		return err
	}
	return writeVars(a.stdout, o.asJSON, vars)
}

// errResolve is a resolve that Rez refused (a missing package, a conflict).
var errResolve = errors.New("rez could not resolve")

func (a *app) resolve(ctx context.Context, name string, local bool, request []string) (map[string]string, error) {
	env, release, err := a.launchEnv(ctx, name, local)
	if err != nil {
		return nil, err
	}
	// Held while rez-python runs: it runs from the build.
	defer release()
	rezPython, err := envlist.LookPath("rez-python", env)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", name, err)
	}
	dir, err := os.MkdirTemp("", "rezup-resolve-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir) // best effort: two small files in the temp dir
	script, out := filepath.Join(dir, "resolve.py"), filepath.Join(dir, "result.json")
	// Fresh private dir, read only by the child below: no atomic write needed.
	if err := os.WriteFile(script, []byte(resolvePy), 0o600); err != nil {
		return nil, err
	}
	c := exec.CommandContext(ctx, rezPython, append([]string{script, out}, request...)...)
	c.Env = env
	proc.Group(c) // an interrupt ends rez-python and what it started
	// rez's own output (warnings, a traceback) is for people, but not in
	// the middle of rezup's error: it goes after that error's first line,
	// where the error printer keeps an excerpt without -D. stdout stays the
	// environment alone.
	var output tailBuffer
	c.Stdout, c.Stderr = &output, &output
	runErr := c.Run()
	data, err := os.ReadFile(out)
	if err != nil {
		if runErr == nil {
			runErr = errors.New("it wrote no result")
		}
		return nil, withHint(fmt.Errorf("rez-python of %s failed: %v\n%s", name, runErr, output.String()),
			"check that rez works in %s: rezup use %s -- rez-python -c 'import rez'", name, name)
	}
	var res struct {
		OK      bool              `json:"ok"`
		Error   string            `json:"error"`
		Environ map[string]string `json:"environ"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("rez-python of %s: unreadable result: %w", name, err)
	}
	if !res.OK {
		return nil, withHint(fmt.Errorf("%w %q in %s: %s\n%s", errResolve, request, name, res.Error, output.String()),
			"check the request, and the package paths of that rez (REZ_PACKAGES_PATH)")
	}
	// A resolve that worked may still have warned. A stderr that cannot
	// be written loses only those warnings.
	_, _ = a.stderr.Write(output.Bytes())
	return res.Environ, nil
}

// tailBufferKeep is how much of a tool's output tailBuffer keeps: its end
// is what explains a failure, and a tool that loops must not fill memory.
const tailBufferKeep = 64 << 10

// tailBuffer keeps the last tailBufferKeep bytes written to it, or a
// little more.
type tailBuffer struct{ buf []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*tailBufferKeep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailBufferKeep:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte  { return t.buf }
func (t *tailBuffer) String() string { return string(t.buf) }
