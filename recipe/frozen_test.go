package recipe

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseEnvLikePython(t *testing.T) {
	tests := []struct {
		name string
		src  string
		sep  string
		want map[string]string
	}{
		{"list on linux", "[env]\nlib = [\"a\", \"b\"]\n", ":", map[string]string{"lib": "a:b"}},
		{"list on windows", "[env]\nlib = [\"C:/a\", \"D:/b\"]\n", ";", map[string]string{"lib": "C:/a;D:/b"}},
		{"list of one", "[env]\nlib = [\"a\"]\n", ":", map[string]string{"lib": "a"}},
		{"empty list", "[env]\nlib = []\n", ":", map[string]string{"lib": ""}},
		{"mixed list", "[env]\nX = [\"a\", 1, true, 2.5]\n", ":", map[string]string{"X": "a:1:True:2.5"}},
		{"booleans", "[env]\nT = true\nF = false\n", ":", map[string]string{"T": "True", "F": "False"}},
		{"integers", "[env]\nA = 0\nB = -12\nC = 0x10\n", ":", map[string]string{"A": "0", "B": "-12", "C": "16"}},
		{"floats", "[env]\nA = 2.7\nB = 3.0\nC = 1e16\nD = 1e15\nE = 0.0001\nF = 1e-5\nG = -0.5\nH = 1.5e300\n", ":", map[string]string{
			"A": "2.7", "B": "3.0", "C": "1e+16", "D": "1000000000000000.0", "E": "0.0001", "F": "1e-05", "G": "-0.5", "H": "1.5e+300",
		}},
		{"inf and nan", "[env]\nA = inf\nB = -inf\nC = nan\n", ":", map[string]string{"A": "inf", "B": "-inf", "C": "nan"}},
	}
	for _, tt := range tests {
		for _, frozen := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				r, warns, err := ParseWith("rezup.toml", []byte(tt.src), ParseOptions{Frozen: frozen, ListSeparator: tt.sep})
				if err != nil {
					t.Fatalf("frozen %v: %v", frozen, err)
				}
				if len(warns) > 0 {
					t.Errorf("frozen %v: warnings %v", frozen, warns)
				}
				if got := envMap(r.Env); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("frozen %v: env %q, want %q", frozen, got, tt.want)
				}
			})
		}
	}
}

