//go:build linux

package main

import (
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/internal/testkit"
)

// Several accounts on one site: an admin (root, as CI runs) builds and
// publishes; nobody launches what the admin made, in roots it cannot
// write. Every rezup runs under an explicit umask, as a login shell sets
// it.

// site is what every account of a test shares: a directory all of them
// can traverse, rezup where nobody can run it, and an interpreter nobody
// can run too.
type site struct {
	base   string
	bin    string
	python string
	wheels string
}

// newSite needs root, to switch accounts; every test of a site builds
// (the admin's add), so it is out of the fast tier as root too.
func newSite(t *testing.T) *site {
	t.Helper()
	testkit.NeedsRoot(t, "it runs rezup as a second account with setpriv --reuid=nobody")
	testkit.SlowBuild(t)
	setpriv := testkit.RequireTool(t, "setpriv")
	testkit.Python(t)
	built := testkit.Binary(t, "github.com/rezup/rezup/cmd/rezup")
	// t.TempDir and its parent are 0700: open them to everyone.
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(base, "bin", "rezup")
	if err := os.Mkdir(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, built, bin, 0o755)
	return &site{base: base, bin: bin, python: sharedPython(t, setpriv), wheels: testkit.WheelHouse(t)}
}

// sharedPython is a python3 with venv and ensurepip that nobody can run
// too: the one on PATH may live in root's home (pyenv), which nobody
// cannot enter, and a venv is only as usable as its base interpreter.
func sharedPython(t *testing.T, setpriv string) string {
	t.Helper()
	var cands []string
	if out, err := exec.Command(testkit.Python(t), "-c", "import sys; print(sys.executable)").Output(); err == nil {
		cands = append(cands, strings.TrimSpace(string(out)))
	}
	cands = append(cands, "/usr/bin/python3", "/usr/local/bin/python3")
	for _, py := range cands {
		// Through sh: setpriv looks up the program it execs while it still
		// has root's capabilities, so it would reach into root's home.
		cmd := exec.Command(setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
			"/bin/sh", "-c", `exec "$0" -c "import venv, ensurepip"`, py)
		cmd.Dir = "/"
		if cmd.Run() == nil {
			return py
		}
	}
	t.Fatalf("no python3 with venv and ensurepip that nobody can run among %v: install python3-venv system-wide (apt-get install -y python3-venv)", cands)
	return ""
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// recipe is a recipe every account can build from and launch.
func (s *site) recipe() string {
	return testkit.RecipeTOML(s.wheels, "python = "+tomlQuote(s.python)+"\n")
}

func tomlQuote(s string) string {
	b, _ := json.Marshal(s) // a JSON string of a path is a valid TOML basic string
	return string(b)
}

// account runs rezup as one user under one umask.
type account struct {
	*testkit.Session
	prefix []string // what runs before rezup's own arguments
}

func (a *account) run(args ...string) testkit.Result {
	a.T.Helper()
	return a.Run(append(slices.Clone(a.prefix), args...)...)
}

func (a *account) mustRun(args ...string) testkit.Result {
	a.T.Helper()
	return a.MustRun(append(slices.Clone(a.prefix), args...)...)
}

// admin is root with its own HOME, running rezup under umask.
func (s *site) admin(t *testing.T, umask string) *account {
	t.Helper()
	sess := testkit.NewSession(t, "/bin/sh")
	return &account{sess, []string{"-c", "umask " + umask + `; exec "$@"`, "sh", s.bin}}
}

// nobody is the second account, with a HOME of its own, umask 022.
func (s *site) nobody(t *testing.T) *account {
	t.Helper()
	sess := testkit.NewSession(t, "/bin/sh")
	home, err := os.MkdirTemp(s.base, "home-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	sess.Home, sess.Env["HOME"], sess.Env["USERPROFILE"] = home, home, home
	return &account{sess, []string{"-c", `umask 022; exec "$@"`, "sh",
		"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", s.bin}}
}

// ageStamp sets the use-stamp of every store entry of root two hours
// back, so that the next launch tries to refresh it.
func ageStamp(t *testing.T, root string) time.Time {
	t.Helper()
	old := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	locks, _ := filepath.Glob(filepath.Join(root, ".store", "*.lock"))
	if len(locks) == 0 {
		t.Fatalf("no lock file in %s/.store", root)
	}
	for _, l := range locks {
		if err := os.Chtimes(l, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return old
}

// checkStamp fails unless lock's use-stamp is still at.
func checkStamp(t *testing.T, lock string, at time.Time) {
	t.Helper()
	fi, err := os.Stat(lock)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(at) {
		t.Errorf("use-stamp of %s is %v, want it left at %v", lock, fi.ModTime(), at)
	}
}

// listing is every path under root with its mode: what "nothing
// changed" is compared on.
func listing(t *testing.T, root string) map[string]fs.FileMode {
	t.Helper()
	out := map[string]fs.FileMode{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fi.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkModes walks root and reports what a plain mkdir and cp under the
// umask would not have made: directories must be dir, regular files one
// of files (archives of the shared cache are read-only: archive), or in a
// venv's bin/ also one of binFiles: python's venv module copies its
// activate scripts with the interpreter's own modes and chmods the
// python it copies to 0755. A build (.store/<key>) is read-only: the same
// modes without their write bits; so are the objects of .store/objects. Anything under .tmp (private staging)
// is not looked at.
func checkModes(t *testing.T, root string, dir fs.FileMode, files, binFiles []fs.FileMode, archive fs.FileMode) {
	t.Helper()
	bad := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if filepath.Base(filepath.Dir(p)) == ".tmp" {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m := fi.Mode()
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(rel, string(filepath.Separator))
		ro := fs.FileMode(0)
		switch {
		case len(parts) >= 2 && parts[0] == ".store" && parts[1] == "objects":
			if !m.IsDir() {
				ro = 0o222 // an object; the store's directories are written
			}
		case len(parts) >= 2 && parts[0] == ".store" && (len(parts) > 2 || m.IsDir()):
			ro = 0o222 // in a build
		}
		in := func(modes []fs.FileMode) bool {
			return slices.ContainsFunc(modes, func(want fs.FileMode) bool { return m.Perm() == want&^ro })
		}
		ok := true
		switch {
		case m.IsDir():
			ok = m.Perm() == dir&^ro
		case m.IsRegular() && strings.HasSuffix(p, ".tar.zst"):
			ok = m.Perm() == archive
		case m.IsRegular():
			ok = in(files) || filepath.Base(filepath.Dir(p)) == "bin" && in(binFiles)
		}
		if !ok {
			if bad++; bad <= 10 {
				t.Errorf("%s: %v (want directories %v, files %v)", p, m, fs.ModeDir|dir, files)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// B (nobody) launches what A (root) built in a shared local root it
// cannot write, and changes nothing there; a first materialization by B
// fails in one line naming the directory.
func TestSecondAccountUsesASharedLocalRoot(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	shared := filepath.Join(s.base, "shared")
	a := s.admin(t, "022")
	a.Env["REZUP_ROOT_LOCAL"] = shared
	a.WriteFile("rezup.toml", s.recipe())
	a.mustRun("add", "--skip-use")
	keys := storeEntries(t, shared)
	if len(keys) != 1 {
		t.Fatalf("store entries: %v", keys)
	}
	checkModes(t, shared, 0o755, []fs.FileMode{0o644, 0o755}, nil, 0o444)

	stamp := ageStamp(t, shared)
	before := listing(t, shared)
	b := s.nobody(t)
	b.Env["REZUP_ROOT_LOCAL"] = shared
	res := b.mustRun("use", "--", "rez-env", "maya")
	r := rezReport(t, res.Stdout)
	if want := filepath.Join(shared, ".store", keys[0], "venv", "rez", "bin", "rez", "rez-env"); r.Script != want {
		t.Errorf("nobody ran %s, want %s", r.Script, want)
	}
	if !slices.Equal(r.Argv[1:], []string{"maya"}) {
		t.Errorf("argv %v", r.Argv)
	}
	if diff := diffListings(before, listing(t, shared)); diff != "" {
		t.Errorf("nobody's launch changed A's root:\n%s", diff)
	}
	checkStamp(t, filepath.Join(shared, ".store", keys[0]+".lock"), stamp)

	// B builds something new: in A's root, and in a fresh root A made.
	cold := filepath.Join(s.base, "cold")
	if err := os.Mkdir(cold, 0o755); err != nil {
		t.Fatal(err)
	}
	b.WriteFile("rezup.other.toml", s.recipe()+"\n[build]\nsalt = \"b\"\n")
	for _, root := range []string{shared, cold} {
		t.Run(filepath.Base(root), func(t *testing.T) {
			b.Env["REZUP_ROOT_LOCAL"] = root
			before := listing(t, root)
			res := b.run("add", "other", "--skip-use")
			want := "rezup: error: cannot write to " + filepath.Join(root, ".tmp") + ": permission denied\n" +
				"rezup: hint: ask the owner of " + root + ", or use a root of your own (REZUP_ROOT_LOCAL)\n"
			if res.Code != 1 || !strings.HasSuffix(res.Stderr, want) || strings.Count(res.Stderr, "rezup: error:") != 1 {
				t.Errorf("exit %d, stderr:\n%s\nwant it to end with:\n%s", res.Code, res.Stderr, want)
			}
			if diff := diffListings(before, listing(t, root)); diff != "" {
				t.Errorf("a failed add changed the root:\n%s", diff)
			}
		})
	}
}

func diffListings(before, after map[string]fs.FileMode) string {
	var b strings.Builder
	for p, m := range after {
		if bm, ok := before[p]; !ok {
			b.WriteString("new: " + p + "\n")
		} else if bm != m {
			b.WriteString("mode changed: " + p + " " + bm.String() + " -> " + m.String() + "\n")
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			b.WriteString("gone: " + p + "\n")
		}
	}
	return b.String()
}

// pythonRezupReader reads a remote revision the way the Python rezup
// does (container.py, Revision): list <remote>/<name>/revisions newest
// first, keep names that are timestamps with a rezup.toml file, read
// revision.json with json and the frozen recipe as TOML. It prints the
// latest ready one.
const pythonRezupReader = `import json, os, sys, tomllib
root, name = sys.argv[1], sys.argv[2]
revs = os.path.join(root, name, "revisions")
for entry in sorted(os.listdir(revs), reverse=True):
    path = os.path.join(revs, entry)
    try:
        float(entry)
    except ValueError:
        continue
    if not os.path.isfile(os.path.join(path, "rezup.toml")):
        continue
    if not os.path.isfile(os.path.join(path, "revision.json")):
        continue
    with open(os.path.join(path, "revision.json")) as f:
        meta = json.load(f)
    with open(os.path.join(path, "rezup.toml"), "rb") as f:
        recipe = tomllib.load(f)
    print(json.dumps({"revision": entry, "key": meta.get("key"), "venvs": meta["venvs"],
                      "creator": meta["creator"], "rez_url": recipe["rez"]["url"]}))
    break
else:
    sys.exit("no ready revision")
`

// A farm node account launches what the admin published, from a node
// root the admin pre-warmed with pull and the node account cannot write;
// the Python rezup, as nobody, reads the remote revision this rezup wrote.
func TestNodeAccountUsesAdminsRemoteRevision(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	remote := filepath.Join(s.base, "remote")
	node := filepath.Join(s.base, "node")
	admin := s.admin(t, "022")
	admin.Env["REZUP_ROOT_REMOTE"] = remote
	admin.Env["REZUP_ROOT_LOCAL"] = filepath.Join(s.base, "admin")
	admin.WriteFile("rezup.prod.toml", s.recipe())
	admin.mustRun("add", "prod", "--remote", "--skip-use")
	admin.Env["REZUP_ROOT_LOCAL"] = node
	admin.mustRun("pull", "prod")
	revs := revisions(t, remote, "prod")
	keys := storeEntries(t, node)
	if len(revs) != 1 || len(keys) != 1 {
		t.Fatalf("remote revisions %v, node entries %v", revs, keys)
	}
	ageStamp(t, node)

	n := s.nobody(t)
	n.Env["REZUP_ROOT_REMOTE"] = remote
	n.Env["REZUP_ROOT_LOCAL"] = node
	before := listing(t, node)
	res := n.mustRun("use", "prod", "--", "rez-env", "nuke")
	r := rezReport(t, res.Stdout)
	if want := filepath.Join(node, ".store", keys[0], "venv", "rez", "bin", "rez", "rez-env"); r.Script != want {
		t.Errorf("node ran %s, want %s", r.Script, want)
	}
	if r.Env["REZUP_USING_REMOTE"] != "yes" {
		t.Errorf("REZUP_USING_REMOTE = %q, want yes", r.Env["REZUP_USING_REMOTE"])
	}
	if diff := diffListings(before, listing(t, node)); diff != "" {
		t.Errorf("the node account's launch changed the node root:\n%s", diff)
	}

	t.Run("python rezup reads it as nobody", func(t *testing.T) {
		cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
			s.python, "-c", pythonRezupReader, remote, "prod")
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python reader as nobody: %v\n%s", err, out)
		}
		var got struct {
			Revision, Key, Creator string
			RezURL                 string `json:"rez_url"`
			Venvs                  []string
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("reader output: %v\n%s", err, out)
		}
		if got.Revision != revs[0] || got.Key != keys[0] || got.Creator != "root" ||
			got.RezURL != "rez=="+testkit.RezVersion || !slices.Equal(got.Venvs, []string{"rez"}) {
			t.Errorf("the reader saw %+v, want revision %s, key %s", got, revs[0], keys[0])
		}
	})

	t.Run("modes", func(t *testing.T) {
		for _, root := range []string{remote, node, filepath.Join(s.base, "admin")} {
			checkModes(t, root, 0o755, []fs.FileMode{0o644, 0o755}, nil, 0o444)
		}
	})
}

// Under umask 002 (a group-shared root), what is published is
// group-writable (revisions, the cache entry, and what a node pulls from
// it) but the builds, which are read-only for everyone; and the store, the
// staging area and revisions directories of the group-shared roots are
// sticky, as /tmp is.
func TestGroupUmaskMakesGroupWritableRoots(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	remote := filepath.Join(s.base, "remote")
	local := filepath.Join(s.base, "local")
	node := filepath.Join(s.base, "node")
	admin := s.admin(t, "002")
	admin.Env["REZUP_ROOT_REMOTE"] = remote
	admin.Env["REZUP_ROOT_LOCAL"] = local
	admin.WriteFile("rezup.g.toml", s.recipe())
	admin.mustRun("add", "g", "--remote", "--skip-use")
	admin.Env["REZUP_ROOT_LOCAL"] = node
	admin.mustRun("pull", "g")

	keys := storeEntries(t, local)
	revs := revisions(t, remote, "g")
	if len(keys) != 1 || len(revs) != 1 {
		t.Fatalf("entries %v, remote revisions %v", keys, revs)
	}
	k := keys[0]
	for p, want := range map[string]fs.FileMode{
		filepath.Join(local, ".store"):                                  fs.ModeDir | fs.ModeSticky | 0o775,
		filepath.Join(local, ".tmp"):                                    fs.ModeDir | fs.ModeSticky | 0o775,
		filepath.Join(local, ".store", k):                               fs.ModeDir | 0o555,
		filepath.Join(local, ".store", k, ".rezup", "manifest.json"):    0o444,
		filepath.Join(remote, "g", "revisions"):                         fs.ModeDir | fs.ModeSticky | 0o775,
		filepath.Join(local, ".store", k+".lock"):                       0o664,
		filepath.Join(remote, "g", "revisions", revs[0]):                fs.ModeDir | 0o775,
		filepath.Join(remote, "g", "revisions", revs[0], "rezup.toml"):  0o664,
		filepath.Join(remote, ".cache", k):                              fs.ModeDir | 0o775,
		filepath.Join(remote, ".cache", k, "entry.json"):                0o664,
		filepath.Join(node, ".store", k):                                fs.ModeDir | 0o555,
		filepath.Join(node, "g", "revisions"):                           fs.ModeDir | fs.ModeSticky | 0o775,
		filepath.Join(node, "g", "revisions", revs[0]):                  fs.ModeDir | 0o775,
		filepath.Join(node, "g", "revisions", revs[0], "revision.json"): 0o664,
		filepath.Join(node, ".store", k+".lock"):                        0o664,
	} {
		if fi, err := os.Stat(p); err != nil {
			t.Error(err)
		} else if fi.Mode() != want {
			t.Errorf("%s: %v, want %v", p, fi.Mode(), want)
		}
	}
	for _, root := range []string{local, remote, node} {
		checkModes(t, root, 0o775, []fs.FileMode{0o664, 0o775}, []fs.FileMode{0o644, 0o755}, 0o444)
	}
}

// A complete build in a read-only local root (a read-only bind mount in a
// private mount namespace) launches, with its use-stamp left as it was.
func TestReadOnlyLocalRootLaunches(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	testkit.RequireTool(t, "mount")
	root := filepath.Join(s.base, "ro")
	a := s.admin(t, "022")
	a.Env["REZUP_ROOT_LOCAL"] = root
	a.WriteFile("rezup.toml", s.recipe())
	a.mustRun("add", "--skip-use")
	keys := storeEntries(t, root)
	stamp := ageStamp(t, root)

	// The probe proves the mount is read-only before rezup runs in it.
	sess := testkit.NewSession(t, testkit.RequireTool(t, "unshare"))
	sess.Env["REZUP_ROOT_LOCAL"] = root
	ro := &account{sess, []string{"-m", "sh", "-c",
		`mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" || exit 97
if touch "$1/.store/probe" 2>/dev/null; then exit 98; fi
umask 022; shift; exec "$@"`, "sh", root, s.bin}}
	res := ro.run("use", "--", "rez-env", "maya")
	switch res.Code {
	case 97:
		t.Fatalf("cannot make a read-only bind mount here (unshare -m, mount -o remount,ro,bind):\n%s", res.Stderr)
	case 98:
		t.Fatalf("the bind mount of %s is writable", root)
	case 0:
	default:
		t.Fatalf("use in a read-only root: exit %d\n%s", res.Code, res.Stderr)
	}
	r := rezReport(t, res.Stdout)
	if want := filepath.Join(root, ".store", keys[0], "venv", "rez", "bin", "rez", "rez-env"); r.Script != want {
		t.Errorf("ran %s, want %s", r.Script, want)
	}
	checkStamp(t, filepath.Join(root, ".store", keys[0]+".lock"), stamp)

	// gc there cannot remove what it would (trash of a crashed removal):
	// it says so, and does not fail.
	if err := os.MkdirAll(filepath.Join(root, ".tmp", "trash-left", "venv"), 0o755); err != nil {
		t.Fatal(err)
	}
	res = ro.run("gc", "--json")
	if res.Code != 0 {
		t.Fatalf("gc in a read-only root: exit %d\n%s", res.Code, res.Stderr)
	}
	if rep := gcReport(t, res.Stdout); !hasItem(rep.Skipped, gc.KindTrash, "trash-left", gc.ReasonNotWritable) || len(rep.Errors) != 0 || len(rep.Removed) != 0 {
		t.Errorf("gc in a read-only root: skipped %+v, removed %+v, errors %q; want the trash skipped as not-writable", rep.Skipped, rep.Removed, rep.Errors)
	}
}
