package launch

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/envlist"
	"github.com/rezup/rezup/recipe"
)

// envMap turns an environment into a map, failing on a duplicate key.
func envMap(t *testing.T, env []string) map[string]string {
	t.Helper()
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("entry without '=': %q", kv)
		}
		if _, dup := m[k]; dup {
			t.Fatalf("duplicate key %s in %q", k, env)
		}
		m[k] = v
	}
	return m
}

func writeFile(t *testing.T, path, text string, mode fs.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEnviron(t *testing.T) {
	dir := t.TempDir()
	f := func(name, text string) string { return writeFile(t, filepath.Join(dir, name), text, 0o644) }
	sep := string(os.PathListSeparator)
	base := []string{"ORDER=caller", "CALLER=c", "KEEP=k", "KEEP=last", "PATH=/usr/bin"}

	tests := []struct {
		name string
		opts Options
		want map[string]string // the keys to check
	}{
		{
			// Each file sees the caller's environment and its own
			// bindings only, as python-dotenv reads it; [env] sees the
			// caller's and its own.
			name: "dotenv shared sorted, then platform sorted, then env",
			opts: Options{
				Container: ".main",
				GOOS:      "linux",
				Recipe: &recipe.Recipe{Dotenv: recipe.Dotenv{
					Shared: map[string]string{"b": f("b.env", "LAST=b\nB=${A:-not-a}\nORDER=${ORDER},b\n"), "a": f("a.env", "LAST=a\nA=a\n")},
					Platform: map[string]map[string]string{
						"linux":  {"z": f("z.env", "LAST=z\n"), "c": f("c.env", "LAST=c\nC=${LAST}\n")},
						"darwin": {"a": filepath.Join(dir, "not-read-on-linux.env")},
					},
				}, Env: []recipe.EnvVar{{Name: "ORDER", Value: "${ORDER},env"}, {Name: "E", Value: "${B:-no-b}"}}},
			},
			want: map[string]string{"LAST": "z", "A": "a", "B": "not-a", "C": "c", "ORDER": "caller,env", "E": "no-b", "KEEP": "last"},
		},
		{
			name: "env overrides dotenv, interpolates in file order, without the files",
			opts: Options{
				GOOS: "linux",
				Recipe: &recipe.Recipe{
					Dotenv: recipe.Dotenv{Shared: map[string]string{"site": f("site.env", strings.Join([]string{
						"X=dot",
						"LIT='${CALLER}'",
						`DQ="${CALLER}-${X}"`,
						"U=${UNSET:-dflt} ${CALLER:-no}",
						"RAW=$CALLER",
					}, "\n"))}},
					Env: []recipe.EnvVar{{Name: "A", Value: "${X:-no-x}-before-x-in-env"}, {Name: "X", Value: "env"}, {Name: "Y", Value: "${X}-y"}},
				},
			},
			want: map[string]string{
				"X": "env", "Y": "env-y", "A": "no-x-before-x-in-env",
				"LIT": "c", "DQ": "c-dot", "U": "dflt c", "RAW": "$CALLER",
			},
		},
		{
			name: "rezup variables, local",
			opts: Options{Container: "dev"},
			want: map[string]string{"REZUP_CONTAINER": "dev", "REZUP_USING_REMOTE": "", "PATH": "/usr/bin"},
		},
		{
			name: "rezup variables, remote, override the caller's",
			opts: Options{Container: ".main", Remote: true, Environ: []string{"REZUP_USING_REMOTE=no"}},
			want: map[string]string{"REZUP_CONTAINER": ".main", "REZUP_USING_REMOTE": "yes"},
		},
		{
			name: "bin dirs prepended to PATH, after [env] changed it",
			opts: Options{
				BinDirs: []string{"/s/venv/rez/bin/rez", "/s/venv/ext/bin/rez"},
				Recipe:  &recipe.Recipe{Env: []recipe.EnvVar{{Name: "PATH", Value: "/opt/tools/bin" + sep + "${PATH}"}}},
			},
			want: map[string]string{"PATH": strings.Join([]string{"/s/venv/rez/bin/rez", "/s/venv/ext/bin/rez", "/opt/tools/bin", "/usr/bin"}, sep)},
		},
		{
			name: "no PATH to prepend to: no trailing separator",
			opts: Options{BinDirs: []string{"/b"}, Environ: []string{"HOME=/h"}},
			want: map[string]string{"PATH": "/b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.Environ == nil {
				tt.opts.Environ = base
			}
			got, warns, err := Environ(tt.opts)
			if err != nil || warns != nil {
				t.Fatal(err, warns)
			}
			m := envMap(t, got)
			for k, v := range tt.want {
				if m[k] != v {
					t.Errorf("%s = %q, want %q", k, m[k], v)
				}
			}
		})
	}
}

