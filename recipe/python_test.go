package recipe_test

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/recipe"
)

// pullPy does, with the real Python rezup 2.6, what a Python node does
// with the frozen recipe of a remote revision it pulls, for each recipe
// text read from stdin (a JSON list): it reads the remote revision's
// recipe, rewrites it into the local revision and reads that back
// (RevisionRecipe.pull), composes the launch environment
// (Revision.recipe_env), and makes what its build makes of the recipe
// (Tool, Installer's pip environment, [shared]); without running pip. It
// prints, for each, what it read, or at which stage it failed.
const pullPy = `
import json, os, subprocess, sys, tempfile
from rezup.recipe import ContainerRecipe
from rezup.container import Container, Revision, Tool

out = []
base = tempfile.mkdtemp()
for i, text in enumerate(json.load(sys.stdin)):
    d = os.path.join(base, str(i))
    os.makedirs(d)
    os.environ["REZUP_ROOT_LOCAL"] = os.path.join(d, "local")
    os.environ["REZUP_ROOT_REMOTE"] = os.path.join(d, "remote")
    stage = "read"
    try:
        with ContainerRecipe.provisional_recipes(d):
            remote = Container("c")
            local = Container("c", force_local=True)
            rdir = remote.revisions() / "1700000000.5"
            rdir.mkdir(parents=True)
            (rdir / "rezup.toml").write_bytes(text.encode("utf-8"))
            (rdir / "revision.json").write_text('{"venvs": ["rez"]}')
            rrev = Revision(container=remote, dirname="1700000000.5")
            rrev.recipe().data()
            stage = "pull"
            lrev = Revision(container=local, dirname="1700000000.5")
            os.makedirs(str(lrev.path()))
            lrev._recipe.pull(rrev)
            recipe = lrev.recipe()
            recipe.data()
            stage = "launch"
            lrev._is_pulled = True
            env = lrev.recipe_env()
            stage = "build"
            # Installer.install_rez, install_extension, install_package
            # and create_shared_lib, up to where they would run pip.
            rez = Tool(recipe["rez"])
            assert rez.name == "rez"
            exts = [Tool(x) for x in recipe.get("extension", []) if x]
            pip = recipe.get("pip")
            pip_env = os.environ.copy()
            pip_env.update(pip.get("env") or {})
            subprocess.check_output([sys.executable, "-c", ""], env=pip_env)
            shared = recipe.get("shared")
            if shared:
                requires = list(shared["requires"])
                if not requires:
                    raise ValueError("pip install -U --target: no requirement")
            out.append({
                "env": env,
                "rez": [rez.name, rez.url, rez.edit, list(rez.flags), rez.python, rez.lib],
                "extensions": [[e.name, e.url, e.isolation] for e in exts],
                "pip_options": pip.get("options"),
                "pip_env": pip.get("env") or {},
            })
    except BaseException as e:
        out.append({"error": "%s: %s: %s" % (stage, type(e).__name__, e)})
print(json.dumps(out))
`

type pulled struct {
	Error      string            `json:"error"`
	Env        map[string]string `json:"env"`
	Rez        []any             `json:"rez"`
	Extensions [][]any           `json:"extensions"`
	PipOptions []string          `json:"pip_options"`
	PipEnv     map[string]any    `json:"pip_env"`
}

// pythonPull runs pullPy over recipes.
func pythonPull(t *testing.T, recipes []string) []pulled {
	t.Helper()
	py := testkit.RealPythonRezup(t)
	in, err := json.Marshal(recipes)
	if err != nil {
		t.Fatal(err)
	}
	var out []pulled
	b := py.Script(t, nil, in, pullPy)
	if err := json.Unmarshal(b, &out); err != nil || len(out) != len(recipes) {
		t.Fatalf("%v: %s", err, b)
	}
	return out
}

