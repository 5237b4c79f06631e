package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// The bundled pip a build runs is unpacked and compiled once per user, in
// the user's cache ($XDG_CACHE_HOME/rezup/pip), not once per root; where
// that cannot be written, in the root's .tmp/pip, and the build works
// all the same.
func TestPipCacheIsTheUsers(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	cache := filepath.Join(t.TempDir(), "cache")
	s.Env["XDG_CACHE_HOME"] = cache
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "--skip-use")
	if got, _ := filepath.Glob(filepath.Join(cache, "rezup", "pip", "pip-*")); len(got) != 1 {
		t.Errorf("pip unpacked in the user's cache: %q, want one", got)
	}
	rootPip := filepath.Join(s.Home, ".rezup", ".tmp", "pip")
	if _, err := os.Stat(rootPip); err == nil {
		t.Errorf("the root has a pip of its own (%s) beside the user's", rootPip)
	}

	// A cache that cannot be made (a file where its directory would be).
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s.Env["XDG_CACHE_HOME"] = notDir
	s.MustRun("add", "--fresh", "--skip-use")
	if got, _ := filepath.Glob(filepath.Join(rootPip, "pip-*")); len(got) != 1 {
		t.Errorf("with no user cache, pip unpacked in the root: %q, want one", got)
	}
}
