package recipe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/pyid"
)

var update = flag.Bool("update", false, "rewrite the golden build inputs")

// The golden recipe is built from parts so that a test can reorder the
// extensions.
const (
	goldenHead = `description = "golden"

[root]
local = "/studio/local"
remote = false

[dotenv]
1 = "/studio/site.env"
[dotenv.linux]
1 = "/studio/linux.env"

[env]
REZ_CONFIG_FILE = "/studio/rezconfig.py"

[pip]
options = ["--disable-pip-version-check", "--no-cache-dir"]
[pip.env]
PIP_INDEX_URL = "https://pypi.example.com/simple"
PIP_TIMEOUT = 30

[rez]
url = "rez>=2.83"
python = 3
lib = ["six"]

`
	goldenFoo = `[[extension]]
name = "foo"
url = "~/dev/foo"
edit = true

`
	goldenBar = `[[extension]]
name = "bar"
url = "git+https://example.com/bar"
isolation = true
python = 2.7
flags = []

`
	goldenTail = `[shared]
name = "production"
requires = ["toml"]

[init]
script = "/studio/init.py"

[build]
salt = ""

[cache]
url = "/studio/cache"
`
	golden = goldenHead + goldenFoo + goldenBar + goldenTail
)

func goldenInterpreters() map[string]pyid.ID {
	return map[string]pyid.ID{
		"":     {Implementation: "cpython", Version: "3.11.9", Platform: "linux-x86_64"},
		"3":    {Implementation: "cpython", Version: "3.11.9", Platform: "linux-x86_64"},
		"3.12": {Implementation: "cpython", Version: "3.12.4", Platform: "linux-x86_64"},
		"2.7":  {Implementation: "cpython", Version: "2.7.18", Platform: "linux-x86_64"},
	}
}

