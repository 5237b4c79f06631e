//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// readmeCompletion is the README's completion block, by shell: the lines
// under each "# SHELL…" comment.
func readmeCompletion(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)Tab completion of commands.*?```sh\n(.*?)```").FindSubmatch(b)
	if block == nil {
		t.Fatal("README has no completion block")
	}
	out := map[string]string{}
	shell := ""
	for _, l := range strings.Split(string(block[1]), "\n") {
		if name, ok := strings.CutPrefix(l, "# "); ok {
			shell, _, _ = strings.Cut(name, ":")
			continue
		}
		if shell != "" && strings.TrimSpace(l) != "" {
			out[shell] += l + "\n"
		}
	}
	return out
}

// The README's completion instructions work as written, for an ordinary
// account (nobody) in a fresh HOME, in bash, zsh and fish: the next shell
// completes `rezup sta` to status.
func TestCompletionAsWritten(t *testing.T) {
	t.Parallel()
	steps := readmeCompletion(t)
	bin := testkit.Binary(t, "github.com/rezup/rezup/cmd/rezup")
	asRoot := os.Geteuid() == 0
	if asRoot {
		testkit.RequireTool(t, "setpriv")
	}
	for _, tc := range []struct {
		shell string
		check []string // run by the shell, after the setup; must print status
		want  string
	}{
		{"bash", []string{"bash", "-i", "-c", `COMP_WORDS=(rezup sta); COMP_CWORD=1; COMP_LINE="rezup sta"; COMP_POINT=${#COMP_LINE}; f=$(complete -p rezup | sed -E 's/.*-F ([^ ]+).*/\1/'); "$f" rezup sta rezup; printf '%s\n' "${COMPREPLY[@]}"`}, "status"},
		{"zsh", []string{"zsh", "-i", "-c", `print -r -- ${_comps[rezup]}`}, "_rezup"},
		{"fish", []string{"fish", "-c", `complete -C "rezup sta"`}, "status"},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			t.Parallel()
			testkit.RequireTool(t, tc.check[0])
			if tc.shell == "bash" {
				if _, err := os.Stat("/usr/share/bash-completion/bash_completion"); err != nil {
					t.Fatalf("bash completion needs the bash-completion package (apt-get install -y bash-completion): %v", err)
				}
			}
			setup, ok := steps[tc.shell]
			if !ok {
				t.Fatalf("README has no %s instructions: %v", tc.shell, steps)
			}
			// A fresh HOME of the account's, and rezup on its PATH, in a
			// directory it may read.
			base, err := os.MkdirTemp("", "rezup-completion-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(base) })
			if err := os.Chmod(base, 0o755); err != nil { // the account must reach its HOME
				t.Fatal(err)
			}
			home := filepath.Join(base, "home")
			binDir := filepath.Join(home, "bin")
			if err := os.MkdirAll(binDir, 0o755); err != nil {
				t.Fatal(err)
			}
			copyFile(t, bin, filepath.Join(binDir, "rezup"), 0o755)
			env := []string{"HOME=" + home, "PATH=" + binDir + ":/usr/local/bin:/usr/bin:/bin", "TERM=dumb", "REZUP_NO_UPGRADE=1", "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}
			run := func(argv ...string) string {
				t.Helper()
				if asRoot {
					argv = testkit.Nobody.Command(argv...)
				}
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Env, cmd.Dir = env, home
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%v: %v\n%s", argv, err, out)
				}
				return string(out)
			}
			if asRoot {
				if err := filepath.Walk(home, func(p string, _ os.FileInfo, err error) error {
					if err == nil {
						err = os.Lchown(p, testkit.Nobody.UID, testkit.Nobody.GID)
					}
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			run("sh", "-c", setup)
			if out := run(tc.check...); !strings.Contains(out, tc.want) {
				t.Errorf("%s after the README's setup does not complete `rezup sta`:\n%s\nsetup:\n%s", tc.shell, out, setup)
			}
		})
	}
}
