package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// Extensions (in the rez venv and isolated), rez's lib, and the
// deprecated [shared] section, in one build.
func TestExtensionsLibsAndShared(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, `lib = ["fake_lib==1.0"]

[[extension]]
name = "foo"
url = "foo==1.0"

[[extension]]
name = "bar"
url = "bar==1.0"
isolation = true

[shared]
name = "production"
requires = ["toml_fake"]
`))
	s.MustRun("add", "--skip-use")
	keys := storeEntries(t, root)
	if len(keys) != 1 {
		t.Fatalf("store entries: %v", keys)
	}
	entry := filepath.Join(root, ".store", keys[0])

	var foo, bar testkit.ExtensionReport
	decode(t, s.MustRun("use", "--", "foo").Stdout, &foo)
	decode(t, s.MustRun("use", "--", "bar").Stdout, &bar)
	if want := filepath.Join(entry, "venv", "rez", "bin", "rez", "foo"); foo.Script != want {
		t.Errorf("foo ran from %s, want %s", foo.Script, want)
	}
	if want := filepath.Join(entry, "venv", "bar", "bin", "rez", "bar"); bar.Script != want {
		t.Errorf("bar ran from %s, want %s", bar.Script, want)
	}
	if !foo.IgnoreEnvironment || !bar.IgnoreEnvironment {
		t.Error("extension entry points do not run with -E")
	}
	if !bar.RezImportable || bar.RezFile == nil || !strings.HasPrefix(*bar.RezFile, filepath.Join(entry, "venv", "bar")) {
		t.Errorf("isolated bar cannot import its own rez: %+v", bar)
	}
	if _, err := os.Stat(filepath.Join(entry, "venv", "bar", "bin", "rez", "rez-env")); !os.IsNotExist(err) {
		t.Errorf("rez, installed as a library for bar, got production scripts (%v)", err)
	}
	// rez's lib and the shared libs are importable from rez's python.
	out := s.MustRun("use", "--", "rez-python", "-c", "import fake_lib, toml_fake; print(toml_fake.__file__)").Stdout
	if want := filepath.Join(entry, "libs", "production"); !strings.Contains(out, want) {
		t.Errorf("toml_fake is not loaded from %s: %s", want, out)
	}
}

// rez installed in edit mode gets the seed's REZUP_EDIT_IN_PRODUCTION
// entry points, which preset rez.system.system.rez_bin_path.
func TestEditModeRezInProduction(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	src, recipe := editModeRecipe(t, wh, "\n[env]\nREZUP_EDIT_IN_PRODUCTION = \"1\"\n")
	s.WriteFile("rezup.toml", recipe)
	s.MustRun("add", "--skip-use")
	r := rezReport(t, s.MustRun("use", "--", "rez-env").Stdout)
	if r.RezBinPath == nil || *r.RezBinPath != filepath.Dir(r.Script) {
		t.Errorf("rez_bin_path = %v, want %s", r.RezBinPath, filepath.Dir(r.Script))
	}
	if !strings.HasPrefix(r.RezFile, src) {
		t.Errorf("rez is not imported from its source %s: %s", src, r.RezFile)
	}
	if !r.ProductionMarker {
		t.Error("no .rez_production_install for an edit-mode rez")
	}
}

// editModeRecipe writes rez as a source project and returns its
// directory and a recipe that installs it with edit = true, then extra.
func editModeRecipe(t *testing.T, wheels, extra string) (src, recipe string) {
	t.Helper()
	src, err := testkit.SourceProject(t.TempDir(), "rez", testkit.RezVersion, map[string]string{"rez-env": testkit.RezMain})
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range testkit.RezWheel(testkit.RezVersion).Files {
		p := filepath.Join(src, "src", filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recipe = strings.Replace(testkit.RecipeTOML(wheels, "edit = true\n"+extra),
		`url = "rez==`+testkit.RezVersion+`"`, `url = "`+src+`"`, 1)
	return src, recipe
}

// The warm launch starts no python: it works with no python on PATH.
func TestWarmLaunchNeedsNoPython(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "--skip-use")
	s.Env["PATH"] = "/usr/bin:/bin"
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		// Hide every python: a PATH of symlinks to just what the test runs.
		bin := t.TempDir()
		for _, tool := range []string{"sh", "true"} {
			p := testkit.RequireTool(t, tool)
			os.Symlink(p, filepath.Join(bin, tool))
		}
		s.Env["PATH"] = bin
	}
	if res := s.Run("use", "--", "sh", "-c", "exit 3"); res.Code != 3 {
		t.Fatalf("warm launch without python: exit %d\n%s", res.Code, res.Stderr)
	}
}

func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := jsonUnmarshal(strings.TrimSpace(out), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
