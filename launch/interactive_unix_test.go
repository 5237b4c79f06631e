//go:build unix

package launch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/envlist"
)

// runShell runs an Interactive shell with the commands on stdin, checks
// that the shim dir is gone afterwards, and returns stdout.
func runShell(t *testing.T, shell string, environ []string, stdin string) string {
	t.Helper()
	argv, env, cleanup, err := Interactive(shell, environ, Options{Container: ".main"})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Dir = t.TempDir()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%q: %v\nstderr: %s", argv, err, stderr.String())
	}
	if kind := shellKind(shell); kind == "bash" || kind == "zsh" {
		dir := shimDir(t, argv, env)
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("shim dir %s still there after the shell ran (%v)", dir, err)
		}
	}
	return string(out)
}

func shellOrFatal(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test: %v", name, err)
	}
	return p
}

// shellOrFail is for the shells that are not on every Unix machine:
// .ci/run installs them; a machine without them fails, naming them.
func shellOrFail(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed by this test: apt-get install -y %s", name, name)
	}
	return p
}

func pathEnv() string {
	p, _ := envlist.Lookup(os.Environ(), "PATH")
	return "PATH=" + p
}

func TestInteractiveBash(t *testing.T) {
	bash := shellOrFatal(t, "bash")
	tests := []struct {
		name   string
		bashrc string // "" means none
		want   []string
	}{
		{"sources ~/.bashrc then prefixes PS1", "PS1='mine$ '; MARK=sourced\n",
			[]string{"PS1=[rezup (.main/local) mine$ ]", "MARK=sourced"}},
		{"keeps the prefix when PROMPT_COMMAND rebuilds PS1", "PROMPT_COMMAND='PS1=\"rebuilt$ \"'\n",
			[]string{"PS1=[rezup (.main/local) rebuilt$ ]"}},
		{"no ~/.bashrc", "", []string{"PS1=[rezup (.main/local) "}},
		{"~/.bashrc that exits still removes the shim", "exit 0\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			if tt.bashrc != "" {
				writeFile(t, filepath.Join(home, ".bashrc"), tt.bashrc, 0o644)
			}
			out := runShell(t, bash, []string{"HOME=" + home, pathEnv()},
				"echo \"PS1=[$PS1]\"; echo \"MARK=$MARK\"; exit\n")
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
		})
	}
}

func TestInteractiveZsh(t *testing.T) {
	zsh := shellOrFail(t, "zsh")
	tests := []struct {
		name  string
		files map[string]string // relative to HOME
		extra []string          // environ
		want  []string
	}{
		{"sources ~/.zshenv and ~/.zshrc, ZDOTDIR stays unset",
			map[string]string{".zshenv": "ENVMARK=env\n", ".zshrc": "PROMPT='mine%% '; MARK=rc\n"}, nil,
			[]string{"PROMPT=[rezup (.main/local) mine%% ]", "MARK=rc env", "ZDOTDIR=unset"}},
		{"the user's ZDOTDIR",
			map[string]string{"zdot/.zshenv": "ENVMARK=env\n", "zdot/.zshrc": "PROMPT='z%% '; MARK=rc\n"}, []string{"ZDOTDIR=HOME/zdot"},
			[]string{"PROMPT=[rezup (.main/local) z%% ]", "MARK=rc env", "ZDOTDIR=HOME/zdot"}},
		{"a ~/.zshenv that sets ZDOTDIR",
			map[string]string{".zshenv": "export ZDOTDIR=$HOME/cfg; ENVMARK=env\n", "cfg/.zshrc": "PROMPT='cfg%% '; MARK=rc\n"}, nil,
			[]string{"PROMPT=[rezup (.main/local) cfg%% ]", "MARK=rc env", "ZDOTDIR=HOME/cfg"}},
		{"precmd keeps the prefix",
			map[string]string{".zshrc": "autoload -Uz add-zsh-hook; reset() { PROMPT='reset%% ' }; add-zsh-hook precmd reset\n"}, nil,
			[]string{"PROMPT=[rezup (.main/local) reset%% ]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			for name, text := range tt.files {
				writeFile(t, filepath.Join(home, name), text, 0o644)
			}
			environ := []string{"HOME=" + home, pathEnv()}
			for _, e := range tt.extra {
				environ = append(environ, strings.ReplaceAll(e, "HOME", home))
			}
			out := runShell(t, zsh, environ,
				"print -r -- \"PROMPT=[$PROMPT]\"; print -r -- \"MARK=$MARK $ENVMARK\"; print -r -- \"ZDOTDIR=${ZDOTDIR-unset}\"; exit\n")
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "HOME", home); !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
		})
	}
}

func TestInteractiveFish(t *testing.T) {
	fish := shellOrFail(t, "fish")
	home := t.TempDir()
	writeFile(t, filepath.Join(home, ".config", "fish", "config.fish"),
		"function fish_prompt; printf 'mine[%s]> ' $status; end\n", 0o644)
	out := runShell(t, fish, []string{"HOME=" + home, pathEnv()},
		"false; echo \"P=[\"(fish_prompt)\"]\"; exit\n")
	if want := "P=[rezup (.main/local) mine[1]> ]"; !strings.Contains(out, want) {
		t.Errorf("output %q lacks %q", out, want)
	}
}
