package main

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// remoteKey is the key of container's only remote revision.
func remoteKey(t *testing.T, remote, container string) string {
	t.Helper()
	revs := revisions(t, remote, container)
	if len(revs) != 1 {
		t.Fatalf("remote revisions of %s: %v, want one", container, revs)
	}
	b, err := os.ReadFile(filepath.Join(remote, container, "revisions", revs[0], "revision.json"))
	if err != nil {
		t.Fatal(err)
	}
	var meta struct{ Key string }
	if err := json.Unmarshal(b, &meta); err != nil || meta.Key == "" {
		t.Fatalf("%s's revision.json has no key (%v): %s", container, err, b)
	}
	return meta.Key
}

// pullLines maps each container named at the start of a line of pull's
// output to the rest of that line.
func pullLines(t *testing.T, stdout string) map[string]string {
	t.Helper()
	lines := map[string]string{}
	var order []string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		name, rest, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("not a pull line: %q\n%s", l, stdout)
		}
		lines[name] = rest
		order = append(order, name)
	}
	if !slices.IsSorted(order) {
		t.Errorf("containers not pulled in name order: %v", order)
	}
	return lines
}

// A node that follows two containers of the remote root (no recipe for
// either), has one of its own in its local root (recipe since removed)
// and a recipe never added: pull --all makes the three ready, fetching
// the remote builds without pip, and says the fourth has no revision.
func TestPullAllFollowsEveryContainer(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	f.admin.WriteFile("rezup.dev.toml", testkit.RecipeTOML(f.wheels, "[build]\nsalt = \"dev\"\n"))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	f.admin.MustRun("add", "dev", "--remote", "--skip-use")
	prodKey, devKey := remoteKey(t, f.remote, "prod"), remoteKey(t, f.remote, "dev")
	if prodKey == devKey {
		t.Fatalf("prod and dev share key %s: the salt did not change it", prodKey)
	}

	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	node.WriteFile("rezup.lab.toml", testkit.RecipeTOML(f.wheels, "[build]\nsalt = \"lab\"\n"))
	node.MustRun("add", "lab", "--skip-use")
	if err := os.Remove(filepath.Join(node.Home, "rezup.lab.toml")); err != nil {
		t.Fatal(err) // lab is now known only by the local root
	}
	labKeys := storeEntries(t, root)
	if len(labKeys) != 1 {
		t.Fatalf("store after add lab: %v", labKeys)
	}
	node.WriteFile("rezup.todo.toml", testkit.RecipeTOML(f.wheels, ""))
	if err := os.RemoveAll(f.wheels); err != nil {
		t.Fatal(err) // nothing below may run pip
	}

	res := node.MustRun("pull", "--all")
	lines := pullLines(t, res.Stdout)
	want := map[string]string{
		"dev":  "(remote) is ready: " + devKey,
		"lab":  "(local) is ready: " + labKeys[0],
		"prod": "(remote) is ready: " + prodKey,
		"todo": "no revision (nothing to pull)",
	}
	if len(lines) != len(want) {
		t.Errorf("pulled %v, want %v\n%s", slices.Sorted(maps.Keys(lines)), slices.Sorted(maps.Keys(want)), res.Stdout)
	}
	for name, w := range want {
		if !strings.HasSuffix(lines[name], w) {
			t.Errorf("%s: %q, want it to end with %q", name, lines[name], w)
		}
	}
	if n := strings.Count(res.Stderr, "rezup: fetched "); n != 2 || strings.Contains(res.Stderr, "installing") {
		t.Errorf("want two fetches and no pip run:\n%s", res.Stderr)
	}
	keys := storeEntries(t, root)
	for _, k := range []string{devKey, prodKey, labKeys[0]} {
		if !slices.Contains(keys, k) {
			t.Errorf("build %s is not in the node's store: %v", k, keys)
		}
	}
	for _, c := range []string{"dev", "prod"} {
		if got := revisions(t, root, c); len(got) != 1 {
			t.Errorf("local mirror of %s: %v, want one revision", c, got)
		}
	}

	// Ready everywhere: a second pull --all fetches nothing.
	res = node.MustRun("pull", "--all")
	if strings.Contains(res.Stderr, "fetched") {
		t.Errorf("second pull --all fetched again:\n%s", res.Stderr)
	}
}

// A container that fails (a remote revision whose frozen recipe is not
// TOML) is reported, the others are still pulled, and the exit code is 1
// with one line naming it. A recipe in ~ that does not parse is only a
// warning (home recipes stop add alone): its container has no revision.
func TestPullAllGoesOnAfterAFailure(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	prodKey := remoteKey(t, f.remote, "prod")
	rev := revisions(t, f.remote, "prod")[0]
	broken := filepath.Join(f.remote, "a-broken", "revisions", rev)
	copyDir(t, filepath.Join(f.remote, "prod", "revisions", rev), broken)
	if err := os.WriteFile(filepath.Join(broken, "rezup.toml"), []byte("[rez\nnot toml"), 0o644); err != nil {
		t.Fatal(err)
	}

	node := f.node(t, filepath.Join(t.TempDir(), "node"))
	node.WriteFile("rezup.b-bad.toml", "[rez]\nurl = [\n")
	res := node.Run("pull", "--all")
	if res.Code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", res.Code, res.Stdout, res.Stderr)
	}
	if lines := pullLines(t, res.Stdout); !strings.HasSuffix(lines["prod"], "(remote) is ready: "+prodKey) || !strings.HasSuffix(lines["b-bad"], "no revision (nothing to pull)") {
		t.Errorf("prod was not pulled after the failure, or b-bad not listed:\n%s", res.Stdout)
	}
	if !strings.Contains(res.Stderr, "rezup: error: a-broken: ") || !strings.Contains(res.Stderr, "rezup: warning: "+filepath.Join(node.Home, "rezup.b-bad.toml")+":2: ") {
		t.Errorf("no error line for a-broken, or no warning for b-bad:\n%s", res.Stderr)
	}
	tail := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if len(tail) < 2 ||
		tail[len(tail)-2] != "rezup: error: pull --all: 1 of 3 failed: a-broken" ||
		!strings.HasPrefix(tail[len(tail)-1], "rezup: hint: ") {
		t.Errorf("the last lines do not name the failures with a hint:\n%s", res.Stderr)
	}
}
