package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// lockRecipe installs an unpinned rez from the find-links dir wheels only,
// followed by extra.
func lockRecipe(wheels, extra string) string {
	return `[pip]
options = ["--disable-pip-version-check", "--no-index", "--find-links", "` + wheels + `"]

[rez]
url = "rez>=2.83"
` + extra
}

func writeWheel(t *testing.T, dir string, w testkit.Wheel) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := testkit.WriteWheel(dir, w); err != nil {
		t.Fatal(err)
	}
}

// revisionStatus is what `status NAME --json` says of a revision.
type revisionStatus struct {
	Name       string `json:"name"`
	From       string `json:"from"`
	Key        string `json:"key"`
	RezVersion string `json:"rez_version"`
	Lock       *struct {
		Venvs []struct {
			Name  string `json:"name"`
			Dists []struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				Source  struct {
					Kind   string `json:"kind"`
					SHA256 string `json:"sha256"`
				} `json:"source"`
			} `json:"dists"`
		} `json:"venvs"`
	} `json:"lock"`
}

// latestStatus is the newest revision `status NAME --json` lists first
// from the given root ("local" or "remote"); a remote revision mirrored
// here ("both") is in either.
func latestStatus(t *testing.T, s *testkit.Session, name, from string) revisionStatus {
	t.Helper()
	var c struct {
		Revisions []revisionStatus `json:"revisions"`
	}
	res := s.MustRun("status", name, "--json")
	if err := json.Unmarshal([]byte(res.Stdout), &c); err != nil {
		t.Fatalf("status --json: %v\n%s", err, res.Stdout)
	}
	for _, r := range c.Revisions {
		if r.From == from || r.From == "both" {
			return r
		}
	}
	t.Fatalf("no %s revision in\n%s", from, res.Stdout)
	return revisionStatus{}
}

// lockedVersions maps "venv/dist" to the locked version.
func (r revisionStatus) lockedVersions() map[string]string {
	m := map[string]string{}
	if r.Lock != nil {
		for _, v := range r.Lock.Venvs {
			for _, d := range v.Dists {
				m[v.Name+"/"+d.Name] = d.Version
			}
		}
	}
	return m
}

