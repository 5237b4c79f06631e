package recipe

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/pyid"
)

func ext(name string, edit func(*Tool)) Tool {
	t := Tool{Name: name, URL: name, Flags: []string{"-E"}, Lib: []string{}}
	if edit != nil {
		edit(&t)
	}
	return t
}

func TestParseMerge(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want func(r *Recipe) // edits Default() into the expected recipe
	}{
		{"empty file", ``, func(r *Recipe) {}},
		{"rez url only keeps name", "[rez]\nurl = \"rez==3.0\"\n", func(r *Recipe) { r.Rez.URL = "rez==3.0" }},
		{"rez name only keeps url", "[rez]\nname = \"rez\"\n", func(r *Recipe) {}},
		{"pip options replace", "[pip]\noptions = [\"--no-cache-dir\"]\n", func(r *Recipe) { r.Pip.Options = []string{"--no-cache-dir"} }},
		{"pip options empty", "[pip]\noptions = []\n", func(r *Recipe) { r.Pip.Options = []string{} }},
		{"pip env", "[pip.env]\nPIP_INDEX_URL = \"https://x\"\nN = 3\n", func(r *Recipe) {
			r.Pip.Env = map[string]string{"PIP_INDEX_URL": "https://x", "N": "3"}
		}},
		// As the Python rezup's str(): True, not true.
		{"env values", "[env]\nA = \"a\"\nB = 1\nC = 1.5\nD = true\nE = 2.0\nF = false\n", func(r *Recipe) {
			r.Env = []EnvVar{{"A", "a"}, {"B", "1"}, {"C", "1.5"}, {"D", "True"}, {"E", "2.0"}, {"F", "False"}}
		}},
		{"flags absent", "[rez]\nedit = true\n", func(r *Recipe) { r.Rez.Edit = true }},
		{"flags empty means none", "[rez]\nflags = []\n", func(r *Recipe) { r.Rez.Flags = []string{} }},
		{"flags", "[rez]\nflags = [\"-E\", \"-s\"]\n", func(r *Recipe) { r.Rez.Flags = []string{"-E", "-s"} }},
		{"python float", "[rez]\npython = 2.7\n", func(r *Recipe) { r.Rez.Python = "2.7" }},
		{"python integer", "[rez]\npython = 3\n", func(r *Recipe) { r.Rez.Python = "3" }},
		{"python float integral", "[rez]\npython = 3.0\n", func(r *Recipe) { r.Rez.Python = "3.0" }},
		{"python string", "[rez]\npython = \"/opt/python/bin/python3\"\n", func(r *Recipe) { r.Rez.Python = "/opt/python/bin/python3" }},
		{"lib", "[rez]\nlib = [\"six\"]\n", func(r *Recipe) { r.Rez.Lib = []string{"six"} }},
		{"root false", "[root]\nlocal = false\nremote = \"\"\n", func(r *Recipe) {}},
		{"root paths", "[root]\nlocal = \"/l\"\nremote = \"/r\"\n", func(r *Recipe) { r.Root = Root{Local: "/l", Remote: "/r"} }},
		{"dotenv", "[dotenv]\n1 = \"/a.env\"\n[dotenv.windows]\na = \"C:/w.env\"\n", func(r *Recipe) {
			r.Dotenv.Shared["1"] = "/a.env"
			r.Dotenv.Platform["windows"]["a"] = "C:/w.env"
		}},
		{"extensions", "[[extension]]\nname = \"foo\"\n[[extension]]\nname = \"bar\"\nurl = \"bar>=1\"\nisolation = true\npython = \"3.11\"\n", func(r *Recipe) {
			r.Extensions = []Tool{ext("foo", nil), ext("bar", func(t *Tool) { t.URL, t.Isolation, t.Python = "bar>=1", true, "3.11" })}
		}},
		{"empty extension tables skipped", "[[extension]]\n[[extension]]\nname = \"foo\"\n[[extension]]\n", func(r *Recipe) {
			r.Extensions = []Tool{ext("foo", nil)}
		}},
		{"inline extensions", "extension = [{name = \"foo\", flags = []}]\n", func(r *Recipe) {
			r.Extensions = []Tool{ext("foo", func(t *Tool) { t.Flags = []string{} })}
		}},
		{"no extensions", "extension = []\n", func(r *Recipe) {}},
		{"shared empty is nil", "[shared]\n", func(r *Recipe) {}},
		{"shared empty name is nil", "[shared]\nname = \"\"\nrequires = []\n", func(r *Recipe) {}},
		{"shared", "[shared]\nname = \"production\"\nrequires = [\"toml\"]\n", func(r *Recipe) {
			r.Shared = &Shared{Name: "production", Requires: []string{"toml"}}
		}},
		{"shared without requires", "[shared]\nname = \"production\"\n", func(r *Recipe) {
			r.Shared = &Shared{Name: "production", Requires: []string{}}
		}},
		{"schema 1.0", "schema = \"rezup-recipe:1.0\"\n", func(r *Recipe) { r.Schema = SchemaV1 }},
		{"strings", "description = \"d\"\n[init]\nscript = \"/i.py\"\n[build]\nsalt = \"s\"\n[cache]\nurl = \"/c\"\n", func(r *Recipe) {
			r.Description, r.Init.Script, r.Build.Salt, r.Cache.URL = "d", "/i.py", "s", "/c"
		}},
		{"cache trust", "[cache]\ntrusted-keys = [\"studio-1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\", \"cache.example.org-1:OpYa6vJWzsPVKR3gAuOq5KV3+/4ydCpoZ4yF3KVa09E=\"]\nsecret-key-file = \"~/.config/rezup/signing.key\"\n", func(r *Recipe) {
			r.Cache.TrustedKeys = []string{"studio-1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=", "cache.example.org-1:OpYa6vJWzsPVKR3gAuOq5KV3+/4ydCpoZ4yF3KVa09E="}
			r.Cache.SecretKeyFile = "~/.config/rezup/signing.key"
		}},
		{"no trusted keys", "[cache]\ntrusted-keys = []\n", func(r *Recipe) { r.Cache.TrustedKeys = []string{} }},
		{"cache format", "[cache]\nformat = \"files\"\n", func(r *Recipe) { r.Cache.Format = "files" }},
		{"dotted keys", "rez.url = \"rez==3\"\npip.env.A = \"1\"\n", func(r *Recipe) {
			r.Rez.URL = "rez==3"
			r.Pip.Env["A"] = "1"
		}},
		{"rez isolation ignored", "[rez]\nisolation = true\n", func(r *Recipe) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := Parse("rezup.toml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			want := Default()
			want.File = "rezup.toml"
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"python 3.10", "[rez]\n\npython = 3.10\n", []string{`rezup.toml:3: python = 3.10 reads as 3.1; quote it: python = "3.10"`}},
		{"python 3.00", "[rez]\npython = 3.00 # three\n", []string{`rezup.toml:2: python = 3.00 reads as 3.0; quote it: python = "3.00"`}},
		{"python 2.7 is fine", "[rez]\npython = 2.7\n", nil},
		{"python quoted is fine", "[rez]\npython = \"3.10\"\n", nil},
		{"extension python", "[[extension]]\nname = \"a\"\n[[extension]]\nname = \"b\"\nisolation = true\npython = 3.10\n",
			[]string{`rezup.toml:6: python = 3.10 reads as 3.1; quote it: python = "3.10"`}},
		{"python without isolation", "[[extension]]\nname = \"a\"\npython = \"3.11\"\n",
			[]string{`rezup.toml:3: [[extension]] #1 python is ignored without isolation = true: the extension is installed into the rez venv`}},
		{"rez isolation", "[rez]\nisolation = true\n",
			[]string{`rezup.toml:2: [rez] isolation has no effect: rez always has a venv of its own; remove it`}},
		{"in line order", "[[extension]]\nname = \"a\"\npython = 3.10\n[rez]\npython = 3.20\n", []string{
			`rezup.toml:3: python = 3.10 reads as 3.1; quote it: python = "3.10"`,
			`rezup.toml:3: [[extension]] #1 python is ignored without isolation = true: the extension is installed into the rez venv`,
			`rezup.toml:5: python = 3.20 reads as 3.2; quote it: python = "3.20"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, warns, err := Parse("rezup.toml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range warns {
				got = append(got, w.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("warnings\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"syntax", "[rez]\nurl = \n", `rezup.toml:2: invalid TOML: expected value but found '\n' instead`},
		{"duplicate key", "[rez]\nurl = \"a\"\nurl = \"b\"\n", `rezup.toml:3: invalid TOML: key 'rez.url' has already been defined`},
		{"unknown key, near", "[rez]\nname = \"rez\"\nurll = \"x\"\n", `rezup.toml:3: unknown key "urll" in [rez]; did you mean "url"?`},
		{"unknown key, far", "[rez]\nversion = \"x\"\n", `rezup.toml:2: unknown key "version" in [rez]; the keys are name, url, edit, flags, isolation, python, lib`},
		{"unknown top-level key", "\nextensions = []\n", `rezup.toml:2: unknown key "extensions"; did you mean "extension"?`},
		{"unknown table", "[tools]\n", `rezup.toml:1: unknown key "tools"; the keys are description, schema, root, dotenv, env, pip, rez, extension, shared, init, build, cache`},
		{"unknown key in extension", "[[extension]]\nname = \"a\"\n[[extension]]\nname = \"b\"\npyhton = \"3\"\n", `rezup.toml:5: unknown key "pyhton" in [[extension]] #2; did you mean "python"?`},
		{"unknown key in pip.env table", "[pip]\nenv = {A = \"1\"}\noption = []\n", `rezup.toml:3: unknown key "option" in [pip]; did you mean "options"?`},
		{"edit yes", "[rez]\n\n\n\nedit = \"yes\"\n", `rezup.toml:5: [rez] edit must be true or false, not "yes"`},
		{"isolation number", "[[extension]]\nname = \"a\"\nisolation = 1\n", `rezup.toml:3: [[extension]] #1 isolation must be true or false, not 1`},
		{"root true", "[root]\nlocal = true\n", `rezup.toml:2: [root] local must be a path, "" or false, not true`},
		{"root number", "[root]\nremote = 1\n", `rezup.toml:2: [root] remote must be a path, "" or false, not 1`},
		{"rez url empty", "[rez]\nname = \"rez\"\nurl = \"\"\n", `rezup.toml:3: [rez] url is empty; set it to a pip requirement such as "rez>=2.83"`},
		{"rez name empty", "[rez]\nname = \"\"\n", `rezup.toml:2: [rez] name is empty; set it to "rez"`},
		{"rez name path", "[rez]\nname = \"../rez\"\n", `rezup.toml:2: [rez] name "../rez" is not a plain name; use letters, digits, ".", "_" and "-", starting with a letter or digit`},
		{"rez not a table", "rez = \"rez>=2\"\n", `rezup.toml:1: rez must be a table ([rez]), not "rez>=2"`},
		{"extension name empty", "[[extension]]\nname = \"\"\nurl = \"x\"\n", `rezup.toml:2: [[extension]] #1 name is empty; set it to the name of the package`},
		{"extension url empty", "[[extension]]\nname = \"a\"\nurl = \"\"\n", `rezup.toml:3: [[extension]] #1 url is empty; set it to a pip requirement, or remove it to install the name`},
		{"extension without name", "[[extension]]\nname = \"a\"\n\n[[extension]]\nurl = \"x\"\n", `rezup.toml:4: [[extension]] #2 has no name; add name = "..." with the name of the package`},
		{"extension names unique", "[[extension]]\nname = \"foo\"\n[[extension]]\nname = \"Foo\"\n", `rezup.toml:4: [[extension]] #2 name "Foo" is already used by [[extension]] #1; extension names must be unique`},
		{"isolated extension named rez", "[[extension]]\nname = \"rez\"\nisolation = true\n", `rezup.toml:2: [[extension]] #1 name "rez" is the name of the rez venv; an isolated extension needs a name of its own`},
		{"extension as a table", "[extension]\nname = \"a\"\n", `rezup.toml:1: extension must be a list of tables, one [[extension]] each, not a table`},
		{"extension list of strings", "extension = [\"a\"]\n", `rezup.toml:1: [[extension]] #1 must be a table, not "a"`},
		{"flags string", "[rez]\nflags = \"-E\"\n", `rezup.toml:2: [rez] flags must be a list of strings such as ["a", "b"], not "-E"`},
		{"flags item on its line", "[rez]\nflags = [\n  \"-E\", # a comment, with \"quotes\" ]\n  3,\n]\n", `rezup.toml:4: [rez] flags item 2 must be a string, not 3`},
		{"flag not a flag", "[rez]\nflags = [\"E\"]\n", `rezup.toml:2: [rez] flags holds "E", which is not an interpreter flag; use flags such as "-E", or [] for none`},
		{"lib empty item", "[rez]\nlib = [\"six\", \"\"]\n", `rezup.toml:2: [rez] lib holds an empty requirement; remove it`},
		{"python bool", "[rez]\npython = true\n", `rezup.toml:2: [rez] python must be a version such as "3.11", or the path of a python, not true`},
		{"python inf", "[rez]\npython = inf\n", `rezup.toml:2: [rez] python must be a version such as "3.11", or the path of a python, not +Inf`},
		{"python negative", "[rez]\npython = -3\n", `rezup.toml:2: [rez] python must be a version such as "3.11", or the path of a python, not -3`},
		{"env list of lists", "[env]\nA = \"a\"\nB = [\"x\", [1]]\n", `rezup.toml:3: [env] B item 2 must be a string, not a list`},
		{"env list of tables", "[env]\nB = [\n  \"x\",\n  {y = 1},\n]\n", `rezup.toml:4: [env] B item 2 must be a string, not a table`},
		{"env table", "[env]\nB.C = \"x\"\n", `rezup.toml:2: [env] B must be a string, not a table`},
		{"env date", "[env]\nD = 1979-05-27\n", `rezup.toml:2: [env] D must be a string, not a date`},
		{"env name", "[env]\n\"A=B\" = \"x\"\n", `rezup.toml:2: [env]: "A=B" is not an environment variable name`},
		{"pip env list", "[pip.env]\nA = []\n", `rezup.toml:2: [pip.env] A must be a string, not a list`},
		{"dotenv number", "[dotenv]\n1 = 2\n", `rezup.toml:2: [dotenv] 1 must be the path of a .env file, not 2; platform tables are [dotenv.linux], [dotenv.darwin] and [dotenv.windows]`},
		{"dotenv platform string", "[dotenv]\nlinux = \"/a.env\"\n", `rezup.toml:2: [dotenv] linux must be the table [dotenv.linux] of .env files, not "/a.env"`},
		{"dotenv platform value", "[dotenv.darwin]\na = false\n", `rezup.toml:2: [dotenv.darwin] a must be the path of a .env file, not false; platform tables are [dotenv.linux], [dotenv.darwin] and [dotenv.windows]`},
		{"shared requires without name", "[shared]\nrequires = [\"toml\"]\n", `rezup.toml:2: [shared] requires needs a name; set [shared] name, such as "production"`},
		{"shared unknown key", "[shared]\nname = \"p\"\nrequire = []\n", `rezup.toml:3: unknown key "require" in [shared]; did you mean "requires"?`},
		{"schema", "schema = \"rezup-recipe:3.0\"\n", `rezup.toml:1: schema "rezup-recipe:3.0" is not supported; set it to "rezup-recipe:2.0", or remove it`},
		{"description number", "description = 1\n", `rezup.toml:1: description must be a string, not 1`},
		{"init script", "[init]\nscript = false\n", `rezup.toml:2: [init] script must be a string, not false`},
		{"build unknown", "[build]\nsalt = \"\"\npepper = \"\"\n", `rezup.toml:3: unknown key "pepper" in [build]; the keys are salt`},
		{"cache url", "[cache]\nurl = 1\n", `rezup.toml:2: [cache] url must be a string, not 1`},
		{"cache unknown", "[cache]\ntrusted-key = []\n", `rezup.toml:2: unknown key "trusted-key" in [cache]; did you mean "trusted-keys"?`},
		{"cache format unknown", "[cache]\nurl = \"/c\"\nformat = \"delta\"\n", `rezup.toml:3: [cache] format is "delta"; want one of archive, files, both`},
		{"cache format not a string", "[cache]\nformat = 1\n", `rezup.toml:2: [cache] format must be a string, not 1`},
		{"trusted keys not a list", "[cache]\ntrusted-keys = \"studio-1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\"\n", `rezup.toml:2: [cache] trusted-keys must be a list of strings such as ["a", "b"], not "studio-1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="`},
		{"trusted key without name", "[cache]\ntrusted-keys = [\n  \"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\",\n]\n", `rezup.toml:3: [cache] trusted-keys item 1 "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=" is not a public key: want <name>:<base64>; use the line ` + "`rezup key generate`" + ` printed, such as "studio-1:<base64>"`},
		{"trusted key bad name", "[cache]\ntrusted-keys = [\"studio 1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\"]\n", `rezup.toml:2: [cache] trusted-keys item 1 "studio 1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=" is not a public key: the name "studio 1" is not a key name (up to 128 letters, digits, ".", "_" and "-", starting with a letter or digit); use the line ` + "`rezup key generate`" + ` printed, such as "studio-1:<base64>"`},
		{"trusted key not base64", "[cache]\ntrusted-keys = [\"studio-1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg\"]\n", `rezup.toml:2: [cache] trusted-keys item 1 "studio-1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg" is not a public key: the part after the name is not base64; use the line ` + "`rezup key generate`" + ` printed, such as "studio-1:<base64>"`},
		{"trusted key is a secret key", "[cache]\ntrusted-keys = [\"a:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8DoQe/884Qvh1w3RjnS8CZZ+TWMJulDV8d3IZkElUxuA==\"]\n", `rezup.toml:2: [cache] trusted-keys item 1 is not a public key: it is a secret key (64 bytes), which must stay private: remove it, and trust its public key instead; use the line ` + "`rezup key generate`" + ` printed, such as "studio-1:<base64>"`},
		{"trusted key short", "[cache]\ntrusted-keys = [\"a:AAAA\"]\n", `rezup.toml:2: [cache] trusted-keys item 1 "a:AAAA" is not a public key: it holds 3 bytes, not the 32 of an ed25519 public key; use the line ` + "`rezup key generate`" + ` printed, such as "studio-1:<base64>"`},
		{"secret key file", "[cache]\nsecret-key-file = false\n", `rezup.toml:2: [cache] secret-key-file must be a string, not false`},
		{"first error by line", "[rez]\nurl = \"\"\n[root]\nlocal = true\n[pip]\noptions = 1\n", `rezup.toml:2: [rez] url is empty; set it to a pip requirement such as "rez>=2.83"`},
		{"first error by line, key order", "[root]\nlocal = true\n[build]\nsalt = 1\n", `rezup.toml:2: [root] local must be a path, "" or false, not true`},
		{"lines after multi-line strings", "description = \"\"\"\n[rez]\nurl = \"\"\n\"\"\"\n[rez]\nedit = 0\n", `rezup.toml:6: [rez] edit must be true or false, not 0`},
		{"windows line endings", "[rez]\r\n\r\nedit = 1\r\n", `rezup.toml:3: [rez] edit must be true or false, not 1`},
		{"hash in string", "description = \"a # b\" # c\n[rez] # [pip]\nedit = 'x#y'\n", `rezup.toml:3: [rez] edit must be true or false, not "x#y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, warns, err := Parse("rezup.toml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; got %+v", r)
			}
			if r != nil || warns != nil {
				t.Errorf("a recipe or warnings returned with the error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%T is not *Error: %v", err, err)
			}
			if e.File != "rezup.toml" {
				t.Errorf("File = %q", e.File)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%s\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rezup.dev.toml")
	if _, _, err := Load(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
	}
	if err := os.WriteFile(path, []byte("[rez]\nurl = \"rez==3.0\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if r.File != path || r.Rez.URL != "rez==3.0" {
		t.Errorf("got File %q, url %q", r.File, r.Rez.URL)
	}
	if err := os.WriteFile(path, []byte("[rez]\nurl = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), path+":2: ") {
		t.Errorf("bad file: %v, want it to start with %s:2:", err, path)
	}
}

// The sample recipes under testdata are what users of the Python rezup
// have written; they must keep parsing.
func TestSamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "recipe", "*.toml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, warns, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warns {
				t.Log(w)
			}
			if _, err := BuildInputs(r, fakeInterpreters(r)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSampleValues(t *testing.T) {
	load := func(name string) *Recipe {
		t.Helper()
		r, _, err := Load(filepath.Join("..", "testdata", "recipe", name))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := load("seed-readme.toml"); len(r.Extensions) != 2 || r.Extensions[1].Python != "2.7" || !r.Extensions[0].Edit ||
		r.Shared == nil || len(r.Shared.Requires) != 3 || envMap(r.Env)["REZ_CONFIG_FILE"] != "/path/to/rezconfig.py" {
		t.Errorf("seed README recipe: %+v", r)
	}
	if r := load("python27.toml"); r.Rez.Python != "2.7" || !reflect.DeepEqual(r.PythonSpecs(), []string{"2.7"}) {
		t.Errorf("python27: python %q, specs %q", r.Rez.Python, r.PythonSpecs())
	}
	if r := load("no-flags.toml"); r.Rez.Flags == nil || len(r.Rez.Flags) != 0 || envMap(r.Env)["REZUP_EDIT_IN_PRODUCTION"] != "1" {
		t.Errorf("no-flags: flags %#v, env %v", r.Rez.Flags, r.Env)
	}
	if r := load("seed-default.toml"); r.Schema != SchemaV1 || r.Rez.URL != "rez>=2.83" {
		t.Errorf("seed default: %+v", r)
	}
}

// fakeInterpreters returns an identity for every python spec r needs.
func fakeInterpreters(r *Recipe) map[string]pyid.ID {
	m := map[string]pyid.ID{}
	for _, s := range r.PythonSpecs() {
		m[s] = pyid.ID{Implementation: "cpython", Version: "3.11.9", Platform: "linux-x86_64"}
	}
	return m
}
