package launch_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/launch"
	"github.com/rezup/rezup/recipe"
)

// recipeEnvPy composes, with the real Python rezup 2.6, the launch
// environment of a local revision for each case read from stdin (a JSON
// list of {recipe, environ}): Revision.recipe_env, which `rezup use`
// runs, with os.environ as the case's environ. It prints what it sets, or
// the error it fails with.
const recipeEnvPy = `
import json, os, sys, tempfile
from rezup.recipe import ContainerRecipe
from rezup.container import Container, Revision

out = []
base = tempfile.mkdtemp()
for i, case in enumerate(json.load(sys.stdin)):
    d = os.path.join(base, str(i))
    os.makedirs(d)
    os.environ.clear()
    os.environ.update(case["environ"])
    os.environ["REZUP_ROOT_LOCAL"] = os.path.join(d, "local")
    try:
        with ContainerRecipe.provisional_recipes(d):
            local = Container("c", force_local=True)
            rdir = local.revisions() / "1700000000.5"
            rdir.mkdir(parents=True)
            (rdir / "rezup.toml").write_bytes(case["recipe"].encode("utf-8"))
            (rdir / "revision.json").write_text('{"venvs": ["rez"]}')
            env = Revision(container=local, dirname="1700000000.5").recipe_env()
            out.append({"env": env})
    except Exception as e:
        out.append({"error": "%s: %s" % (type(e).__name__, e)})
print(json.dumps(out))
`

// TestEnvironAsPythonRezup composes [dotenv] and [env] with this rezup
// and with the real Python rezup 2.6 from the same recipe and caller
// environment: both set the same values (file order for ${VAR}, each
// file and [env] seeing only the caller's environment and their own
// bindings, python-dotenv's '#' and quotes), but where this rezup
// deliberately differs (lists, a lone %).
func TestEnvironAsPythonRezup(t *testing.T) {
	py := testkit.RealPythonRezup(t)
	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	site := file("site.env", "D=dval\nE=${D}-e\nF=${CALLER}-${G:-no-g}\nK=  # not a comment\nL=a # comment\nM='${D} kept'\nBARE\nU=${BARE:-unset}\nexport X1=x1\n")
	other := file("linux.env", "G=${D:-no-d}\nH=\"q # kept\"\n")
	environ := []string{"CALLER=c", "PATH=/usr/bin", "HOME=" + dir}

	cases := []struct {
		name, recipe string
		want         map[string]string // what both set (a check of the test itself)
	}{
		{"file order", "[env]\nZ1 = \"zval\"\nA1 = \"${Z1}-a\"\nB1 = \"${A1}-b\"\n",
			map[string]string{"Z1": "zval", "A1": "zval-a", "B1": "zval-a-b"}},
		{"a name before the one it expands", "[env]\nA1 = \"${Z1:-none}-a\"\nZ1 = \"zval\"\n",
			map[string]string{"A1": "none-a", "Z1": "zval"}},
		{"dotenv files, then env, each on its own",
			"[dotenv]\n1 = " + quote(site) + "\n[dotenv.linux]\n1 = " + quote(other) + "\n[env]\nX = \"${D:-no-d}-x\"\nY = \"${CALLER}-y\"\nD = \"env\"\n",
			map[string]string{"D": "env", "E": "dval-e", "F": "c-no-g", "G": "no-d", "H": "q # kept", "K": "# not a comment", "L": "a",
				"M": "dval kept", "U": "", "X1": "x1", "X": "no-d-x", "Y": "c-y"}},
		{"comments and quotes", "[env]\nC = \"x # y\"\nD = \"x#y\"\nH = \"# y\"\nT = \"x\\t# y\"\nN = \"x\\u00a0# y\"\nQ = '\"x # y\"'\nS = \"'${CALLER}'\"\nB = \"  x  \"\n",
			map[string]string{"C": "x", "D": "x#y", "H": "# y", "T": "x", "N": "x", "Q": "x # y", "S": "c", "B": "x"}},
		{"numbers and booleans", "[env]\nI = 2\nF = 2.0\nE = 1e16\nT = true\nX = 0x10\n",
			map[string]string{"I": "2", "F": "2.0", "E": "1e+16", "T": "True", "X": "16"}},
		{"percent signs configparser takes", "[env]\nP = \"100%%\"\nN = \"%(name)s\"\n",
			map[string]string{"P": "100%%", "N": "%(name)s"}},
		{"defaults and dollars", "[env]\nA = \"${NOPE:-dflt}\"\nB = \"$CALLER\"\nC = \"${CALLER:-x}\"\nE = \"${}\"\n",
			map[string]string{"A": "dflt", "B": "$CALLER", "C": "c", "E": ""}},
	}
	type pyCase struct {
		Recipe  string            `json:"recipe"`
		Environ map[string]string `json:"environ"`
	}
	envMapOf := func(list []string) map[string]string {
		m := map[string]string{}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	var in []pyCase
	for _, c := range cases {
		in = append(in, pyCase{c.recipe, envMapOf(environ)})
	}
	// The deliberate differences, last.
	in = append(in, pyCase{"[env]\nL = [\"/a\", \"/b\"]\n", envMapOf(environ)}, pyCase{"[env]\nP = \"50%\"\n", envMapOf(environ)})
	b, _ := json.Marshal(in) // strings only: no error
	var out []struct {
		Env   map[string]string `json:"env"`
		Error string            `json:"error"`
	}
	got := py.Script(t, nil, b, recipeEnvPy)
	if err := json.Unmarshal(got, &out); err != nil || len(out) != len(in) {
		t.Fatalf("%v: %s", err, got)
	}
	ours := func(t *testing.T, src string) map[string]string {
		t.Helper()
		r, _, err := recipe.ParseWith("/r/rezup.toml", []byte(src), recipe.ParseOptions{Frozen: true, ListSeparator: ":"})
		if err != nil {
			t.Fatal(err)
		}
		list, warns, err := launch.Environ(launch.Options{Container: "c", Recipe: r, Environ: environ, GOOS: "linux"})
		if err != nil || len(warns) > 0 {
			t.Fatal(err, warns)
		}
		return envMapOf(list)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if out[i].Error != "" {
				t.Fatalf("the Python rezup failed: %s", out[i].Error)
			}
			env := ours(t, c.recipe)
			for k, v := range out[i].Env {
				if strings.HasPrefix(k, "REZUP_") {
					continue
				}
				if env[k] != v {
					t.Errorf("%s: the Python rezup sets %q, this rezup %q", k, v, env[k])
				}
			}
			for k, v := range c.want {
				if out[i].Env[k] != v {
					t.Errorf("%s: the Python rezup sets %q, the test expects %q", k, out[i].Env[k], v)
				}
			}
		})
	}
	t.Run("a list, joined here", func(t *testing.T) {
		py := out[len(cases)]
		if py.Env["L"] != "['/a', '/b']" {
			t.Errorf("the Python rezup sets L to %q", py.Env["L"])
		}
		if got := ours(t, in[len(cases)].Recipe)["L"]; got != "/a:/b" {
			t.Errorf("this rezup sets L to %q", got)
		}
	})
	t.Run("a lone percent, kept here", func(t *testing.T) {
		py := out[len(cases)+1]
		if !strings.Contains(py.Error, "invalid interpolation syntax") {
			t.Errorf("the Python rezup: %+v, want a failed launch", py)
		}
		if got := ours(t, in[len(cases)+1].Recipe)["P"]; got != "50%" {
			t.Errorf("this rezup sets P to %q", got)
		}
	})
}

func quote(s string) string {
	b, _ := json.Marshal(s) // a string: no error
	return string(b)
}
