package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/internal/pyout"
	"github.com/rezup/rezup/materialize"
)

func TestProgressOnlyOnTerminalsAfterASecond(t *testing.T) {
	t.Parallel()
	var errOut bytes.Buffer
	a := newApp(nil, &bytes.Buffer{}, &errOut)
	clock := time.Unix(1000, 0)
	r := newReporter(a)
	r.now = func() time.Time { return clock }
	total := archive.Progress{Bytes: 10 << 20, Files: 100}

	// stderr is a buffer, not a terminal: nothing, however long it takes.
	for i := range 5 {
		clock = clock.Add(time.Second)
		r.Progress("unpack k", archive.Progress{Bytes: int64(i) << 20, Files: int64(i)}, total)
	}
	if errOut.Len() != 0 {
		t.Fatalf("progress printed to a non-terminal: %q", errOut.String())
	}

	r = newReporter(a)
	r.terminal = true
	r.now = func() time.Time { return clock }
	r.Progress("unpack k", archive.Progress{}, total) // starts the clock
	clock = clock.Add(500 * time.Millisecond)
	r.Progress("unpack k", archive.Progress{Bytes: 1 << 20, Files: 10}, total)
	if errOut.Len() != 0 {
		t.Fatalf("progress printed before a second: %q", errOut.String())
	}
	clock = clock.Add(time.Second)
	r.Progress("unpack k", archive.Progress{Bytes: 5 << 20, Files: 50}, total)
	if got := errOut.String(); !strings.Contains(got, "50%") || !strings.Contains(got, "50 / 100 files") {
		t.Fatalf("progress line = %q", got)
	}
	r.Infof("fetched k")
	if got := errOut.String(); !strings.HasSuffix(got, "\r\x1b[Krezup: fetched k\n") {
		t.Fatalf("the progress line is not erased before the next message: %q", got)
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	pipOutput := `Looking in links: /wheels
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError': /simple/rez/
WARNING: Retrying (Retry(total=3, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError': /simple/rez/
ERROR: Could not find a version that satisfies the requirement rez==9.9.9 (from versions: none)
ERROR: No matching distribution found for rez==9.9.9`
	traceback := `Traceback (most recent call last):
  File "/tmp/resolve.py", line 9, in <module>
    context = ResolvedContext(request)
  File "/venv/rez/resolved_context.py", line 20, in __init__
    raise PackageFamilyNotFoundError("package family not found: nosuch")
rez.exceptions.PackageFamilyNotFoundError: package family not found: nosuch`
	chained := `Traceback (most recent call last):
  File "a.py", line 1, in <module>
KeyError: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "a.py", line 3, in <module>
ValueError: bad x`
	// pip's output when a build step it runs fails (here a build
	// backend raising), as pip 23 prints it.
	pipSubprocess := `  error: subprocess-exited-with-error
  
  × Getting requirements to build wheel did not run successfully.
  │ exit code: 1
  ╰─> [14 lines of output]
      Traceback (most recent call last):
        File "/py/site-packages/pip/_vendor/pyproject_hooks/_in_process/_in_process.py", line 353, in <module>
          main()
        File "/py/site-packages/pip/_vendor/pyproject_hooks/_in_process/_in_process.py", line 335, in main
          json_out['return_val'] = hook(**hook_input['kwargs'])
                                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^
        File "/py/site-packages/pip/_vendor/pyproject_hooks/_in_process/_in_process.py", line 118, in get_requires_for_build_wheel
          return hook(config_settings)
                 ^^^^^^^^^^^^^^^^^^^^^
        File "/src/badpkg/backend.py", line 5, in get_requires_for_build_wheel
          _check()
        File "/src/badpkg/backend.py", line 2, in _check
          raise RuntimeError('the build of badpkg is broken')
      RuntimeError: the build of badpkg is broken
      [end of output]
  
  note: This error originates from a subprocess, and is likely not a problem with pip.
error: subprocess-exited-with-error

× Getting requirements to build wheel did not run successfully.
│ exit code: 1
╰─> See above for output.

note: This error originates from a subprocess, and is likely not a problem with pip.`
	var many []string
	for i := range 25 {
		many = append(many, "line "+strconv.Itoa(i))
	}
	tests := []struct {
		name  string
		err   error
		debug bool
		want  string
	}{
		{"one line", errors.New("it broke"), false, "rezup: error: it broke\n"},
		{"hint", withHint(errors.New("it broke"), "fix it"), false, "rezup: error: it broke\nrezup: hint: fix it\n"},
		{"pip: its ERROR lines", withHint(fmt.Errorf("build: pip install rez==9.9.9 failed (exit 1):\n%s\n", pipOutput), "check the index"), false,
			"rezup: error: build: pip install rez==9.9.9 failed (exit 1):\n" +
				"rezup: hint: check the index\n" +
				"    WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError': /simple/rez/\n" +
				"    WARNING: Retrying (Retry(total=3, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError': /simple/rez/\n" +
				"    ERROR: Could not find a version that satisfies the requirement rez==9.9.9 (from versions: none)\n" +
				"    ERROR: No matching distribution found for rez==9.9.9\n" +
				"    (1 more line; run with -D to see all)\n"},
		{"pip: a build step's failure and its exception", fmt.Errorf("pip install ./badpkg failed (exit 1):\n%s", pipSubprocess), false,
			"rezup: error: pip install ./badpkg failed (exit 1):\n" +
				"    error: subprocess-exited-with-error\n" +
				"    × Getting requirements to build wheel did not run successfully.\n" +
				"    RuntimeError: the build of badpkg is broken\n" +
				"    (22 more lines; run with -D to see all)\n"},
		{"pip under -D: all of it", fmt.Errorf("pip install rez failed (exit 1):\n%s", pipOutput), true,
			"rezup: error: pip install rez failed (exit 1):\n    " + strings.ReplaceAll(pipOutput, "\n", "\n    ") + "\n"},
		{"traceback: the exception", fmt.Errorf("rez-python failed (exit 1)\n%s", traceback), false,
			"rezup: error: rez-python failed (exit 1)\n" +
				"    rez.exceptions.PackageFamilyNotFoundError: package family not found: nosuch\n" +
				"    (5 more lines; run with -D to see all)\n"},
		{"traceback: the exception said already", fmt.Errorf("rez could not resolve: rez.exceptions.PackageFamilyNotFoundError: package family not found: nosuch\n%s", traceback), false,
			"rezup: error: rez could not resolve: rez.exceptions.PackageFamilyNotFoundError: package family not found: nosuch\n" +
				"    (6 more lines; run with -D to see all)\n"},
		{"traceback under -D", fmt.Errorf("rez-python failed\n%s", traceback), true,
			"rezup: error: rez-python failed\n    " + strings.ReplaceAll(traceback, "\n", "\n    ") + "\n"},
		{"chained tracebacks: each exception", fmt.Errorf("python failed\n%s", chained), false,
			"rezup: error: python failed\n    KeyError: 'x'\n    ValueError: bad x\n    (5 more lines; run with -D to see all)\n"},
		{"long output: its end", fmt.Errorf("tool failed:\n%s", strings.Join(many, "\n")), false,
			"rezup: error: tool failed:\n    line 15\n    line 16\n    line 17\n    line 18\n    line 19\n    line 20\n    line 21\n    line 22\n    line 23\n    line 24\n    (15 more lines; run with -D to see all)\n"},
		{"one line left out", fmt.Errorf("tool failed:\nERROR: a\nwarning b\n"), false,
			"rezup: error: tool failed:\n    ERROR: a\n    (1 more line; run with -D to see all)\n"},
		{"blank output", fmt.Errorf("tool failed:\n\n  \n"), false, "rezup: error: tool failed:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			writeError(&b, tt.err, tt.debug)
			if got := b.String(); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// A full disk (or quota, or a read-only filesystem) while pip runs is a
// matter of the disk: the hint says to free space, not to fix the recipe.
func TestPipDiskErrorsGetTheDiskHint(t *testing.T) {
	out := "Processing ./rez-3.4.0-py3-none-any.whl\nERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n"
	err := addHint(&materialize.StepError{Step: "build", Err: pyout.WithOSError(fmt.Errorf("build k: pip install rez failed (exit 1):\n%s", out), out)}, &container{name: "dev", recipe: &containerRecipe{Path: "/home/u/rezup.dev.toml"}})
	if h := hintFor(err); !strings.Contains(h, "the disk (or your quota) is full") {
		t.Errorf("hint %q, want the disk's", h)
	}
}

// pip's warnings that explain a failure are in the excerpt, its routine
// ones are not.
func TestExcerptKeepsExplainingWarnings(t *testing.T) {
	out := `Looking in links: /studio/wheelz
WARNING: Location '/studio/wheelz' is ignored: it is either a non-existing path or lacks a specific scheme.
WARNING: Running pip as the 'root' user can result in broken permissions
ERROR: Could not find a version that satisfies the requirement rez>=2.83 (from versions: none)
ERROR: No matching distribution found for rez>=2.83
`
	lines, _ := excerpt(out, "resolve rez: no distribution satisfies a requirement", false)
	got := strings.Join(lines, "\n")
	if !strings.Contains(got, "WARNING: Location '/studio/wheelz' is ignored") || strings.Contains(got, "root' user") || !strings.Contains(got, "ERROR: No matching distribution") {
		t.Errorf("excerpt:\n%s", got)
	}
}
