package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/pyresolve"
	"github.com/rezup/rezup/internal/testkit"
)

// These tests stage revisions by hand (testkit.FakeRoot, plus the frozen
// recipe and lock.json a locked build writes) and run rezup in-process:
// diff and status --packages only read revisions, so no build is needed.

// lockedRevision writes a ready revision of container in root made at tm,
// with recipe as its frozen rezup.toml and lock as its lock.json (none
// when nil), and returns its name.
func lockedRevision(t *testing.T, root, container string, tm time.Time, key int, recipeTOML string, lock *pyresolve.Resolution) string {
	t.Helper()
	name := testkit.NewFakeRoot(t, root).Revision(container, tm, testkit.FakeKey(key))
	dir := filepath.Join(root, container, "revisions", name)
	if err := os.WriteFile(filepath.Join(dir, "rezup.toml"), []byte(recipeTOML), 0o644); err != nil {
		t.Fatal(err)
	}
	if lock != nil {
		b, err := lock.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "lock.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

// indexDist is a dist found on an index, with a made-up hash.
func indexDist(name, version string, hash byte) pyresolve.Dist {
	return pyresolve.Dist{Name: name, Version: version, Requested: name == "rez", Source: pyresolve.Source{
		Kind: pyresolve.KindIndex, URL: "file:///wheels/" + name + "-" + version + "-py3-none-any.whl",
		SHA256: strings.Repeat(string([]byte{hash}), 64),
	}}
}

func rezLock(dists ...pyresolve.Dist) *pyresolve.Resolution {
	return &pyresolve.Resolution{Version: pyresolve.Version, Venvs: []pyresolve.VenvResolution{{Name: "rez", Dists: dists}}}
}

// rezup runs rezup in-process with HOME=home plus env, and returns its
// output and exit code.
func rezup(t *testing.T, home string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, append([]string{"HOME=" + home}, env...), &out, &errOut)
	return out.String(), errOut.String(), code
}

// checkOneLineError checks a failed run: exit code, one error line saying
// want, and a hint.
func checkOneLineError(t *testing.T, stdout, stderr string, code, wantCode int, want, hint string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if code != wantCode || len(lines) != 2 || !strings.HasPrefix(lines[0], "rezup: error: ") || !strings.Contains(lines[0], want) ||
		!strings.HasPrefix(lines[1], "rezup: hint: ") || !strings.Contains(lines[1], hint) || stdout != "" {
		t.Errorf("exit %d, want %d with an error saying %q and a hint saying %q\nstdout:\n%s\nstderr:\n%s", code, wantCode, want, hint, stdout, stderr)
	}
}

const (
	recipe1 = "[rez]\nurl = \"rez>=2.83\"\n[pip.env]\nPIP_INDEX_URL = \"https://pypi.studio/simple\"\n"
	recipe2 = "[rez]\nurl = \"rez>=2.114\"\nlib = [\"six\"]\n[build]\nsalt = \"1f0c\"\n"
)

var t0 = time.Date(2025, 11, 20, 9, 0, 0, 0, time.UTC)

func TestDiffShowsUpgradeAndRecipeKeys(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	root := filepath.Join(home, ".rezup")
	r1 := lockedRevision(t, root, ".main", t0, 1, recipe1, rezLock(indexDist("rez", "2.113.0", 'a'), indexDist("pip", "24.0", 'e'), indexDist("old-dep", "1.0", 'f')))
	r2 := lockedRevision(t, root, ".main", t0.Add(time.Hour), 2, recipe2, rezLock(indexDist("rez", "2.114.0", 'b'), indexDist("pip", "24.0", 'e'), indexDist("six", "1.16.0", '0')))
	// Being written: never the latest, and not a rival of r2's prefix.
	testkit.NewFakeRoot(t, root).NotReadyRevision(".main", t0.Add(time.Hour+time.Second/2))

	wantUpgrade := []string{
		".main: " + r1 + " (local) -> " + r2 + " (local)",
		"packages:\n",
		"  rez: removed old-dep 1.0\n",
		"  rez: upgraded rez 2.113.0 -> 2.114.0\n",
		"  rez: added six 1.16.0\n",
		"recipe:\n",
		"  added build.salt = \"1f0c\"\n",
		"  removed pip.env.PIP_INDEX_URL = \"https://pypi.studio/simple\"\n",
		"  added rez.lib = [\"six\"]\n",
		"  rez.url: \"rez>=2.83\" -> \"rez>=2.114\"\n",
	}
	for _, args := range [][]string{
		{"diff"},                       // the latest against the one before
		{"diff", ".main"},              // NAME
		{"diff", r1[:8]},               // REV1 by a unique prefix, REV2 the latest
		{"diff", "latest~1", "latest"}, // relative
		{"diff", ".main", r1, r2},      // all three
		{"diff", "-l", ".main", "latest~1"},
	} {
		out, errOut, code := rezup(t, home, nil, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		last := 0
		for _, w := range wantUpgrade {
			i := strings.Index(out[last:], w)
			if i < 0 {
				t.Fatalf("%v: %q missing (or out of order) in\n%s", args, w, out)
			}
			last += i + len(w)
		}
	}

	// Backwards: a downgrade.
	out, _, code := rezup(t, home, nil, "diff", r2, r1)
	if code != 0 || !strings.Contains(out, "rez: downgraded rez 2.114.0 -> 2.113.0") || !strings.Contains(out, "rez.url: \"rez>=2.114\" -> \"rez>=2.83\"") {
		t.Errorf("diff r2 r1: exit %d\n%s", code, out)
	}
	// The same revision twice: nothing changed, still exit 0.
	out, _, code = rezup(t, home, nil, "diff", r2, "latest")
	if code != 0 || strings.Count(out, "  no changes\n") != 2 {
		t.Errorf("diff of a revision with itself: exit %d\n%s", code, out)
	}

	t.Run("json", func(t *testing.T) {
		out, _, code := rezup(t, home, nil, "diff", "--json")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		var rep struct {
			Container string
			Old, New  struct {
				Name, From, Key string
				Locked          bool
			}
			Packages []struct {
				Venv, Name, Change string
				Old, New           *pyresolve.Dist
			}
			Recipe []struct {
				Key, Change string
				Old, New    any
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		if rep.Container != ".main" || rep.Old.Name != r1 || rep.New.Name != r2 || rep.Old.From != "local" ||
			rep.New.Key != testkit.FakeKey(2) || !rep.Old.Locked || !rep.New.Locked {
			t.Errorf("revisions: %+v", rep)
		}
		if len(rep.Packages) != 3 {
			t.Fatalf("packages: %+v", rep.Packages)
		}
		up := rep.Packages[1]
		if up.Venv != "rez" || up.Name != "rez" || up.Change != "upgraded" || up.Old.Version != "2.113.0" || up.New.Version != "2.114.0" ||
			up.New.Source.SHA256 != strings.Repeat("b", 64) {
			t.Errorf("upgrade: %+v", up)
		}
		if rm := rep.Packages[0]; rm.Change != "removed" || rm.New != nil || rm.Old.Name != "old-dep" {
			t.Errorf("removal: %+v", rm)
		}
		if add := rep.Packages[2]; add.Change != "added" || add.Old != nil || add.New.Version != "1.16.0" {
			t.Errorf("addition: %+v", add)
		}
		var changed bool
		for _, c := range rep.Recipe {
			if c.Key == "rez.url" {
				changed = c.Change == "changed" && c.Old == "rez>=2.83" && c.New == "rez>=2.114"
			}
			if c.Key == "rez.lib" && (c.Change != "added" || c.Old != nil) {
				t.Errorf("rez.lib: %+v", c)
			}
		}
		if !changed || len(rep.Recipe) != 4 {
			t.Errorf("recipe changes: %+v", rep.Recipe)
		}
		// Same locks: packages is [], not null.
		out, _, _ = rezup(t, home, nil, "diff", "--json", r2, r2)
		if !strings.Contains(out, `"packages": []`) || !strings.Contains(out, `"recipe": []`) {
			t.Errorf("no changes:\n%s", out)
		}
	})
}

func TestDiffErrors(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	root := filepath.Join(home, ".rezup")
	only := lockedRevision(t, root, "prod", t0, 1, recipe1, rezLock(indexDist("rez", "2.113.0", 'a')))
	lockedRevision(t, root, "many", t0, 1, recipe1, nil)
	lockedRevision(t, root, "many", t0.Add(time.Second), 2, recipe1, nil)
	testkit.NewFakeRoot(t, root).NotReadyRevision("many", t0.Add(time.Hour))
	notReady := testkit.FakeRevisionName(t0.Add(time.Hour))
	if err := os.WriteFile(filepath.Join(home, "rezup.empty.toml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		args       []string
		code       int
		want, hint string
	}{
		{[]string{"diff", "prod"}, 1, "no ready revision before " + only, "`rezup status prod` lists its revisions"},
		{[]string{"diff", "prod", "latest~1"}, 1, "latest~1: container prod has 1 ready revision(s)", "rezup status prod"},
		{[]string{"diff", "prod", "1999"}, 1, "container prod has no revision 1999", "rezup status prod"},
		{[]string{"diff", "many", "17"}, 1, "revision 17 of many is ambiguous: 2 revisions start with it", "give more digits"},
		{[]string{"diff", "many", notReady[:12], "latest"}, 1, "revision " + notReady + " of many is not ready", "rezup status many"},
		{[]string{"diff", "empty"}, 1, "no revision of empty in ", "rezup add empty"},
		{[]string{"diff", "prod", "x", "y"}, 2, `"x" names no revision`, "see rezup diff --help"},
		{[]string{"diff", "a", "1", "2", "3"}, 2, "at most two revisions", "see rezup diff --help"},
	} {
		out, errOut, code := rezup(t, home, nil, tc.args...)
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			checkOneLineError(t, out, errOut, code, tc.code, tc.want, tc.hint)
		})
	}
}

// A revision without a lock (the Python rezup's, an older rezup's): diff
// says so and still compares the recipes; status --packages says so too.
func TestDiffWithoutLock(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	root := filepath.Join(home, ".rezup")
	old := lockedRevision(t, root, "prod", t0, 1, recipe1, nil)
	lockedRevision(t, root, "prod", t0.Add(time.Minute), 2, recipe2, rezLock(indexDist("rez", "2.114.0", 'b')))

	out, errOut, code := rezup(t, home, nil, "diff", "prod")
	if code != 0 || errOut != "" || !strings.Contains(out, "packages:\n  no lock in "+old+" (") ||
		!strings.Contains(out, "rez.url: \"rez>=2.83\" -> \"rez>=2.114\"") || strings.Contains(out, "upgraded") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = rezup(t, home, nil, "diff", "prod", "--json")
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, %v\n%s", code, err, out)
	}
	if rep["packages"] != nil || rep["old"].(map[string]any)["locked"] != false || rep["new"].(map[string]any)["locked"] != true || len(rep["recipe"].([]any)) != 4 {
		t.Errorf("json: %s", out)
	}

	out, errOut, code = rezup(t, home, nil, "status", "prod", "--packages", "--revision", old)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "revision "+old+" (local) has no lock") {
		t.Errorf("status --packages of a revision without a lock: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = rezup(t, home, nil, "status", "prod", "--packages", "--revision", old, "--json")
	if code != 0 || out != "null\n" || !strings.Contains(errOut, "has no lock") {
		t.Errorf("status --packages --json without a lock: exit %d\n%s%s", code, out, errOut)
	}
}

// With a remote root, diff and status --packages follow it, as status
// and use do: the latest is the remote root's, even when the local root
// has a newer revision of its own; --local looks at the local root only.
func TestDiffFollowsRemote(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	local, remote := filepath.Join(home, ".rezup"), t.TempDir()
	env := []string{"REZUP_ROOT_REMOTE=" + remote}
	r1 := lockedRevision(t, remote, "prod", t0, 1, recipe1, rezLock(indexDist("rez", "2.113.0", 'a')))
	r2 := lockedRevision(t, remote, "prod", t0.Add(time.Hour), 2, recipe1, rezLock(indexDist("rez", "2.114.0", 'b')))
	// The local mirror of r2 (same name), and a newer local-only revision.
	lockedRevision(t, local, "prod", t0.Add(time.Hour), 2, recipe1, rezLock(indexDist("rez", "2.114.0", 'b')))
	l3 := lockedRevision(t, local, "prod", t0.Add(2*time.Hour), 3, recipe2, rezLock(indexDist("rez", "3.0.0", 'c')))

	out, errOut, code := rezup(t, home, env, "diff", "prod")
	if code != 0 || !strings.Contains(out, "prod: "+r1+" (remote) -> "+r2+" (remote)") || !strings.Contains(out, "upgraded rez 2.113.0 -> 2.114.0") ||
		!strings.Contains(out, "recipe:\n  no changes\n") {
		t.Errorf("diff prod: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = rezup(t, home, env, "diff", "prod", "--local")
	if code != 0 || !strings.Contains(out, "prod: "+r2+" (local) -> "+l3+" (local)") || !strings.Contains(out, "upgraded rez 2.114.0 -> 3.0.0") {
		t.Errorf("diff prod --local: exit %d\n%s%s", code, out, errOut)
	}
	// A local revision named explicitly, against the remote latest.
	out, _, code = rezup(t, home, env, "diff", "prod", l3)
	if code != 0 || !strings.Contains(out, "prod: "+l3+" (local) -> "+r2+" (remote)") || !strings.Contains(out, "downgraded rez 3.0.0 -> 2.114.0") {
		t.Errorf("diff prod l3: exit %d\n%s", code, out)
	}

	out, _, code = rezup(t, home, env, "status", "prod", "--packages")
	if code != 0 || !strings.HasPrefix(out, "prod: revision "+r2+" (remote)\n") || !strings.Contains(out, "2.114.0") {
		t.Errorf("status --packages: exit %d\n%s", code, out)
	}
}

func TestStatusPackages(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	root := filepath.Join(home, ".rezup")
	editable := pyresolve.Dist{Name: "studio-tools", Version: "0.1.dev0", Source: pyresolve.Source{
		Kind: pyresolve.KindDir, Path: "/src/studio-tools", TreeSHA256: strings.Repeat("d", 64), Editable: true,
	}}
	lock := &pyresolve.Resolution{Version: pyresolve.Version, Venvs: []pyresolve.VenvResolution{
		{Name: "rez", Dists: []pyresolve.Dist{indexDist("rez", "2.114.0", 'b'), indexDist("pip", "24.0", 'e')}},
		{Name: "foo", Dists: []pyresolve.Dist{editable}},
	}}
	old := lockedRevision(t, root, "prod", t0, 1, recipe1, rezLock(indexDist("rez", "2.113.0", 'a')))
	lockedRevision(t, root, "prod", t0.Add(time.Hour), 2, recipe2, lock)

	out, errOut, code := rezup(t, home, nil, "status", "prod", "--packages")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := [][]string{
		{"prod:", "revision", testkit.FakeRevisionName(t0.Add(time.Hour)), "(local)"},
		{"VENV", "PACKAGE", "VERSION", "SOURCE"},
		{"rez", "pip", "24.0", "index"},
		{"rez", "rez", "2.114.0", "index"},
		{"foo", "studio-tools", "0.1.dev0", "dir,", "editable"},
	}
	if len(lines) != len(want) {
		t.Fatalf("got\n%s", out)
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(w, " ") {
			t.Errorf("line %d: %q, want %q", i, got, w)
		}
	}

	out, _, code = rezup(t, home, nil, "status", "prod", "--packages", "--json")
	got, err := pyresolve.Parse([]byte(out))
	if err != nil || code != 0 {
		t.Fatalf("--json is not the lock: exit %d, %v\n%s", code, err, out)
	}
	if d := pyresolve.Diff(lock, got); len(d) != 0 || len(got.Venvs) != 2 {
		t.Errorf("--json lock differs from the revision's: %v", d)
	}

	out, _, code = rezup(t, home, nil, "status", "prod", "--packages", "--revision", "latest~1")
	if code != 0 || !strings.Contains(out, old) || !strings.Contains(out, "2.113.0") {
		t.Errorf("--revision latest~1: exit %d\n%s", code, out)
	}

	// A corrupt lock is an error naming the file.
	if err := os.WriteFile(filepath.Join(root, "prod", "revisions", old, "lock.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = rezup(t, home, nil, "status", "prod", "--packages", "--revision", old)
	if code != 1 || out != "" || !strings.Contains(errOut, filepath.Join(old, "lock.json")) {
		t.Errorf("corrupt lock: exit %d\n%s%s", code, out, errOut)
	}
}

// diff completes NAME, then the ready revisions of that container, remote
// first, newest first; a mirror's name once.
func TestDiffCompletesRevisions(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	local, remote := filepath.Join(home, ".rezup"), t.TempDir()
	r1 := lockedRevision(t, remote, "prod", t0, 1, recipe1, nil)
	lockedRevision(t, local, "prod", t0, 1, recipe1, nil) // r1's mirror
	l2 := lockedRevision(t, local, "prod", t0.Add(time.Hour), 2, recipe1, nil)
	testkit.NewFakeRoot(t, local).NotReadyRevision("prod", t0.Add(2*time.Hour))

	a := newApp([]string{"HOME=" + home, "REZUP_ROOT_REMOTE=" + remote}, &bytes.Buffer{}, &bytes.Buffer{})
	cmd := a.diffCommand(nil)
	for _, tc := range []struct {
		args   []string
		prefix string
		want   string
	}{
		{[]string{"prod"}, "", r1 + " " + l2},
		{[]string{"prod", r1}, l2[:4], r1 + " " + l2},
		{[]string{"prod"}, l2[:len(l2)-3], l2},
		{[]string{"prod", "1", "2"}, "", ""}, // no fourth argument
		{[]string{r1}, "", ""},               // .main's: not completed
		{[]string{"nosuch"}, "", ""},         // no revisions, no error printed
		{nil, "pro", "prod"},                 // the container name
	} {
		got, _ := a.diffArgs(cmd, tc.args, tc.prefix)
		if strings.Join(got, " ") != tc.want {
			t.Errorf("diff %v %q: completes %q, want %q", tc.args, tc.prefix, got, tc.want)
		}
	}
}
