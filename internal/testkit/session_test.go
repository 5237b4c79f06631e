package testkit_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

const envdump = "github.com/rezup/rezup/internal/testkit/testdata/envdump"

type dump struct {
	Dir  string
	Args []string
	Env  map[string]string
}

func TestSession(t *testing.T) {
	t.Setenv("REZUP_ROOT_LOCAL", "/must/not/leak")
	t.Setenv("PIP_INDEX_URL", "http://must.not/leak")
	bin := testkit.Binary(t, envdump)
	if again := testkit.Binary(t, envdump); again != bin {
		t.Errorf("second Binary call built again: %q then %q", bin, again)
	}
	if wd, _ := os.Getwd(); strings.HasPrefix(bin, filepath.Dir(filepath.Dir(wd))) {
		t.Errorf("binary %q was built inside the repository", bin)
	}

	s := testkit.NewSession(t, bin)
	res := s.MustRun("0", "two words")
	var d dump
	if err := json.Unmarshal([]byte(res.Stdout), &d); err != nil {
		t.Fatalf("%v: %s", err, res.Stdout)
	}
	if d.Dir != s.Home || d.Env["HOME"] != s.Home {
		t.Errorf("dir %q, HOME %q, want both %q", d.Dir, d.Env["HOME"], s.Home)
	}
	if len(d.Args) != 2 || d.Args[1] != "two words" {
		t.Errorf("args = %q", d.Args)
	}
	if d.Env["PATH"] != os.Getenv("PATH") {
		t.Errorf("PATH = %q, want the test process's", d.Env["PATH"])
	}
	for k := range d.Env {
		if strings.HasPrefix(k, "REZUP_") || k == "PIP_INDEX_URL" || k == "PIP_FIND_LINKS" {
			t.Errorf("%s leaked into the session", k)
		}
	}
	if res.Stderr != "envdump: stderr\n" {
		t.Errorf("stderr = %q", res.Stderr)
	}

	s.Env["REZUP_TEST"] = "set"
	s.Dir = t.TempDir()
	res = s.Run("3")
	if res.Code != 3 {
		t.Errorf("exit code %d, want 3", res.Code)
	}
	d = dump{}
	if err := json.Unmarshal([]byte(res.Stdout), &d); err != nil {
		t.Fatal(err)
	}
	if d.Env["REZUP_TEST"] != "set" || d.Dir != s.Dir {
		t.Errorf("session edits not applied: env %q, dir %q", d.Env["REZUP_TEST"], d.Dir)
	}

	s.WriteFile("sub/dir/rezup.toml", "x = 1\n")
	if got := mustRead(t, filepath.Join(s.Home, "sub", "dir", "rezup.toml")); string(got) != "x = 1\n" {
		t.Errorf("WriteFile wrote %q", got)
	}

	cmd := s.Start("5")
	err := cmd.Wait()
	if cmd.ProcessState.ExitCode() != 5 || err == nil {
		t.Errorf("background exit %d (%v), want 5", cmd.ProcessState.ExitCode(), err)
	}
	if out := cmd.Stdout.(*testkit.Buffer).String(); !strings.Contains(out, `"args":["5"]`) {
		t.Errorf("background stdout = %q", out)
	}
}
