package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// A build with files deleted from it is reported at launch with the
// command that repairs it, and `pull --repair` makes it whole again.
func TestDamagedBuildIsRepaired(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "--skip-use")
	root := filepath.Join(s.Home, ".rezup")
	keys := storeEntries(t, root)
	if len(keys) != 1 {
		t.Fatalf("store entries: %v", keys)
	}
	key := keys[0]
	venv := filepath.Join(root, ".store", key, "venv", "rez", "bin")

	for _, tc := range []struct {
		remove  string // under the rez venv's bin
		problem string
	}{
		{filepath.Join("rez", "rez-env"), "venv/rez/bin/rez/rez-env is missing"},
		{"python", "venv/rez/bin/python is missing"},
		{"rez", "venv/rez/bin/rez is missing"},
	} {
		t.Run(tc.remove, func(t *testing.T) {
			if err := os.RemoveAll(filepath.Join(venv, tc.remove)); err != nil {
				t.Fatal(err)
			}
			want := "build " + key + " of .main is damaged (" + tc.problem + "): run `rezup pull .main --repair`"
			res := s.Run("use", "--", "rez-env")
			if res.Code != 1 || !strings.Contains(res.Stderr, want) {
				t.Fatalf("use on a damaged build: exit %d, want 1 and %q in\n%s", res.Code, want, res.Stderr)
			}
			if res := s.Run("pull"); res.Code != 1 || !strings.Contains(res.Stderr, want) {
				t.Fatalf("pull on a damaged build: exit %d, want 1 and %q in\n%s", res.Code, want, res.Stderr)
			}
			s.MustRun("pull", "--repair")
			if _, err := os.Stat(filepath.Join(venv, tc.remove)); err != nil {
				t.Fatalf("after repair: %v", err)
			}
			r := rezReport(t, s.MustRun("use", "--", "rez-env").Stdout)
			if !strings.HasPrefix(r.Script, filepath.Join(root, ".store", key)) {
				t.Errorf("after repair ran %s, want the build %s", r.Script, key)
			}
			// .tmp/pip is the unpacked bundled pip builds share: not a
			// leftover.
			tmp, _ := os.ReadDir(filepath.Join(root, ".tmp"))
			tmp = slices.DeleteFunc(tmp, func(e os.DirEntry) bool { return e.Name() == "pip" })
			if len(tmp) != 0 {
				t.Errorf("the damaged build was left in .tmp: %v", tmp)
			}
		})
	}
}
