package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// pyFleet is a mixed fleet: an admin and nodes that run this rezup or the
// real Python rezup 2.6, one remote root (with the shared cache in it),
// and a wheel house the recipe names, where new releases appear.
type pyFleet struct {
	py     *testkit.PyRezup
	admin  *testkit.Session // its own local root
	remote string
	wheels string
}

func newPyFleet(t *testing.T) *pyFleet {
	t.Helper()
	py := testkit.RealPythonRezup(t)
	admin, _ := newBuilder(t) // every test of a fleet builds
	f := &pyFleet{py: py, admin: admin, remote: filepath.Join(t.TempDir(), "remote"), wheels: filepath.Join(t.TempDir(), "wheels")}
	admin.Env["REZUP_ROOT_REMOTE"] = f.remote
	admin.Env["REZUP_ROOT_LOCAL"] = filepath.Join(t.TempDir(), "admin-root")
	f.release(t, "3.4.0")
	return f
}

// release puts rez VERSION in the wheel house.
func (f *pyFleet) release(t *testing.T, version string) {
	t.Helper()
	if err := os.MkdirAll(f.wheels, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := testkit.WriteWheel(f.wheels, testkit.RezWheel(version)); err != nil {
		t.Fatal(err)
	}
}

// recipe is a recipe of prod that installs the newest rez 3.4 of the
// wheel house, then extra.
func (f *pyFleet) recipe(extra string) string {
	b, _ := json.Marshal(f.wheels) // a TOML basic string is a JSON string here
	return "[pip]\noptions = [\"--disable-pip-version-check\", \"--no-index\", \"--find-links\", " + string(b) + "]\n\n[rez]\nurl = \"rez>=3.4\"\n" + extra
}

// node is a machine that follows the remote root with the local root
// ~/.rezup of home (a new HOME when "").
func (f *pyFleet) node(t *testing.T, home string) *testkit.Session {
	t.Helper()
	s := testkit.NewSession(t, f.admin.Bin)
	if home != "" {
		s.Home, s.Env["HOME"], s.Env["USERPROFILE"] = home, home, home
	}
	s.Env["REZUP_ROOT_REMOTE"] = f.remote
	return s
}

// The first finding: the admin publishes rez 3.4.0 (locked,
// pinned); 3.4.1 is released; the Python rezup on a node pulls the
// revision and pip installs 3.4.1 into its mirror. rezup on that node runs
// the pinned 3.4.0 from its store, says so in status, and leaves the
// mirror to the Python rezup, which goes on running 3.4.1 from it. A
// revision the Python rezup published pins nothing: its mirror is adopted.
func TestPythonMirrorOfAPinnedRevisionRunsThePinnedBuild(t *testing.T) {
	t.Parallel()
	f := newPyFleet(t)
	f.admin.WriteFile("rezup.prod.toml", f.recipe(""))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	f.release(t, "3.4.1")

	// One HOME, as on a site's shared home: the node's Python rezup and
	// this rezup read the same ~/rezup.prod.toml and ~/.rezup.
	node := f.node(t, f.admin.Home)
	if r := rezReport(t, f.py.MustRun(node, "use", "prod", "--", "rez-env").Stdout); r.RezVersion != "3.4.1" {
		t.Fatalf("the Python rezup ran rez %s from its mirror, want 3.4.1 (what pip found)", r.RezVersion)
	}
	revs := revisions(t, filepath.Join(node.Home, ".rezup"), "prod")
	if len(revs) != 1 {
		t.Fatalf("local revisions %v, want the Python rezup's mirror", revs)
	}
	mirror := filepath.Join(node.Home, ".rezup", "prod", "revisions", revs[0])
	meta, err := os.ReadFile(filepath.Join(mirror, "revision.json"))
	if err != nil {
		t.Fatal(err)
	}

	res := node.MustRun("use", "prod", "--", "rez-env")
	r := rezReport(t, res.Stdout)
	store := filepath.Join(node.Home, ".rezup", ".store") + string(filepath.Separator)
	if r.RezVersion != "3.4.0" || !strings.HasPrefix(r.Script, store) {
		t.Fatalf("rezup ran rez %s from %s, want the pinned 3.4.0 from %s", r.RezVersion, r.Script, store)
	}
	if res := node.MustRun("pull", "prod"); !strings.Contains(res.Stdout, "prod: revision "+revs[0]+" (remote) is ready: ") || strings.Contains(res.Stdout, "python-rezup") {
		t.Errorf("pull says:\n%s", res.Stdout)
	}

	var st statusContainer
	if err := json.Unmarshal([]byte(node.MustRun("status", "prod", "--json").Stdout), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Revisions) != 1 {
		t.Fatalf("status: %+v", st.Revisions)
	}
	sr := st.Revisions[0]
	key, _, _ := strings.Cut(strings.TrimPrefix(r.Script, store), string(filepath.Separator))
	if sr.From != "both" || sr.RezVersion != "3.4.0" || string(sr.Key) != key || !sr.Built || sr.BuiltBy != "" || sr.MirrorBuiltBy != "python-rezup" {
		t.Errorf("status of the revision: %+v, want the pinned build %s (3.4.0), its mirror built by the Python rezup", sr, key)
	}
	if out := node.MustRun("status", "prod").Stdout; !strings.Contains(out, "runs the pinned build (the Python rezup's mirror is left to it)") || !strings.Contains(out, key) {
		t.Errorf("status does not say which build runs:\n%s", out)
	}
	if out := node.MustRun("status", "prod", "--packages").Stdout; !strings.Contains(out, "3.4.0") || strings.Contains(out, "3.4.1") {
		t.Errorf("status --packages:\n%s", out)
	}

	// The mirror is the Python rezup's, as it left it.
	if after, err := os.ReadFile(filepath.Join(mirror, "revision.json")); err != nil || string(after) != string(meta) {
		t.Errorf("the mirror's revision.json changed: %v\n%s\nwas\n%s", err, after, meta)
	}
	if fi, err := os.Lstat(filepath.Join(mirror, "venv")); err != nil || !fi.IsDir() {
		t.Errorf("the mirror's venv is no longer a directory: %v", err)
	}
	if r := rezReport(t, f.py.MustRun(node, "use", "prod", "--", "rez-env").Stdout); r.RezVersion != "3.4.1" || !strings.HasPrefix(r.Script, mirror) {
		t.Errorf("the Python rezup now runs rez %s from %s, want 3.4.1 from its mirror", r.RezVersion, r.Script)
	}

	// The Python rezup publishes the next revision: no key, no pin, no
	// lock. Its nodes pull it; rezup adopts that mirror as it is.
	admin := f.node(t, f.admin.Home)
	admin.Env["REZUP_ROOT_LOCAL"] = f.admin.Env["REZUP_ROOT_LOCAL"]
	f.py.MustRun(admin, "add", "prod", "--remote", "--skip-use")
	f.py.MustRun(node, "use", "prod", "--", "rez-env")
	r = rezReport(t, node.MustRun("use", "prod", "--", "rez-env").Stdout)
	if r.RezVersion != "3.4.1" || strings.HasPrefix(r.Script, store) {
		t.Errorf("rezup ran rez %s from %s, want the Python rezup's mirror of its unpinned revision", r.RezVersion, r.Script)
	}
	var st2 statusContainer
	if err := json.Unmarshal([]byte(node.MustRun("status", "prod", "--json").Stdout), &st2); err != nil {
		t.Fatal(err)
	}
	if sr := st2.Revisions[0]; sr.BuiltBy != "python-rezup" || sr.MirrorBuiltBy != "" || sr.Key != "" {
		t.Errorf("status of the Python rezup's revision: %+v", sr)
	}
}

// The second finding: what add --remote publishes that Python
// nodes read differently is a warning per difference, and --strict (or
// [root] python-compatible) refuses it; a Python node indeed cannot read
// it. Without those, what is published launches on a Python node with
// the [env] a rezup node gets.
func TestAddRemoteWarnsWhatPythonNodesReadOtherwise(t *testing.T) {
	t.Parallel()
	f := newPyFleet(t)
	env := "\n[env]\nMIXED = [\"a\", 2, true]\nPATHS = [\"/a\", \"/b\"]\n"
	f.admin.WriteFile("rezup.prod.toml", f.recipe(env))
	recipePath := filepath.Join(f.admin.Home, "rezup.prod.toml")

	res := f.admin.Run("add", "prod", "--remote", "--skip-use", "--strict")
	if res.Code != 2 || !strings.Contains(res.Stderr, "rezup: error: add --remote: Python rezup nodes read "+recipePath+" differently in 2 places, refused (--strict)") ||
		!strings.Contains(res.Stderr, "    "+recipePath+":8: [env] MIXED mixes a string, an integer and a boolean in one array: Python nodes cannot read this recipe at all") ||
		!strings.Contains(res.Stderr, "    "+recipePath+":9: [env] PATHS is a list: Python nodes set PATHS to \"['/a', '/b']\"") ||
		!strings.Contains(res.Stderr, "rezup: hint: change "+recipePath) {
		t.Fatalf("add --remote --strict: exit %d\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(filepath.Join(f.remote, "prod")); !os.IsNotExist(err) {
		t.Fatalf("a refused add published something: %v", err)
	}
	f.admin.WriteFile("rezup.prod.toml", f.recipe("\n[root]\npython-compatible = true\n"+env))
	if res := f.admin.Run("add", "prod", "--remote", "--skip-use"); res.Code != 2 || !strings.Contains(res.Stderr, "refused ([root] python-compatible)") ||
		!strings.Contains(res.Stderr, "[root] python-compatible = false") {
		t.Fatalf("add --remote with [root] python-compatible: exit %d\n%s", res.Code, res.Stderr)
	}

	f.admin.WriteFile("rezup.prod.toml", f.recipe(env))
	res = f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	var warns []string
	for _, l := range strings.Split(res.Stderr, "\n") {
		if strings.Contains(l, "Python nodes") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 2 || !strings.HasPrefix(warns[0], "rezup: warning: "+recipePath+":8: [env] MIXED mixes") ||
		!strings.HasPrefix(warns[1], "rezup: warning: "+recipePath+":9: [env] PATHS is a list: Python nodes set PATHS to \"['/a', '/b']\" (Python's spelling of a list), this rezup to \"/a:/b\"") {
		t.Fatalf("add --remote warned:\n%s", res.Stderr)
	}
	// What the first warning says: a Python node cannot read the revision.
	pyNode := f.node(t, "")
	if res := f.py.Run(pyNode, "use", "prod", "--", "true"); res.Code == 0 || !strings.Contains(res.Stdout+res.Stderr, "Not a homogeneous array") {
		t.Fatalf("a Python node launched it: exit %d\n%s%s", res.Code, res.Stdout, res.Stderr)
	}

	// Without those, add --remote --strict publishes, quietly, and a
	// Python node launches the revision with the [env] a rezup node
	// gets (file order, '#' as python-dotenv reads it).
	f.admin.WriteFile("rezup.prod.toml", f.recipe("\n[env]\nPATHS = \"/a:/b\"\nZ1 = \"zval\"\nA1 = \"${Z1}-a\"\nC = '\"x # y\"'\nD = \"d # comment\"\n"))
	res = f.admin.MustRun("add", "prod", "--remote", "--skip-use", "--strict")
	if strings.Contains(res.Stderr, "Python nodes") {
		t.Errorf("add --remote --strict of a recipe both read alike:\n%s", res.Stderr)
	}
	show := []string{"sh", "-c", `printf '%s|%s|%s|%s' "$PATHS" "$A1" "$C" "$D"`}
	pyOut := f.py.MustRun(pyNode, append([]string{"use", "prod", "--"}, show...)...).Stdout
	ours := f.node(t, "").MustRun(append([]string{"use", "prod", "--"}, show...)...).Stdout
	if want := "/a:/b|zval-a|x # y|d"; pyOut != want || ours != want {
		t.Errorf("the Python node sees %q, a rezup node %q; want both %q", pyOut, ours, want)
	}
}
