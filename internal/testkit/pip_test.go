package testkit_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// pipVenv is one real venv shared by the subtests of
// TestFixturesInstallWithRealPip: creating it takes seconds.
type pipVenv struct {
	dir        string
	purelib    string
	env        []string
	wheelhouse string
}

func (v *pipVenv) bin(name string) string { return filepath.Join(v.dir, "bin", name) }

// run runs a program of the venv and fails the test unless it exits 0.
func (v *pipVenv) run(t *testing.T, extraEnv []string, name string, args ...string) string {
	t.Helper()
	out, code, stderr := v.try(t, extraEnv, name, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), code, out, stderr)
	}
	return out
}

func (v *pipVenv) try(t *testing.T, extraEnv []string, name string, args ...string) (stdout string, code int, stderr string) {
	t.Helper()
	cmd := exec.Command(v.bin(name), args...)
	cmd.Env = append(append([]string{}, v.env...), extraEnv...)
	cmd.Dir = t.TempDir()
	var so, se strings.Builder
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s: %v", name, err)
	}
	return so.String(), cmd.ProcessState.ExitCode(), se.String()
}

func (v *pipVenv) pipInstall(t *testing.T, args ...string) {
	t.Helper()
	v.run(t, nil, "pip", append([]string{"install", "--no-index", "--find-links", v.wheelhouse}, args...)...)
}

// cleanEnv is the test process's environment without the variables that
// would point pip or python elsewhere (this machine sets PIP_FIND_LINKS).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PIP_") || strings.HasPrefix(k, "PYTHON") ||
			strings.HasPrefix(k, "REZUP_") || strings.HasPrefix(k, "TEST_") || k == "VIRTUAL_ENV" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1")
}

func decode[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line of JSON, got:\n%s", out)
	}
	if err := json.Unmarshal([]byte(lines[0]), &v); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	return v
}