// TestPythonDifferencesAgainstPythonRezup holds PythonDifferences to the
// real Python rezup 2.6: for every recipe of the corpus, either it reports
// nothing and a Python node reads the recipe as this rezup does (what
// [env] sets, what its build installs), or it reports something and a
// Python node fails on it or reads it otherwise. Each case of the corpus
// is one thing a site may write.
func TestPythonDifferencesAgainstPythonRezup(t *testing.T) {
	rez := "[rez]\nurl = \"rez==3.4.0\"\n"
	env := func(lines ...string) string { return rez + "[env]\n" + strings.Join(lines, "\n") + "\n" }
	corpus := []struct {
		name, text string
		differs    bool // documents the expectation; the property is checked either way
	}{
		{"default recipe", string(recipe.DefaultTOML()), false},
		{"plain", rez + "[pip]\noptions = [\"--no-index\", \"--find-links\", \"/w\"]\n[pip.env]\nPIP_TIMEOUT = \"60\"\n", false},
		{"env strings", env(`Z1 = "zval"`, `A1 = "a"`, `PATHS = "/a:/b"`, `EMPTY = ""`), false},
		{"env numbers and booleans", env(`I = 2`, `F = 2.0`, `E = 1e16`, `T = true`, `X = 0x1F`), false},
		{"env comment", env(`C = "x # y"`, `D = "x#y"`, `H = "# y"`), false},
		{"env quotes", env(`Q = '"quoted # kept"'`, `S = "'single'"`, `U = 'a"b'`), false},
		{"env blanks", env(`B = "  x  "`, `T = "x\t"`), false},
		{"env percent", env(`P2 = "100%%"`, `PN = "%(name)s"`), false},
		{"env list", env(`PATHS = ["/a", "/b"]`), true},
		{"env mixed list", env(`MIXED = ["a", 2, true]`), true},
		{"env int and float list", env(`N = [1, 2.0]`), true},
		{"env lone percent", env(`P = "50%"`), true},
		{"env line break", env(`NL = "a\nB=x"`), true},
		{"env text after quote", env(`Q = '"a" b'`), true},
		{"env unclosed quote", env(`Q = '"a'`), true},
		{"env name with a blank", env(`"A B" = "v"`), true},
		{"env name export", env(`export = "v"`), true},
		{"env inline table", rez + "env = {A = \"a\", B = \"b\"}\n", false},
		{"pip env number", rez + "[pip.env]\nPIP_TIMEOUT = 60\n", true},
		{"rez named otherwise", "[rez]\nname = \"rezz\"\n", true},
		{"shared without requires", rez + "[shared]\nname = \"production\"\n", true},
		{"shared", rez + "[shared]\nname = \"production\"\nrequires = [\"toml\"]\n", false},
		{"extensions", rez + "[[extension]]\nname = \"foo\"\nurl = \"foo>=1\"\n[[extension]]\nname = \"bar\"\nisolation = true\n", false},
		{"backslash x", rez + "[cache]\nurl = 'C:\\xyz'\n", true},
		{"backslashes", rez + "[dotenv]\n1 = 'C:\\studio\\site.env'\n", false},
		{"control character", env(`C = "a\u0001b"`), true},
		{"control character where Python does not look", "description = \"a\\u0001b\"\n" + rez + "x = \"a\\u0001b\"\n", false},
		{"unicode", "description = \"caf\\u00e9 \u65e5\u672c\"\n" + rez + "lib = [\"caf\\u00e9\"]\n", false},
		{"escape e", "description = \"\\e\"\n" + rez, true},
		{"escape x", "description = \"\\x41\"\n" + rez, true},
		{"multi-line string", rez + "lib = [\"\"\"\nsix\"\"\"]\n", false},
		{"multi-line string, four quotes", "description = \"\"\"x\"\"\"\"\n" + rez, true},
		{"multi-line string, crlf", rez + "lib = [\"\"\"six\r\n\"\"\"]\n", true},
		{"multi-line string, crlf after the quotes", rez + "lib = [\"\"\"\r\nsix\"\"\"]\n", false},
		{"multi-line string, crlf after the quotes and inside", rez + "lib = [\"\"\"\r\nsix\r\ntoml\"\"\"]\n", true},
		{"inline table over lines", "rez = {name = \"rez\",\n url = \"rez==3.4.0\"}\n", true},
		{"inline table, trailing comma", "rez = {name = \"rez\", url = \"rez==3.4.0\", }\n", true},
		{"dotted key with a blank", "rez .url = \"rez==3.4.0\"\n", true},
		{"dotted key", "rez.url = \"rez==3.4.0\"\n", false},
		{"header with blanks", "[ rez ]\nurl = \"rez==3.4.0\"\n", false},
		{"byte-order mark", "\ufeff" + rez, true},
		{"crlf", "[rez]\r\nurl = \"rez==3.4.0\"\r\n", false},
		{"unknown keys are ignored", rez + "[cache]\nurl = \"/c\"\n[build]\nsalt = \"s\"\n[init]\nscript = \"\"\n", false},
		{"nested arrays", rez + "[rez.x]\na = [[\"a\"], [\"b\", \"c\"]]\n", false},
		{"array of an array and a string", rez + "[cache]\ntrusted-keys = [\"a\", [\"b\"]]\n", true},
	}
	texts := make([]string, len(corpus))
	for i, c := range corpus {
		texts[i] = c.text
	}
	py := pythonPull(t, texts)
	for i, c := range corpus {
		t.Run(c.name, func(t *testing.T) {
			diffs, err := recipe.PythonDifferences("rezup.toml", []byte(c.text))
			if err != nil {
				t.Fatal(err)
			}
			// The frozen parse: a launch reads every recipe, even one
			// the strict parse refuses (the cases of bad types).
			r, _, err := recipe.ParseWith("rezup.toml", []byte(c.text), recipe.ParseOptions{Frozen: true, ListSeparator: ":"})
			if err != nil {
				t.Fatal(err)
			}
			same, why := readsTheSame(r, py[i])
			switch {
			case len(diffs) == 0 && !same:
				t.Errorf("no difference reported, but the Python rezup %s", why)
			case len(diffs) > 0 && same:
				t.Errorf("the Python rezup reads it as this rezup does, but differences are reported: %q", diffs)
			}
			if (len(diffs) > 0) != c.differs {
				t.Errorf("the corpus says differs = %v; differences: %q", c.differs, diffs)
			}
		})
	}
}

