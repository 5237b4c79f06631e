package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// warnings are the `rezup: warning:` lines of stderr.
func warnings(stderr string) []string {
	var ws []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "rezup: warning: ") {
			ws = append(ws, l)
		}
	}
	return ws
}

// A remote revision that the Python rezup wrote, whose frozen recipe holds
// what this rezup's strict parse refuses (an unknown key), what the Python
// rezup accepted ([env] lists, booleans) and a dotenv file that is not
// there: every node launches it, with one warning for each problem.
func TestFrozenRecipeNeverBlocksALaunch(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	dir := filepath.Join(f.remote, "legacy", "revisions", "1619780350.588625")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "gone", "site.env")
	frozen := "site = \"lax\"\n" +
		"[env]\nlib = [\"a\", \"b\"]\nTEST_FLAG = true\nTEST_N = 2.0\n" +
		"[dotenv]\n1 = \"" + missing + "\"\n\n" +
		testkit.RecipeTOML(f.wheels, "")
	writeTestFile(t, filepath.Join(dir, "rezup.toml"), frozen)
	writeTestFile(t, filepath.Join(dir, "revision.json"), `{"rezup_version": "2.5.0", "creator": "admin", "hostname": "ws1", "revision_path": "/old/path", "venvs": ["rez"]}`)

	// The strict parse refuses that recipe, so `add` would.
	f.admin.WriteFile("rezup.legacy.toml", frozen)
	if res := f.admin.Run("add", "legacy", "--skip-use"); res.Code != 2 || !strings.Contains(res.Stderr, `rezup.legacy.toml:1: unknown key "site"`) {
		t.Errorf("add of the same recipe: exit %d\n%s", res.Code, res.Stderr)
	}

	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	mirror := filepath.Join(root, "legacy", "revisions", "1619780350.588625", "rezup.toml")
	for i := range 2 { // the first launch pulls and builds, the second takes the hot path
		res := node.MustRun("use", "legacy", "--", "sh", "-c", `printf '%s|%s|%s\n' "$lib" "$TEST_FLAG" "$TEST_N"`)
		if got := strings.TrimSpace(res.Stdout); got != "a:b|True|2.0" {
			t.Errorf("launch %d: lib|TEST_FLAG|TEST_N = %q, want a:b|True|2.0", i+1, got)
		}
		want := []string{
			`rezup: warning: ` + mirror + `:1: ignored: unknown key "site"; the keys are description, schema, root, dotenv, env, pip, rez, extension, shared, init, build, cache`,
			`rezup: warning: skipped [dotenv] 1 of ` + mirror + `: no file ` + missing,
		}
		if got := warnings(res.Stderr); !slices.Equal(got, want) {
			t.Errorf("launch %d: warnings\n%s\nwant\n%s\nstderr:\n%s", i+1, strings.Join(got, "\n"), strings.Join(want, "\n"), res.Stderr)
		}
	}
	if keys := storeEntries(t, root); len(keys) != 1 {
		t.Errorf("store entries: %v", keys)
	}
}

// A frozen recipe that is not TOML at all stops the launch, naming the
// revision and saying what to do.
func TestFrozenRecipeNotTOML(t *testing.T) {
	t.Parallel()
	// A node of a farm whose remote root holds that revision alone:
	// nothing is built, so no farm (newFarm) is needed.
	node, _ := newUser(t)
	remote := filepath.Join(t.TempDir(), "remote")
	node.Env["REZUP_ROOT_REMOTE"] = remote
	node.Env["REZUP_ROOT_LOCAL"] = filepath.Join(t.TempDir(), "node")
	dir := filepath.Join(remote, "legacy", "revisions", "1619780350.588625")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "rezup.toml"), "[rez\nurl = 1\n")
	writeTestFile(t, filepath.Join(dir, "revision.json"), `{"rezup_version": "2.5.0", "venvs": ["rez"]}`)
	res := node.Run("use", "legacy", "--", "true")
	if res.Code != 2 {
		t.Errorf("exit %d, want 2", res.Code)
	}
	for _, want := range []string{
		"rezup: error: remote revision 1619780350.588625 of legacy: " + filepath.Join(dir, "rezup.toml") + ":2: invalid TOML",
		"rezup: hint: publish a new revision with `rezup add legacy --remote`, or run with --local",
	} {
		if !strings.Contains(res.Stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, res.Stderr)
		}
	}
}

