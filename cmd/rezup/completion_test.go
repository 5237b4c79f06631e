package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

func TestCompletion(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t)
	s.WriteFile("rezup.toml", "")
	s.WriteFile("rezup.dev.toml", "")
	s.WriteFile("rezup.bad name.toml", "") // not a container name: left out
	if err := os.MkdirAll(filepath.Join(s.Home, ".rezup", "farm", "revisions"), 0o755); err != nil {
		t.Fatal(err)
	}
	remote := t.TempDir()
	if err := os.MkdirAll(filepath.Join(remote, "published", "revisions"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.Env["REZUP_ROOT_REMOTE"] = remote

	t.Run("container names", func(t *testing.T) {
		for _, sub := range []string{"use", "add", "status", "drop", "env", "resolve", "pull", "diff"} {
			res := s.MustRun("__complete", sub, "")
			names := strings.Fields(strings.Split(res.Stdout, ":")[0])
			if strings.Join(names, " ") != ".main dev farm published" {
				t.Errorf("%s: completes %q, want .main dev farm published\n%s", sub, names, res.Stdout)
			}
		}
		if res := s.MustRun("__complete", "use", "d"); !strings.HasPrefix(res.Stdout, "dev\n:4\n") {
			t.Errorf("use d: %q", res.Stdout)
		}
		// After the name, and after --, no names.
		if res := s.MustRun("__complete", "use", "dev", ""); strings.Contains(res.Stdout, "dev\n") {
			t.Errorf("a second name completes: %q", res.Stdout)
		}
		if res := s.MustRun("__complete", "use", "--", ""); strings.Contains(res.Stdout, "dev\n") || !strings.Contains(res.Stdout, ":0\n") {
			t.Errorf("after --: %q, want the shell's default completion", res.Stdout)
		}
	})

	t.Run("scripts", func(t *testing.T) {
		checks := map[string][]string{
			"bash": {"bash", "-n"},
			"zsh":  {"zsh", "-n"},
			"fish": {"fish", "--no-execute"},
		}
		for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
			res := s.MustRun("completion", shell)
			if !strings.Contains(res.Stdout, "__complete") {
				t.Errorf("%s: not a completion script:\n%.300s", shell, res.Stdout)
			}
			check, ok := checks[shell]
			if !ok {
				continue // no PowerShell here to parse it
			}
			testkit.RequireTool(t, check[0])
			file := filepath.Join(t.TempDir(), "rezup."+shell)
			if err := os.WriteFile(file, []byte(res.Stdout), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(check[0], append(check[1:], file)...).CombinedOutput(); err != nil {
				t.Errorf("%s does not parse the script: %v\n%s", shell, err, out)
			}
		}
		if res := s.Run("completion", "tcsh"); res.Code != 2 {
			t.Errorf("completion tcsh: exit %d\n%s", res.Code, res.Stderr)
		}
	})
}
