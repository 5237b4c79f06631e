package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// builtUser is newBuilder with ~/rezup.toml written (extra appended) and
// .main built.
func builtUser(t *testing.T, extra string) *testkit.Session {
	t.Helper()
	s, wh := newBuilder(t)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, extra))
	s.MustRun("add", "--skip-use")
	return s
}

// tricky is a value every shell format must carry through eval unchanged.
const tricky = "it's \"q\" $HOME `tick` \\ ! !! ; & | * ~ \t日本 %PATH% $(x)"

func TestEnvJSON(t *testing.T) {
	t.Parallel()
	s := builtUser(t, "[env]\nTEST_TRICKY = '''"+tricky+"'''\n")
	res := s.MustRun("env", ".main", "--format", "json")
	var vars map[string]string
	if err := json.Unmarshal([]byte(res.Stdout), &vars); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, res.Stdout)
	}
	if vars["REZUP_CONTAINER"] != ".main" {
		t.Errorf("REZUP_CONTAINER = %q, want .main", vars["REZUP_CONTAINER"])
	}
	if vars["TEST_TRICKY"] != tricky {
		t.Errorf("TEST_TRICKY = %q, want %q", vars["TEST_TRICKY"], tricky)
	}
	if vars["HOME"] != s.Home {
		t.Errorf("json is not every variable: HOME = %q", vars["HOME"])
	}
	key := storeEntries(t, filepath.Join(s.Home, ".rezup"))[0]
	bin := filepath.Join(s.Home, ".rezup", ".store", key, "venv", "rez", "bin", "rez")
	if !strings.HasPrefix(vars["PATH"], bin+string(os.PathListSeparator)) {
		t.Errorf("PATH = %q, want it to start with %s", vars["PATH"], bin)
	}
	// The same as what use runs with.
	r := rezReport(t, s.MustRun("use", "--", "rez").Stdout)
	if r.Path0 != bin || *r.RezupContainer != ".main" {
		t.Errorf("use runs with PATH[0] %s, container %v", r.Path0, r.RezupContainer)
	}
}

// TestEnvEval evals every shell format in its shell and reads the
// variables back.
func TestEnvEval(t *testing.T) {
	t.Parallel()
	s := builtUser(t, "[env]\nTEST_TRICKY = '''"+tricky+"'''\nTEST_LINES = \"one\\ntwo 'x'\"\n")
	shells := []struct {
		format, shell string
		argv          func(file string) []string
	}{
		{"sh", "sh", func(f string) []string {
			return []string{"sh", "-c", `eval "$(cat "$1")" && printenv TEST_TRICKY TEST_LINES REZUP_CONTAINER`, "sh", f}
		}},
		{"sh", "bash", func(f string) []string {
			return []string{"bash", "--norc", "-c", `eval "$(cat "$1")" && printenv TEST_TRICKY TEST_LINES REZUP_CONTAINER`, "bash", f}
		}},
		{"sh", "zsh", func(f string) []string {
			return []string{"zsh", "-f", "-c", `eval "$(cat "$1")" && printenv TEST_TRICKY TEST_LINES REZUP_CONTAINER`, "zsh", f}
		}},
		{"fish", "fish", func(f string) []string {
			return []string{"fish", "--no-config", "-c", "source " + f + "; and printenv TEST_TRICKY TEST_LINES REZUP_CONTAINER"}
		}},
		{"csh", "tcsh", func(f string) []string {
			return []string{"tcsh", "-f", "-c", "source " + f + " && printenv TEST_TRICKY && printenv TEST_LINES && printenv REZUP_CONTAINER"}
		}},
		{"csh", "csh", func(f string) []string {
			return []string{"csh", "-f", "-c", "source " + f + " && printenv TEST_TRICKY && printenv TEST_LINES && printenv REZUP_CONTAINER"}
		}},
	}
	want := tricky + "\none\ntwo 'x'\n.main\n"
	for _, sh := range shells {
		t.Run(sh.shell, func(t *testing.T) {
			testkit.RequireTool(t, sh.shell)
			res := s.MustRun("env", "--format", sh.format)
			if strings.Contains(res.Stdout, setLine(sh.format, "HOME", s.Home)) {
				t.Errorf("%s output sets HOME, which did not change:\n%s", sh.format, res.Stdout)
			}
			file := filepath.Join(t.TempDir(), "env."+sh.format)
			if err := os.WriteFile(file, []byte(res.Stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			argv := sh.argv(file)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.Home, "LANG=C.UTF-8"}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v\n%s\nscript:\n%s", sh.shell, err, stderr.String(), res.Stdout)
			}
			if string(out) != want {
				t.Errorf("%s read back\n%q\nwant\n%q\nscript:\n%s", sh.shell, out, want, res.Stdout)
			}
		})
	}

	t.Run("csh eval", func(t *testing.T) {
		// eval "`rezup env --format csh`" joins the lines: the ';' keep
		// them apart. Values with newlines need source.
		testkit.RequireTool(t, "tcsh")
		cmd := exec.Command("tcsh", "-f", "-c", "eval \"`"+s.Bin+" env --format csh`\" && printenv TEST_TRICKY && printenv REZUP_CONTAINER")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.Home, "LANG=C.UTF-8"}
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != tricky+"\n.main\n" {
			t.Errorf("tcsh eval: %v\n%q", err, out)
		}
	})
}

func TestEnvUsage(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t)
	if res := s.Run("env", "--format", "cmd"); res.Code != 2 || !strings.Contains(res.Stderr, "pwsh") {
		t.Errorf("--format cmd: exit %d\n%s", res.Code, res.Stderr)
	}
	if res := s.Run("env", "a", "b"); res.Code != 2 {
		t.Errorf("two names: exit %d\n%s", res.Code, res.Stderr)
	}
	if res := s.Run("env", "nosuch"); res.Code != 1 || !strings.Contains(res.Stderr, "rezup add nosuch") {
		t.Errorf("unknown container: exit %d\n%s", res.Code, res.Stderr)
	}
}

func TestWriteEnvDelta(t *testing.T) {
	t.Parallel()
	base := []string{"HOME=/h", "KEEP=same", "GONE=x", "CHANGED=old", "BASH_FUNC_f%%=() { :; }"}
	env := []string{"HOME=/h", "KEEP=same", "CHANGED=new", "NEW=it's", "BASH_FUNC_g%%=() { :; }"}
	tests := map[string]string{
		"sh":   "export CHANGED='new';\nexport NEW='it'\\''s';\nunset GONE;\n",
		"csh":  "setenv CHANGED 'new';\nsetenv NEW 'it'\\''s';\nunsetenv GONE;\n",
		"fish": "set -gx CHANGED 'new';\nset -gx NEW 'it\\'s';\nset -e GONE;\n",
		"pwsh": "$env:CHANGED = 'new';\n$env:NEW = 'it''s';\nRemove-Item -ErrorAction SilentlyContinue Env:GONE;\n",
	}
	for format, want := range tests {
		var b strings.Builder
		if err := writeEnv(&b, format, base, env); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("%s:\n%s\nwant\n%s", format, b.String(), want)
		}
	}
}

// isEnvName says what the regexp it replaced said.
func TestIsEnvName(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for _, k := range []string{"", "PATH", "_", "_1", "A1", "1A", "BASH_FUNC_x%%", "=C:", "a-b", "é", "a b", "REZUP_CONTAINER"} {
		if got, want := isEnvName(k), re.MatchString(k); got != want {
			t.Errorf("isEnvName(%q) = %v, want %v", k, got, want)
		}
	}
}