// readsTheSame says whether the Python rezup read the recipe as r, and
// if not, how not.
func readsTheSame(r *recipe.Recipe, py pulled) (bool, string) {
	if py.Error != "" {
		return false, "fails: " + py.Error
	}
	env := map[string]string{}
	for _, e := range r.Env {
		env[e.Name] = e.Value
	}
	delete(py.Env, "REZUP_CONTAINER")
	delete(py.Env, "REZUP_USING_REMOTE")
	if !reflect.DeepEqual(py.Env, env) {
		return false, "sets " + jsonText(py.Env) + ", this rezup " + jsonText(env)
	}
	flags := []any{}
	for _, f := range r.Rez.Flags {
		flags = append(flags, f)
	}
	lib := []any{}
	for _, l := range r.Rez.Lib {
		lib = append(lib, l)
	}
	ours := []any{r.Rez.Name, r.Rez.URL, r.Rez.Edit, flags, nil, nil}
	if r.Rez.Python != "" {
		ours[4] = r.Rez.Python
	}
	if len(lib) > 0 {
		ours[5] = lib
	}
	if !reflect.DeepEqual(py.Rez, ours) {
		return false, "installs rez as " + jsonText(py.Rez) + ", this rezup as " + jsonText(ours)
	}
	exts := [][]any{}
	for _, e := range r.Extensions {
		exts = append(exts, []any{e.Name, e.URL, e.Isolation})
	}
	if py.Extensions == nil {
		py.Extensions = [][]any{}
	}
	if !reflect.DeepEqual(py.Extensions, exts) {
		return false, "installs extensions " + jsonText(py.Extensions) + ", this rezup " + jsonText(exts)
	}
	if !reflect.DeepEqual(py.PipOptions, r.Pip.Options) {
		return false, "passes pip " + jsonText(py.PipOptions) + ", this rezup " + jsonText(r.Pip.Options)
	}
	pipEnv := map[string]any{}
	for k, v := range r.Pip.Env {
		pipEnv[k] = v
	}
	if !reflect.DeepEqual(py.PipEnv, pipEnv) {
		return false, "runs pip with " + jsonText(py.PipEnv) + ", this rezup " + jsonText(pipEnv)
	}
	return true, ""
}