func mustInputs(t *testing.T, src string, interps map[string]pyid.ID) []byte {
	t.Helper()
	r, _, err := Parse("rezup.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	b, err := BuildInputs(r, interps)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The build inputs are what keys are computed from: if this test fails,
// every key changed. That is a breaking change; bump KeySchema and
// regenerate with `go test ./recipe -run Golden -update`.
// golden-inputs.json holds the exact bytes (no final newline), so other
// packages may hash it for golden keys of their own.
func TestBuildInputsGolden(t *testing.T) {
	got := mustInputs(t, golden, goldenInterpreters())
	path := filepath.Join("..", "testdata", "recipe", "golden-inputs.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("build inputs changed:\n%s\nwant:\n%s", got, want)
	}
	if !json.Valid(got) || bytes.ContainsAny(got, "\n\t") {
		t.Errorf("not compact JSON: %s", got)
	}
}

func TestBuildInputsChanges(t *testing.T) {
	replace := func(old, new string) func(string) string {
		return func(s string) string { return strings.Replace(s, old, new, 1) }
	}
	tests := []struct {
		name    string
		edit    func(string) string
		interps func(map[string]pyid.ID)
		changes bool
	}{
		{"rez url", replace(`url = "rez>=2.83"`, `url = "rez>=2.90"`), nil, true},
		{"rez name", replace("[rez]\n", "[rez]\nname = \"rez-fork\"\n"), nil, true},
		{"rez lib", replace(`lib = ["six"]`, `lib = ["six", "pyyaml"]`), nil, true},
		{"rez flags", replace("[rez]\n", "[rez]\nflags = [\"-E\", \"-s\"]\n"), nil, true},
		{"rez flags none", replace("[rez]\n", "[rez]\nflags = []\n"), nil, true},
		{"rez edit", replace("[rez]\n", "[rez]\nedit = true\n"), nil, true},
		{"rez python", replace("python = 3\n", "python = \"3.12\"\n"), nil, true},
		{"extension order", func(string) string { return goldenHead + goldenBar + goldenFoo + goldenTail }, nil, true},
		{"extension url", replace(`url = "~/dev/foo"`, `url = "~/dev/foo2"`), nil, true},
		{"extension edit", replace("edit = true\n", "edit = false\n"), nil, true},
		{"extension isolation", replace("edit = true\n", "edit = true\nisolation = true\n"), nil, true},
		{"extension added", func(s string) string { return s + "\n[[extension]]\nname = \"baz\"\n" }, nil, true},
		{"isolated extension python", replace("python = 2.7", `python = "3.12"`), nil, true},
		{"pip options", replace(`, "--no-cache-dir"]`, `]`), nil, true},
		{"pip env", replace("PIP_TIMEOUT = 30", "PIP_TIMEOUT = 60"), nil, true},
		{"salt", replace(`salt = ""`, `salt = "1763900000"`), nil, true},
		{"shared requires", replace(`requires = ["toml"]`, `requires = ["toml", "pyside2"]`), nil, true},
		{"shared removed", replace("[shared]\nname = \"production\"\nrequires = [\"toml\"]\n", ""), nil, true},
		{"interpreter version", nil, func(m map[string]pyid.ID) {
			m["3"] = pyid.ID{Implementation: "cpython", Version: "3.11.10", Platform: "linux-x86_64"}
		}, true},
		{"interpreter platform", nil, func(m map[string]pyid.ID) {
			m["2.7"] = pyid.ID{Implementation: "cpython", Version: "2.7.18", Platform: "macosx-11.0-arm64"}
		}, true},

		{"description", replace(`description = "golden"`, `description = "silver"`), nil, false},
		{"env", replace(`REZ_CONFIG_FILE = "/studio/rezconfig.py"`, `REZ_CONFIG_FILE = "/elsewhere.py"`), nil, false},
		{"dotenv", replace(`1 = "/studio/linux.env"`, `2 = "/studio/other.env"`), nil, false},
		{"root", replace(`local = "/studio/local"`, `local = false`), nil, false},
		{"init", replace(`script = "/studio/init.py"`, `script = ""`), nil, false},
		{"cache", replace(`url = "/studio/cache"`, `url = "s3://bucket/cache"`), nil, false},
		{"cache trust", replace(`url = "/studio/cache"`, "url = \"/studio/cache\"\ntrusted-keys = [\"studio-1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\"]\nsecret-key-file = \"/k\"\n"), nil, false},
		{"python 3 quoted", replace("python = 3\n", "python = \"3\"\n"), nil, false},
		{"python 2.7 quoted", replace("python = 2.7", `python = "2.7"`), nil, false},
		{"flags default spelled", replace("[rez]\n", "[rez]\nflags = [\"-E\"]\n"), nil, false},
		{"url default spelled", replace("[rez]\n", "[rez]\nname = \"rez\"\n"), nil, false},
		{"non-isolated extension python", replace("edit = true\n", "edit = true\npython = \"3.12\"\n"), nil, false},
		{"empty extension table", func(s string) string { return s + "\n[[extension]]\n" }, nil, false},
		{"pip env style", replace("PIP_TIMEOUT = 30", `PIP_TIMEOUT = "30"`), nil, false},
		{"comments and layout", func(s string) string { return "# a comment\n\n" + strings.ReplaceAll(s, " = ", "=") }, nil, false},
		{"unused interpreter", nil, func(m map[string]pyid.ID) {
			m["3.13"] = pyid.ID{Implementation: "cpython", Version: "3.13.0", Platform: "linux-x86_64"}
		}, false},
	}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	base := sum(mustInputs(t, golden, goldenInterpreters()))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := golden
			if tt.edit != nil {
				if src = tt.edit(golden); src == golden {
					t.Fatal("the edit did not apply")
				}
			}
			interps := goldenInterpreters()
			if tt.interps != nil {
				tt.interps(interps)
			}
			if got := sum(mustInputs(t, src, interps)); (got != base) != tt.changes {
				t.Errorf("key changed = %v, want %v", got != base, tt.changes)
			}
		})
	}
}

func TestBuildInputsInterpreters(t *testing.T) {
	r, _, err := Parse("rezup.toml", []byte(golden))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.PythonSpecs(), []string{"2.7", "3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("PythonSpecs = %q, want %q", got, want)
	}
	interps := goldenInterpreters()
	delete(interps, "2.7")
	if _, err := BuildInputs(r, interps); err == nil || !strings.Contains(err.Error(), `python "2.7"`) {
		t.Errorf("missing interpreter: %v", err)
	}
	if got := Default().PythonSpecs(); !reflect.DeepEqual(got, []string{""}) {
		t.Errorf("default PythonSpecs = %q", got)
	}
	if _, err := BuildInputs(Default(), nil); err == nil || !strings.Contains(err.Error(), "default python") {
		t.Errorf("missing default interpreter: %v", err)
	}
	if _, err := BuildInputs(nil, nil); err == nil {
		t.Error("nil recipe: no error")
	}
}

// A Recipe built in code, without Parse, gets the same defaults.
func TestBuildInputsHandBuilt(t *testing.T) {
	interps := map[string]pyid.ID{"": {Implementation: "cpython", Version: "3.11.9", Platform: "linux-x86_64"}}
	parsed, err := BuildInputs(Default(), interps)
	if err != nil {
		t.Fatal(err)
	}
	hand := &Recipe{
		Pip: Pip{Options: []string{"--disable-pip-version-check"}},
		Rez: Tool{Name: "rez", URL: "rez>=2.83"},
	}
	got, err := BuildInputs(hand, interps)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, parsed) {
		t.Errorf("hand-built\n%s\nparsed\n%s", got, parsed)
	}
}
