package launch

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/envlist"
)

func TestInteractiveArgvAndEnv(t *testing.T) {
	o := Options{Container: "dev", Remote: true}
	tests := []struct {
		shell   string
		environ []string
		argv    []string // "" matches any element (generated arguments)
		env     map[string]string
	}{
		{"/usr/bin/fish", nil, []string{"/usr/bin/fish", "--init-command", "", "-i"}, map[string]string{"REZUP_PROMPT": "rezup (dev/remote) "}},
		{"/opt/pwsh/pwsh", nil, []string{"/opt/pwsh/pwsh", "-NoLogo", "-NoExit", "-Command", ""}, nil},
		{`C:\Windows\system32\cmd.exe`, []string{"REZUP_PROMPT=$ rez{linebreak}"}, []string{`C:\Windows\system32\cmd.exe`},
			map[string]string{"PROMPT": "$$ rez$_$P$G", "REZUP_PROMPT": "$ rez\n"}},
		{"/bin/dash", []string{"PS1=% "}, []string{"/bin/dash", "-i"}, map[string]string{"PS1": "rezup (dev/remote) % "}},
		{"/bin/tcsh", nil, []string{"/bin/tcsh", "-i"}, map[string]string{"PS1": "rezup (dev/remote) $ "}},
		{"/usr/local/bin/nu", nil, []string{"/usr/local/bin/nu"}, map[string]string{"REZUP_PROMPT": "rezup (dev/remote) "}},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			argv, env, cleanup, err := Interactive(tt.shell, tt.environ, o)
			if err != nil {
				t.Fatal(err)
			}
			cleanup()
			if len(argv) != len(tt.argv) {
				t.Fatalf("argv = %q, want %q", argv, tt.argv)
			}
			for i, a := range tt.argv {
				if a != "" && argv[i] != a {
					t.Fatalf("argv = %q, want %q", argv, tt.argv)
				}
			}
			m := envMap(t, env)
			for k, v := range tt.env {
				if m[k] != v {
					t.Errorf("%s = %q, want %q", k, m[k], v)
				}
			}
		})
	}
}

func TestInteractiveCleanupRemovesTheShim(t *testing.T) {
	for _, sh := range []string{"/bin/bash", "/bin/zsh"} {
		argv, env, cleanup, err := Interactive(sh, []string{"HOME=/nonexistent"}, Options{Container: ".main"})
		if err != nil {
			t.Fatal(err)
		}
		dir := shimDir(t, argv, env)
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("%s: shim dir missing before cleanup: %v", sh, err)
		}
		cleanup()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("%s: shim dir %s left after cleanup: %v", sh, dir, err)
		}
	}
}

// shimDir is the temp dir Interactive generated for bash or zsh.
func shimDir(t *testing.T, argv, env []string) string {
	t.Helper()
	if i := slices.Index(argv, "--rcfile"); i >= 0 {
		return argv[i+1][:strings.LastIndexAny(argv[i+1], `/\`)]
	}
	if d, ok := envlist.Lookup(env, "ZDOTDIR"); ok {
		return d
	}
	t.Fatalf("no shim in argv %q", argv)
	return ""
}