func jsonText(v any) string {
	b, _ := json.Marshal(v) // maps and slices of JSON values: no error
	return string(b)
}

// What add --remote prints, one line per difference: the wording is
// what a publisher reads.
func TestPythonDifferencesWording(t *testing.T) {
	src := `[env]
MIXED = ["a", 2, true]
PATHS = ["/a", "/b"]
OK = "x"
P = "50%"
Q = '"a" b'
"A B" = "v"
NL = "a\nB=x"

[pip.env]
PIP_TIMEOUT = 60

[cache]
url = 'C:\xyz'
`
	diffs, err := recipe.PythonDifferences("/h/rezup.prod.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range diffs {
		got = append(got, d.String())
	}
	want := []string{
		`/h/rezup.prod.toml:2: [env] MIXED mixes a string, an integer and a boolean in one array: Python nodes cannot read this recipe at all (toml 0.10: "Not a homogeneous array")`,
		`/h/rezup.prod.toml:3: [env] PATHS is a list: Python nodes set PATHS to "['/a', '/b']" (Python's spelling of a list), this rezup to "/a` + string(os.PathListSeparator) + `/b"`,
		`/h/rezup.prod.toml:5: [env] P = "50%" holds a % that configparser refuses: Python nodes fail to launch the revision at all ("invalid interpolation syntax"; %% would set %% there)`,
		`/h/rezup.prod.toml:6: [env] Q: Python nodes do not set Q (python-dotenv cannot read the line "Q = \"a\" b"); this rezup sets Q to "\"a\" b"`,
		`/h/rezup.prod.toml:7: [env] "A B": Python nodes do not set A B (python-dotenv cannot read the line "A B = v"); this rezup sets A B to "v"`,
		`/h/rezup.prod.toml:8: [env] NL: Python nodes set NL to "a", and B="x" too; this rezup sets NL to "a\nB=x"`,
		`/h/rezup.prod.toml:11: [pip.env] PIP_TIMEOUT = 60 is not a string: Python nodes fail to build the revision (pip's environment takes strings); write it as "60"`,
		`/h/rezup.prod.toml:14: [cache] url holds a backslash followed by x: Python nodes fail to pull the revision (their rezup rewrites the recipe into it and cannot read that back); write the backslash as / where it is a path`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Keys the Python rezup merely ignores are no difference.
	diffs, err = recipe.PythonDifferences("r.toml", []byte("schema = \"rezup-recipe:2.0\"\n[root]\npython-compatible = true\n[build]\nsalt = \"s\"\n[cache]\nurl = \"/c\"\ntrusted-keys = []\n[init]\nscript = \"\"\n[env]\nN = 2\nB = true\n"))
	if err != nil || len(diffs) != 0 {
		t.Errorf("differences in what the Python rezup ignores: %v %q", err, diffs)
	}
	if _, err := recipe.PythonDifferences("r.toml", []byte("[env\n")); err == nil {
		t.Error("text that is not TOML: no error")
	}
}

func TestMain(m *testing.M) {
	os.Exit(testkit.Main(m))
}