// One container with a broken recipe does not hide the others from
// `status`: it is listed with its error, and status exits 0.
func TestStatusListsBrokenRecipe(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t)
	s.Env["REZUP_ROOT_LOCAL"] = filepath.Join(t.TempDir(), "root")
	s.WriteFile("rezup.good.toml", "description = \"fine\"\n")
	s.WriteFile("rezup.bad.toml", "[rez]\n\nedit = \"yes\"\n")
	s.WriteFile("rezup.zed.toml", "")
	bad := filepath.Join(s.Home, "rezup.bad.toml")
	wantErr := bad + `:3: [rez] edit must be true or false, not "yes"`

	res := s.MustRun("status")
	for _, want := range []string{"good", "zed", "bad", "broken recipe: " + wantErr} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("status does not show %q:\n%s", want, res.Stdout)
		}
	}

	res = s.MustRun("status", "--json")
	var cs []statusContainer
	if err := json.Unmarshal([]byte(res.Stdout), &cs); err != nil {
		t.Fatalf("%v\n%s", err, res.Stdout)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
		switch {
		case c.Name == "bad" && (string(c.Error) != wantErr || string(c.Recipe) != bad):
			t.Errorf("bad: error %q, recipe %q; want %q, %q", c.Error, c.Recipe, wantErr, bad)
		case c.Name != "bad" && (c.Error != "" || c.Root == ""):
			t.Errorf("%s: error %q, root %q", c.Name, c.Error, c.Root)
		}
	}
	if want := []string{"bad", "good", "zed"}; !slices.Equal(names, want) {
		t.Errorf("containers %q, want %q", names, want)
	}
	if !strings.Contains(res.Stdout, `"error": `) {
		t.Errorf("no error field in the JSON:\n%s", res.Stdout)
	}

	// The broken one itself is read leniently, with one warning, by
	// everything but add, which refuses it (exit 2).
	res = s.Run("status", "bad")
	if res.Code != 0 || strings.Count(res.Stderr, "rezup: warning: "+bad+":3: ") != 1 {
		t.Errorf("status bad: exit %d\n%s", res.Code, res.Stderr)
	}
	res = s.Run("add", "bad", "--skip-use")
	if res.Code != 2 || !strings.Contains(res.Stderr, "rezup: error: "+wantErr) {
		t.Errorf("add bad: exit %d\n%s", res.Code, res.Stderr)
	}
}

// A home recipe that breaks after revisions were made stops only add: use,
// env, pull and status NAME of what exists go on, with one warning naming
// the file (and line). One that is not TOML at all is replaced by the
// environment and the defaults, and then the shared cache is used only for
// pinned archives: a broken recipe never weakens trust.
func TestBrokenHomeRecipeStopsOnlyAdd(t *testing.T) {
	t.Parallel()
	s := builtUser(t, "")
	s.WriteFile("rezup.dev.toml", testkit.RecipeTOML(testkit.WheelHouse(t), ""))
	s.MustRun("add", "dev", "--skip-use")
	s.MustRun("add", "dev", "--skip-use") // a second revision, for diff

	main, dev := filepath.Join(s.Home, "rezup.toml"), filepath.Join(s.Home, "rezup.dev.toml")
	appendTo := func(path, text string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
	}
	appendTo(main, "oops = [\n")         // not TOML any more
	appendTo(dev, "site_tweak = true\n") // a key the Python rezup would ignore
	for _, args := range [][]string{
		{"use", "--", "rez-env"},
		{"use", "dev", "--", "rez-env"},
		{"env", "dev", "--format", "json"},
		{"env"},
		{"pull", "dev"},
		{"pull"},
		{"status", "dev"},
		{"status", ".main"},
		{"diff", "dev"},
	} {
		res := s.Run(args...)
		if res.Code != 0 {
			t.Errorf("%s with a broken home recipe: exit %d\n%s", strings.Join(args, " "), res.Code, res.Stderr)
			continue
		}
		if n := strings.Count(res.Stderr, "rezup: warning: "+main); n != 1 {
			t.Errorf("%s: %d warnings naming %s, want 1\n%s", strings.Join(args, " "), n, main, res.Stderr)
		}
		if args[len(args)-1] == "dev" || (len(args) > 1 && args[1] == "dev") {
			if !strings.Contains(res.Stderr, "rezup: warning: "+dev+":") || !strings.Contains(res.Stderr, "site_tweak") {
				t.Errorf("%s: no warning naming %s and the key\n%s", strings.Join(args, " "), dev, res.Stderr)
			}
		}
	}
	for _, name := range []string{".main", "dev"} {
		res := s.Run("add", name, "--skip-use")
		if res.Code != 2 {
			t.Errorf("add %s with a broken recipe: exit %d, want 2\n%s", name, res.Code, res.Stderr)
		}
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