// [pip.env] is part of the key: it keeps its spelling, and takes no list.
func TestParsePipEnvUnchanged(t *testing.T) {
	r, _, err := Parse("rezup.toml", []byte("[pip.env]\nA = true\nB = 2.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"A": "true", "B": "2.0"}; !reflect.DeepEqual(r.Pip.Env, want) {
		t.Errorf("pip env %q, want %q", r.Pip.Env, want)
	}
	if _, _, err := Parse("rezup.toml", []byte("[pip.env]\nA = [\"a\"]\n")); err == nil {
		t.Error("a list in [pip.env] parsed")
	}
}

// TestParseFrozen runs recipes the strict parse refuses through the
// frozen parse: each must parse, with every problem as a warning, and
// with what can be understood kept.
func TestParseFrozen(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		warns []string
		want  func(r *Recipe) // edits Default() into the expected recipe
	}{
		{"unknown key", "[env]\nlib = [\"a\", \"b\"]\n\n[rez]\nurl = \"rez==3.0\"\nverison = \"3\"\n",
			[]string{`rezup.toml:6: ignored: unknown key "verison" in [rez]; the keys are name, url, edit, flags, isolation, python, lib`},
			func(r *Recipe) { r.Env = []EnvVar{{"lib", "a:b"}}; r.Rez.URL = "rez==3.0" }},
		{"unknown table", "description = \"d\"\n[tools]\nx = 1\n",
			[]string{`rezup.toml:2: ignored: unknown key "tools"; the keys are description, schema, root, dotenv, env, pip, rez, extension, shared, init, build, cache`},
			func(r *Recipe) { r.Description = "d" }},
		{"edit yes", "[rez]\nedit = \"yes\"\nlib = [\"six\"]\n",
			[]string{`rezup.toml:2: ignored: [rez] edit must be true or false, not "yes"`},
			func(r *Recipe) { r.Rez.Lib = []string{"six"} }},
		{"rez name path", "[rez]\nname = \"../rez\"\n",
			[]string{`rezup.toml:2: ignored: [rez] name "../rez" is not a plain name; use letters, digits, ".", "_" and "-", starting with a letter or digit`},
			func(r *Recipe) {}},
		{"rez url empty", "[rez]\nurl = \"\"\n",
			[]string{`rezup.toml:2: ignored: [rez] url is empty; set it to a pip requirement such as "rez>=2.83"`},
			func(r *Recipe) {}},
		{"flags not flags", "[rez]\nflags = [\"-E\", \"s\"]\n",
			[]string{`rezup.toml:2: ignored: [rez] flags holds "s", which is not an interpreter flag; use flags such as "-E", or [] for none`},
			func(r *Recipe) {}},
		{"lib empty item", "[rez]\nlib = [\"six\", \"\"]\n",
			[]string{`rezup.toml:2: ignored: [rez] lib holds an empty requirement; remove it`},
			func(r *Recipe) {}},
		{"python bool", "[rez]\npython = true\n",
			[]string{`rezup.toml:2: ignored: [rez] python must be a version such as "3.11", or the path of a python, not true`},
			func(r *Recipe) {}},
		{"extension name path dropped", "[[extension]]\nname = \"../x\"\n[[extension]]\nname = \"y\"\n",
			[]string{`rezup.toml:2: ignored: [[extension]] #1 name "../x" is not a plain name; use letters, digits, ".", "_" and "-", starting with a letter or digit`},
			func(r *Recipe) { r.Extensions = []Tool{ext("y", nil)} }},
		{"extension duplicate dropped", "[[extension]]\nname = \"y\"\nurl = \"y>=1\"\n[[extension]]\nname = \"Y\"\n",
			[]string{`rezup.toml:5: ignored: [[extension]] #2 name "Y" is already used by [[extension]] #1; extension names must be unique`},
			func(r *Recipe) { r.Extensions = []Tool{ext("y", func(t *Tool) { t.URL = "y>=1" })} }},
		{"isolated extension named rez dropped", "[[extension]]\nname = \"rez\"\nisolation = true\n",
			[]string{`rezup.toml:2: ignored: [[extension]] #1 name "rez" is the name of the rez venv; an isolated extension needs a name of its own`},
			func(r *Recipe) {}},
		{"extension url empty installs the name", "[[extension]]\nname = \"y\"\nurl = \"\"\n",
			[]string{`rezup.toml:3: ignored: [[extension]] #1 url is empty; set it to a pip requirement, or remove it to install the name`},
			func(r *Recipe) { r.Extensions = []Tool{ext("y", nil)} }},
		{"extension without name", "[[extension]]\nurl = \"x\"\n",
			[]string{`rezup.toml:1: ignored: [[extension]] #1 has no name; add name = "..." with the name of the package`},
			func(r *Recipe) {}},
		{"schema", "schema = \"rezup-recipe:3.0\"\n",
			[]string{`rezup.toml:1: ignored: schema "rezup-recipe:3.0" is not supported; set it to "rezup-recipe:2.0", or remove it`},
			func(r *Recipe) {}},
		{"shared name path", "[shared]\nname = \"../p\"\nrequires = [\"toml\"]\n",
			[]string{`rezup.toml:2: ignored: [shared] name "../p" is not a plain name; use letters, digits, ".", "_" and "-", starting with a letter or digit`},
			func(r *Recipe) {}},
		{"env date and table", "[env]\nA = \"a\"\nD = 1979-05-27\nT = {x = 1}\n",
			[]string{`rezup.toml:3: ignored: [env] D must be a string, not a date`, `rezup.toml:4: ignored: [env] T must be a string, not a table`},
			func(r *Recipe) { r.Env = append(r.Env, EnvVar{"A", "a"}) }},
		{"root true", "[root]\nlocal = true\nremote = \"/r\"\n",
			[]string{`rezup.toml:2: ignored: [root] local must be a path, "" or false, not true`},
			func(r *Recipe) { r.Root.Remote = "/r" }},
		{"dotenv number", "[dotenv]\n1 = 2\n2 = \"/b.env\"\n",
			[]string{`rezup.toml:2: ignored: [dotenv] 1 must be the path of a .env file, not 2; platform tables are [dotenv.linux], [dotenv.darwin] and [dotenv.windows]`},
			func(r *Recipe) { r.Dotenv.Shared["2"] = "/b.env" }},
		{"in line order with the strict warnings", "[rez]\npython = 3.10\nedit = 1\n[cache]\nurl = 1\n", []string{
			`rezup.toml:2: python = 3.10 reads as 3.1; quote it: python = "3.10"`,
			`rezup.toml:3: ignored: [rez] edit must be true or false, not 1`,
			`rezup.toml:5: ignored: [cache] url must be a string, not 1`,
		}, func(r *Recipe) { r.Rez.Python = "3.1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := Parse("rezup.toml", []byte(tt.src)); err == nil {
				t.Fatal("the strict parse accepts it: not a frozen-only case")
			}
			got, warns, err := ParseWith("rezup.toml", []byte(tt.src), ParseOptions{Frozen: true, ListSeparator: ":"})
			if err != nil {
				t.Fatal(err)
			}
			var ws []string
			for _, w := range warns {
				ws = append(ws, w.String())
				if w.Ignored != strings.HasPrefix(w.Msg, "ignored: ") {
					t.Errorf("%s: Ignored is %v", w, w.Ignored)
				}
			}
			if !reflect.DeepEqual(ws, tt.warns) {
				t.Errorf("warnings\n%q\nwant\n%q", ws, tt.warns)
			}
			want := Default()
			want.File = "rezup.toml"
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, want)
			}
			if _, err := BuildInputs(got, fakeInterpreters(got)); err != nil {
				t.Errorf("build inputs: %v", err)
			}
		})
	}
}

// A recipe the strict parse accepts reads the same frozen.
func TestParseFrozenSameAsStrict(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "recipe", "*.toml"))
	for _, f := range files {
		strict, sw, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		frozen, fw, err := LoadFrozen(f)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(strict, frozen) || !reflect.DeepEqual(sw, fw) {
			t.Errorf("%s: frozen %+v %v, strict %+v %v", f, frozen, fw, strict, sw)
		}
	}
}

// Text that is not TOML stops the frozen parse too: there is nothing to
// understand.
func TestLoadFrozenNotTOML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rezup.toml")
	if err := os.WriteFile(path, []byte("[rez]\nurl = \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, warns, err := LoadFrozen(path)
	var e *Error
	if !errors.As(err, &e) || r != nil || warns != nil {
		t.Fatalf("got %v, %v, %v; want a *Error alone", r, warns, err)
	}
	if want := path + ":2: invalid TOML: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start with %q", err, want)
	}
	if _, _, err := LoadFrozen(filepath.Join(t.TempDir(), "none.toml")); err == nil {
		t.Error("a missing file loads")
	}
}

// envMap is [env] as a map, for comparisons that do not look at its order.
func envMap(env []EnvVar) map[string]string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return m
}