// The Must show of issue 12: a new release of an unpinned requirement is a
// new lock, a new key and a new build; an unchanged resolution reuses it;
// a wheel rebuilt in place is a new key; --fresh sticks until the lock
// changes; --frozen needs no index; rez's venv has pip.
func TestLockedAdd(t *testing.T) {
	t.Parallel()
	s, _ := newBuilder(t)
	wheels := filepath.Join(t.TempDir(), "wheels")
	writeWheel(t, wheels, testkit.RezWheel("2.113.0"))
	s.WriteFile("rezup.lk.toml", lockRecipe(wheels, ""))
	root := filepath.Join(s.Home, ".rezup")

	add := func(args ...string) (revisionStatus, testkit.Result) {
		t.Helper()
		res := s.MustRun(append([]string{"add", "lk", "--skip-use"}, args...)...)
		return latestStatus(t, s, "lk", "local"), res
	}
	first, _ := add()
	v := first.lockedVersions()
	if v["rez/rez"] != "2.113.0" || v["rez/pip"] == "" || first.RezVersion != "2.113.0" {
		t.Fatalf("first add: lock %v, rez %s", v, first.RezVersion)
	}
	if _, err := os.Stat(filepath.Join(root, "lk", "revisions", first.Name, "lock.json")); err != nil {
		t.Errorf("the revision has no lock.json: %v", err)
	}
	res := s.MustRun("use", "lk", "--", "rez-python", "-c", "import pip; print(pip.__version__)")
	if got := strings.TrimSpace(res.Stdout); got != v["rez/pip"] {
		t.Errorf("pip in the rez venv: %q, the lock says %q", got, v["rez/pip"])
	}

	writeWheel(t, wheels, testkit.RezWheel("2.114.0"))
	upgraded, _ := add()
	if upgraded.Key == first.Key || upgraded.RezVersion != "2.114.0" || upgraded.lockedVersions()["rez/rez"] != "2.114.0" {
		t.Fatalf("after 2.114.0 was released: key %s (was %s), rez %s", upgraded.Key, first.Key, upgraded.RezVersion)
	}
	again, res := add()
	if again.Key != upgraded.Key || !strings.Contains(res.Stderr, "reused "+again.Key) {
		t.Errorf("an unchanged resolution: key %s (was %s)\n%s", again.Key, upgraded.Key, res.Stderr)
	}

	rebuilt := testkit.RezWheel("2.114.0")
	rebuilt.Files["rez/patched.py"] = "PATCHED = True\n"
	writeWheel(t, wheels, rebuilt)
	patched, _ := add()
	if patched.Key == again.Key || patched.RezVersion != "2.114.0" {
		t.Errorf("a wheel rebuilt in place: key %s, the same as before", patched.Key)
	}

	fresh, _ := add("--fresh")
	if fresh.Key == patched.Key {
		t.Fatalf("--fresh reused %s", fresh.Key)
	}
	kept, res := add()
	if kept.Key != fresh.Key || !strings.Contains(res.Stderr, "reused "+fresh.Key) {
		t.Errorf("a plain add after --fresh: key %s, want the fresh %s\n%s", kept.Key, fresh.Key, res.Stderr)
	}

	// No index: resolving fails and says --frozen exists; --frozen
	// builds the latest lock, here reused at once.
	if err := os.RemoveAll(wheels); err != nil {
		t.Fatal(err)
	}
	res = s.Run("add", "lk", "--skip-use")
	if res.Code == 0 || !strings.Contains(res.Stderr, "rezup: hint:") || !strings.Contains(res.Stderr, "--frozen") {
		t.Errorf("add without the index: exit %d\n%s", res.Code, res.Stderr)
	}
	frozen, _ := add("--frozen")
	if frozen.Key != kept.Key || frozen.Name == kept.Name {
		t.Errorf("add --frozen: revision %s key %s, want a new revision of %s", frozen.Name, frozen.Key, kept.Key)
	}
	if got := len(storeEntries(t, root)); got != 4 {
		t.Errorf("%d builds, want 4 (2.113.0, 2.114.0, rebuilt, fresh)", got)
	}

	s.WriteFile("rezup.new.toml", lockRecipe(wheels, ""))
	res = s.Run("add", "new", "--skip-use", "--frozen")
	if res.Code == 0 || !strings.Contains(res.Stderr, "add --frozen: container new has no revision") || !strings.Contains(res.Stderr, "rezup: hint:") {
		t.Errorf("add --frozen of a new container: exit %d\n%s", res.Code, res.Stderr)
	}
}

// A node with an empty cache rebuilds a remote revision from its lock: it
// gets the admin's rez 2.113.0 while the index also offers 2.114.0, and
// every venv it makes (rez's, an isolated extension's) has pip.
func TestNodeRebuildsTheLock(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	wheels := filepath.Join(t.TempDir(), "wheels")
	writeWheel(t, wheels, testkit.RezWheel("2.113.0"))
	writeWheel(t, wheels, testkit.ExtensionWheel("tool", "1.0"))
	f.admin.WriteFile("rezup.farm.toml", lockRecipe(wheels, "\n[[extension]]\nname = \"tool\"\nisolation = true\n"))
	f.admin.MustRun("add", "farm", "--remote", "--skip-use")
	admin := latestStatus(t, f.admin, "farm", "remote")
	if v := admin.lockedVersions(); v["rez/rez"] != "2.113.0" || v["tool/rez"] != "2.113.0" || v["tool/tool"] != "1.0" || v["tool/pip"] == "" {
		t.Fatalf("the remote revision's lock: %v", v)
	}
	writeWheel(t, wheels, testkit.RezWheel("2.114.0"))

	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	res := node.MustRun("use", "farm", "--", "rez-python", "-c", "import rez, pip; print(rez.__version__)")
	if got := strings.TrimSpace(res.Stdout); got != "2.113.0" {
		t.Errorf("the node's rez: %q, want the locked 2.113.0\n%s", got, res.Stderr)
	}
	local := latestStatus(t, node, "farm", "local")
	if local.Key != admin.Key || local.lockedVersions()["rez/rez"] != "2.113.0" {
		t.Errorf("the node's revision: key %s (admin %s), lock %v", local.Key, admin.Key, local.lockedVersions())
	}
	out, err := exec.Command(filepath.Join(root, ".store", local.Key, "venv", "tool", "bin", "python"), "-m", "pip", "--version").CombinedOutput()
	if err != nil {
		t.Errorf("pip in the isolated extension's venv: %v\n%s", err, out)
	}
}
