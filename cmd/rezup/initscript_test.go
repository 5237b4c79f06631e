package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// The scenario: ~/rezup.toml's [init] script sets FROM_INIT=yes,
// and the command rezup runs sees it.
func TestInitScriptSh(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	s.WriteFile("init.sh", "FROM_INIT=yes\nexport FROM_INIT\necho 'init ran' \n")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, "[init]\nscript = \"init.sh\"\n"))
	res := s.MustRun("use", "--", "sh", "-c", "echo $FROM_INIT")
	if res.Stdout != "yes\n" {
		t.Errorf("stdout = %q, want yes (the script's own output goes to stderr)\nstderr:\n%s", res.Stdout, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "init ran") {
		t.Errorf("the script's output is not on stderr:\n%s", res.Stderr)
	}
	// rezup env prints what the script changed too: it is part of the
	// launch environment, and not of the caller's.
	if out := s.MustRun("env").Stdout; !strings.Contains(out, "export FROM_INIT='yes';") {
		t.Errorf("env does not show FROM_INIT:\n%s", out)
	}
}

// A .py script runs before the roots are resolved: it can move the local
// root, as a studio's load_dotenv does.
func TestInitScriptPyMovesRoot(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, "site-root")
	s.WriteFile("site/init.py", "import os\nos.environ['REZUP_ROOT_LOCAL'] = "+pyString(root)+"\nos.environ['FROM_INIT'] = os.path.basename(__file__)\n")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, "[init]\nscript = \"~/site/init.py\"\n"))
	r := rezReport(t, s.MustRun("use", "--", "rez").Stdout)
	if r.Env["REZUP_CONTAINER"] != ".main" {
		t.Fatalf("report: %+v", r)
	}
	if keys := storeEntries(t, root); len(keys) != 1 {
		t.Errorf("the build is not in the root the script set: %v", keys)
	}
	if _, err := os.Stat(filepath.Join(s.Home, ".rezup")); !os.IsNotExist(err) {
		t.Errorf("~/.rezup was used although the script moved the root (%v)", err)
	}
	out := s.MustRun("use", "--", "sh", "-c", "echo $FROM_INIT").Stdout
	if out != "init.py\n" {
		t.Errorf("FROM_INIT = %q", out)
	}
}

func TestInitScriptFailureStops(t *testing.T) {
	t.Parallel()
	s, wh := newUser(t)
	s.WriteFile("init.py", "import sys\nsys.stderr.write('site license server is down\\n')\nsys.exit(3)\n")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, "[init]\nscript = \"init.py\"\n"))
	for _, args := range [][]string{{"use", "--", "true"}, {"status"}, {"env"}} {
		res := s.Run(args...)
		if res.Code != 1 {
			t.Errorf("%v: exit %d, want 1\n%s", args, res.Code, res.Stderr)
		}
		if !strings.Contains(res.Stderr, "site license server is down") || !strings.Contains(res.Stderr, "rezup: error: site-customize script failed") {
			t.Errorf("%v: stderr does not show the script's error:\n%s", args, res.Stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(s.Home, ".rezup")); !os.IsNotExist(err) {
		t.Errorf("a failed init script still let rezup build (%v)", err)
	}
	// Help and version stay usable.
	s.MustRun("--version")
	s.MustRun("use", "--help")
}

// A script that raises shows the exception after the error, and its
// traceback only with -D.
func TestInitScriptTracebackOnlyWithDebug(t *testing.T) {
	t.Parallel()
	s, wh := newUser(t)
	s.WriteFile("init.py", "def connect():\n    raise ConnectionError('site license server is down')\n\nconnect()\n")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, "[init]\nscript = \"init.py\"\n"))
	res := s.Run("status")
	lines := strings.Split(strings.TrimSuffix(res.Stderr, "\n"), "\n")
	if res.Code != 1 || len(lines) != 4 || !strings.HasPrefix(lines[0], "rezup: error: site-customize script failed") ||
		!strings.HasPrefix(lines[1], "rezup: hint: fix the script") ||
		lines[2] != "    ConnectionError: site license server is down" || !strings.HasSuffix(lines[3], "more lines; run with -D to see all)") {
		t.Errorf("exit %d, want 1 and the error, the hint, the exception and a pointer to -D:\n%s", res.Code, res.Stderr)
	}
	res = s.Run("-D", "status")
	if res.Code != 1 || !strings.Contains(res.Stderr, "\n    Traceback (most recent call last):\n") || !strings.Contains(res.Stderr, ", in connect\n") {
		t.Errorf("-D: exit %d, want 1 and the whole traceback:\n%s", res.Code, res.Stderr)
	}
}

func pyString(s string) string { return "'" + strings.ReplaceAll(s, `'`, `\'`) + "'" }