func TestEnvironKeepsCallerOrder(t *testing.T) {
	got, _, err := Environ(Options{Container: "c", Environ: []string{"B=1", "A=2", "B=3", "junk"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"B=3", "A=2", "REZUP_CONTAINER=c", "REZUP_USING_REMOTE="}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestEnvironDotenvErrors(t *testing.T) {
	dir := t.TempDir()
	broken := writeFile(t, filepath.Join(dir, "broken.env"), "A=1\nB=\"open\n", 0o644)
	tests := []struct {
		name  string
		dot   recipe.Dotenv
		wants []string
	}{
		{
			name:  "syntax error",
			dot:   recipe.Dotenv{Shared: map[string]string{"site": broken}},
			wants: []string{"[dotenv] site", "/r/rezup.toml", broken + ":2: unterminated double-quoted value"},
		},
		{
			name:  "a directory",
			dot:   recipe.Dotenv{Platform: map[string]map[string]string{"linux": {"studio": dir}}},
			wants: []string{"[dotenv.linux] studio", dir},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Environ(Options{GOOS: "linux", Recipe: &recipe.Recipe{File: "/r/rezup.toml", Dotenv: tt.dot}})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// A missing dotenv file is skipped, as the Python rezup skipped it, with
// one warning naming it; the files around it still apply.
func TestEnvironMissingDotenvWarns(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.env")
	site := writeFile(t, filepath.Join(dir, "site.env"), "A=site\nB=site\n", 0o644)
	linux := writeFile(t, filepath.Join(dir, "linux.env"), "B=linux\n", 0o644)
	tests := []struct {
		name  string
		dot   recipe.Dotenv
		warns []string
		want  map[string]string
	}{
		{
			name:  "missing shared file",
			dot:   recipe.Dotenv{Shared: map[string]string{"1": site, "2": missing}, Platform: map[string]map[string]string{"linux": {"a": linux}}},
			warns: []string{"skipped [dotenv] 2 of /r/rezup.toml: no file " + missing},
			want:  map[string]string{"A": "site", "B": "linux", "E": "env"},
		},
		{
			name:  "missing platform file",
			dot:   recipe.Dotenv{Shared: map[string]string{"1": site}, Platform: map[string]map[string]string{"linux": {"a": missing, "b": linux}}},
			warns: []string{"skipped [dotenv.linux] a of /r/rezup.toml: no file " + missing},
			want:  map[string]string{"A": "site", "B": "linux", "E": "env"},
		},
		{
			name: "two missing files",
			dot:  recipe.Dotenv{Shared: map[string]string{"1": missing, "2": missing + "2"}},
			warns: []string{
				"skipped [dotenv] 1 of /r/rezup.toml: no file " + missing,
				"skipped [dotenv] 2 of /r/rezup.toml: no file " + missing + "2",
			},
			want: map[string]string{"E": "env"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recipe.Recipe{File: "/r/rezup.toml", Dotenv: tt.dot, Env: []recipe.EnvVar{{Name: "E", Value: "env"}}}
			got, warns, err := Environ(Options{GOOS: "linux", Container: "c", Recipe: r})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(warns, tt.warns) {
				t.Errorf("warnings %q, want %q", warns, tt.warns)
			}
			m := envMap(t, got)
			for k, v := range tt.want {
				if m[k] != v {
					t.Errorf("%s = %q, want %q", k, m[k], v)
				}
			}
			if m["REZUP_CONTAINER"] != "c" {
				t.Errorf("REZUP_CONTAINER = %q", m["REZUP_CONTAINER"])
			}
		})
	}
}

func TestCheckNested(t *testing.T) {
	tests := []struct {
		environ []string
		want    string
	}{
		{nil, ""},
		{[]string{"REZUP_CONTAINER="}, ""},
		{[]string{"REZUP_CONTAINER=.main"}, "already inside rezup container .main"},
		{[]string{"REZUP_CONTAINER=dev", "OTHER=1"}, "already inside rezup container dev"},
	}
	for _, tt := range tests {
		err := CheckNested(tt.environ)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckNested(%q) = %v, want nil", tt.environ, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || !errors.Is(err, ErrNested)):
			t.Errorf("CheckNested(%q) = %v, want %q wrapping ErrNested", tt.environ, err, tt.want)
		}
	}
}

func TestPrompt(t *testing.T) {
	tests := []struct {
		container string
		remote    bool
		environ   []string
		want      string
	}{
		{".main", false, nil, "rezup (.main/local) "},
		{"dev", true, []string{"PS1=$ "}, "rezup (dev/remote) "},
		{"dev", true, []string{"REZUP_PROMPT=[rez] "}, "[rez] "},
		{"dev", false, []string{"REZUP_PROMPT=rezup{linebreak}> "}, "rezup\n> "},
		{"dev", false, []string{"REZUP_PROMPT="}, ""},
	}
	for _, tt := range tests {
		if got := Prompt(tt.container, tt.remote, tt.environ); got != tt.want {
			t.Errorf("Prompt(%q, %v, %q) = %q, want %q", tt.container, tt.remote, tt.environ, got, tt.want)
		}
	}
}

func TestLookPathFindsProductionBinFirst(t *testing.T) {
	dir := t.TempDir()
	prod := filepath.Join(dir, "store", "venv", "rez", "bin", "rez")
	user := filepath.Join(dir, "usr", "bin")
	script := "#!/bin/sh\necho hi\n"
	want := writeFile(t, filepath.Join(prod, "rez-env"), script, 0o755)
	writeFile(t, filepath.Join(user, "rez-env"), script, 0o755)
	writeFile(t, filepath.Join(user, "only-user"), script, 0o755)
	writeFile(t, filepath.Join(prod, "not-exec"), script, 0o644)
	writeFile(t, filepath.Join(user, "not-exec"), script, 0o755)

	env, _, err := Environ(Options{BinDirs: []string{prod}, Environ: []string{"PATH=relative" + string(os.PathListSeparator) + user}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ file, want string }{
		{"rez-env", want},
		{"only-user", filepath.Join(user, "only-user")},
		{"not-exec", filepath.Join(user, "not-exec")},
		{want, want},
	}
	for _, tt := range tests {
		got, err := envlist.LookPath(tt.file, env)
		if err != nil || got != tt.want {
			t.Errorf("envlist.LookPath(%q) = %q, %v; want %q", tt.file, got, err, tt.want)
		}
	}

	_, err = envlist.LookPath("no-such-command", env)
	if !errors.Is(err, envlist.ErrNotFound) || err.Error() != `command "no-such-command" not found on PATH` {
		t.Errorf("err = %v, want not found on PATH", err)
	}
	_, err = envlist.LookPath(filepath.Join(dir, "nope"), env)
	if !errors.Is(err, envlist.ErrNotFound) {
		t.Errorf("err = %v, want envlist.ErrNotFound", err)
	}
	_, err = envlist.LookPath(filepath.Join(prod, "not-exec"), env)
	if !errors.Is(err, envlist.ErrNotExecutable) {
		t.Errorf("err = %v, want envlist.ErrNotExecutable", err)
	}
}

func TestShell(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	myshell := writeFile(t, filepath.Join(bin, "myshell"), "#!/bin/sh\n", 0o755)
	path := "PATH=" + bin
	noParent := func([]string) (string, bool) { return "", false }
	parent := func([]string) (string, bool) { return "/parent/zsh", true }

	tests := []struct {
		name    string
		environ []string
		parent  func([]string) (string, bool)
		want    string
		err     string
	}{
		{"REZUP_DEFAULT_SHELL name on PATH", []string{path, "REZUP_DEFAULT_SHELL=myshell", "SHELL=/bin/false"}, parent, myshell, ""},
		{"REZUP_DEFAULT_SHELL path", []string{"REZUP_DEFAULT_SHELL=" + myshell}, parent, myshell, ""},
		{"REZUP_DEFAULT_SHELL missing", []string{path, "REZUP_DEFAULT_SHELL=nosh"}, parent, "", `REZUP_DEFAULT_SHELL: command "nosh" not found on PATH`},
		{"parent shell before SHELL", []string{"SHELL=" + myshell}, parent, "/parent/zsh", ""},
		{"SHELL fallback", []string{"SHELL=" + myshell}, noParent, myshell, ""},
		{"SHELL name", []string{path, "SHELL=myshell"}, noParent, myshell, ""},
		{"SHELL broken", []string{"SHELL=" + filepath.Join(dir, "gone")}, noParent, "", "SHELL: command"},
		{"nothing set", nil, noParent, "/bin/sh", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pickShell(tt.environ, tt.parent)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}

	// The exported Shell honours REZUP_DEFAULT_SHELL before anything else.
	got, err := Shell([]string{path, "REZUP_DEFAULT_SHELL=myshell"})
	if err != nil || got != myshell {
		t.Errorf("Shell = %q, %v; want %q", got, err, myshell)
	}
}

func TestShellKind(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/bash":  "bash",
		"-zsh":           "zsh",
		"fish":           "fish",
		`C:\PS\PwSh.exe`: "pwsh",
		"/bin/sh":        "sh",
	} {
		if got := shellKind(in); got != want {
			t.Errorf("shellKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkEnviron(b *testing.B) {
	environ := append([]string(nil), os.Environ()...)
	o := Options{
		Container: ".main",
		BinDirs:   []string{"/s/venv/rez/bin/rez", "/s/venv/ext/bin/rez"},
		Recipe:    &recipe.Recipe{Env: []recipe.EnvVar{{Name: "REZ_CONFIG_FILE", Value: "${HOME}/rezconfig.py"}, {Name: "A", Value: "1"}}},
		Environ:   environ,
	}
	for b.Loop() {
		if _, _, err := Environ(o); err != nil {
			b.Fatal(err)
		}
	}
}