func TestFixturesInstallWithRealPip(t *testing.T) {
	t.Parallel()
	testkit.SkipShort(t, "slow: eight pip installs of the fixtures, one after another (every build of the library tests installs them: materialize's add tests rez, extensions and libs, internal/pyresolve's TestSourceKinds the source projects)")
	python := testkit.Python(t)
	v := &pipVenv{dir: filepath.Join(t.TempDir(), "venv"), env: cleanEnv(), wheelhouse: testkit.WheelHouse(t)}
	if out, err := exec.Command(python, "-m", "venv", v.dir).CombinedOutput(); err != nil {
		t.Fatalf("python3 -m venv: %v\n%s", err, out)
	}
	v.purelib = strings.TrimSpace(v.run(t, nil, "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"))

	t.Run("rez", func(t *testing.T) {
		v.pipInstall(t, "rez=="+testkit.RezVersion)
		version := mustRead(t, filepath.Join(v.purelib, "rez", "utils", "_version.py"))
		if want := `_rez_version = "` + testkit.RezVersion + `"`; strings.TrimSpace(string(version)) != want {
			t.Errorf("_version.py = %q, want %q", version, want)
		}

		for _, script := range []string{"rez", "rez-env", "rez-python"} {
			r := decode[testkit.RezReport](t, v.run(t, []string{"TEST_FOO=bar", "REZUP_CONTAINER=.main"}, script, "a b", "--flag"))
			if len(r.Argv) != 3 || r.Argv[1] != "a b" || r.Argv[2] != "--flag" {
				t.Errorf("%s: argv = %q", script, r.Argv)
			}
			if r.Script != v.bin(script) {
				t.Errorf("%s: script = %q, want %q", script, r.Script, v.bin(script))
			}
			if r.Prefix != v.dir || !strings.HasPrefix(r.Executable, v.dir) {
				t.Errorf("%s: prefix %q, executable %q: not the venv %q", script, r.Prefix, r.Executable, v.dir)
			}
			if r.RezVersion != testkit.RezVersion || !strings.HasPrefix(r.RezFile, v.purelib) {
				t.Errorf("%s: rez %q from %q", script, r.RezVersion, r.RezFile)
			}
			if r.IgnoreEnvironment || r.ProductionMarker || r.RezBinPath != nil {
				t.Errorf("%s: a pip-installed script looks like production: %+v", script, r)
			}
			if r.RezupContainer == nil || *r.RezupContainer != ".main" || r.Env["TEST_FOO"] != "bar" || len(r.Env) != 2 {
				t.Errorf("%s: container %v, env %q", script, r.RezupContainer, r.Env)
			}
		}

		// What rezup's production entry points look like: python -E, with
		// the marker beside the script.
		prod := filepath.Join(t.TempDir(), "rez")
		if err := os.MkdirAll(prod, 0o755); err != nil {
			t.Fatal(err)
		}
		entry := filepath.Join(prod, "rez-env")
		if err := os.WriteFile(entry, []byte("import sys\nfrom rez.cli._main import run\nsys.exit(run())\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(prod, ".rez_production_install"), []byte(testkit.RezVersion), 0o644); err != nil {
			t.Fatal(err)
		}
		out, code, stderr := v.try(t, []string{"TEST_EXIT_CODE=7", "PATH=" + prod + string(os.PathListSeparator) + os.Getenv("PATH")}, "python", "-E", entry)
		if code != 7 {
			t.Fatalf("exit code %d, want $TEST_EXIT_CODE 7\n%s", code, stderr)
		}
		r := decode[testkit.RezReport](t, out)
		if !r.IgnoreEnvironment || !r.ProductionMarker || r.Path0 != prod {
			t.Errorf("production run: ignore_environment %v, marker %v, path0 %q", r.IgnoreEnvironment, r.ProductionMarker, r.Path0)
		}

		got := v.run(t, nil, "rez-python", "-c", "import rez, sys; print(rez.__version__, sys.argv[1:])", "x")
		if want := testkit.RezVersion + " ['x']\n"; got != want {
			t.Errorf("rez-python -c = %q, want %q", got, want)
		}
	})

	t.Run("rez upgrade", func(t *testing.T) {
		v.pipInstall(t, "rez=="+testkit.RezVersionNewer)
		r := decode[testkit.RezReport](t, v.run(t, nil, "rez"))
		if r.RezVersion != testkit.RezVersionNewer {
			t.Errorf("rez version %q after upgrade, want %q", r.RezVersion, testkit.RezVersionNewer)
		}
	})

	t.Run("extension", func(t *testing.T) {
		v.pipInstall(t, "foo==1.0")
		r := decode[testkit.ExtensionReport](t, v.run(t, nil, "foo", "--x"))
		if r.Name != "foo" || r.Version != "1.0" || !r.RezImportable || r.RezFile == nil {
			t.Errorf("foo: %+v", r)
		}
		if want := filepath.Join(v.purelib, "foo", "__init__.py"); r.ModuleFile != want {
			t.Errorf("foo: module_file %q, want %q", r.ModuleFile, want)
		}
	})

	t.Run("lib", func(t *testing.T) {
		v.pipInstall(t, "toml_fake", "fake_lib==1.0")
		got := v.run(t, nil, "python", "-c", "import toml_fake, fake_lib; print(toml_fake.__version__, fake_lib.__version__)")
		if got != "0.10.2 1.0\n" {
			t.Errorf("libs = %q", got)
		}
	})

	// Both pip modes: rezup may or may not pass --no-build-isolation.
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"editable source project", []string{"--no-build-isolation"}},
		{"editable source project isolated", nil},
	} {
		t.Run(mode.name, func(t *testing.T) {
			proj, err := testkit.SourceProject(t.TempDir(), "baz-tool", "0.1", nil)
			if err != nil {
				t.Fatal(err)
			}
			v.pipInstall(t, append(mode.args, "-e", proj)...)
			r := decode[testkit.ExtensionReport](t, v.run(t, nil, "baz-tool"))
			if want := filepath.Join(proj, "src", "baz_tool", "__init__.py"); r.ModuleFile != want || r.Name != "baz-tool" {
				t.Errorf("baz-tool: name %q, module_file %q, want %q", r.Name, r.ModuleFile, want)
			}
			// Editable means a change to the source shows without reinstalling.
			if err := os.WriteFile(filepath.Join(proj, "src", "baz_tool", "edited.py"), []byte("X = 42\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := v.run(t, nil, "python", "-c", "from baz_tool.edited import X; print(X)"); got != "42\n" {
				t.Errorf("edited module = %q", got)
			}
			direct := v.run(t, nil, "python", "-c",
				"import importlib.metadata as m; print(m.distribution('baz-tool').read_text('direct_url.json'))")
			if !strings.Contains(direct, `"editable": true`) {
				t.Errorf("direct_url.json = %s, want an editable install", direct)
			}
		})
	}

	t.Run("source project wheel", func(t *testing.T) {
		proj, err := testkit.SourceProject(t.TempDir(), "qux", "2.0", map[string]string{"qux-a": "qux:main", "qux-b": "qux:main"})
		if err != nil {
			t.Fatal(err)
		}
		v.pipInstall(t, proj)
		r := decode[testkit.ExtensionReport](t, v.run(t, nil, "qux-b"))
		if want := filepath.Join(v.purelib, "qux", "__init__.py"); r.ModuleFile != want {
			t.Errorf("qux-b: module_file %q, want %q", r.ModuleFile, want)
		}
	})
}
