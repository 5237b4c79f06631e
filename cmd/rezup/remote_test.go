package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/testkit"
)

// farm is an admin who publishes to a remote root and a shared cache, and
// the wheels the admin built from (which nodes must never need).
type farm struct {
	admin  *testkit.Session
	remote string
	wheels string
}

// newFarm is a farm whose admin has built nothing yet; the tests that
// take one build (an admin's add, or a node's build of a key no cache
// has), so it is newBuilder's: out of the fast tier.
func newFarm(t *testing.T) *farm {
	t.Helper()
	admin, shared := newBuilder(t)
	// A private copy of the wheels, deleted once published: nodes must
	// not run pip.
	wheels := filepath.Join(t.TempDir(), "wheels")
	copyDir(t, shared, wheels)
	remote := filepath.Join(t.TempDir(), "remote")
	admin.Env["REZUP_ROOT_REMOTE"] = remote
	return &farm{admin: admin, remote: remote, wheels: wheels}
}

// node is a new machine of the farm: its own HOME and local root, no
// recipe, the remote root in its environment.
func (f *farm) node(t *testing.T, localRoot string) *testkit.Session {
	t.Helper()
	s := testkit.NewSession(t, f.admin.Bin)
	s.Env["REZUP_ROOT_REMOTE"] = f.remote
	if localRoot != "" {
		s.Env["REZUP_ROOT_LOCAL"] = localRoot
	}
	return s
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pycSnapshot maps every .pyc under dir to its mtime.
func pycSnapshot(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	snap := map[string]time.Time{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".pyc") {
			if info, err := d.Info(); err == nil {
				snap[p] = info.ModTime()
			}
		}
		return nil
	})
	return snap
}

func TestPublishOnceMaterializeEverywhere(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	res := f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	if !strings.Contains(res.Stderr, "publishing") {
		t.Errorf("add --remote did not publish:\n%s", res.Stderr)
	}
	revs := revisions(t, f.remote, "prod")
	if len(revs) != 1 {
		t.Fatalf("remote revisions: %v", revs)
	}
	var meta struct{ Key string }
	b, err := os.ReadFile(filepath.Join(f.remote, "prod", "revisions", revs[0], "revision.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &meta)
	if len(meta.Key) != 32 {
		t.Fatalf("remote revision.json has no key: %s", b)
	}
	if _, err := os.Stat(filepath.Join(f.remote, ".cache", meta.Key, "entry.json")); err != nil {
		t.Fatalf("the build is not in the shared cache: %v", err)
	}
	if err := os.RemoveAll(f.wheels); err != nil {
		t.Fatal(err)
	}

	// A node whose root makes every shebang longer than 127 bytes.
	long := filepath.Join(t.TempDir(), strings.Repeat("n", 60), strings.Repeat("o", 60), "rezup-root")
	node := f.node(t, long)
	res = node.MustRun("use", "prod", "--", "rez-env", "maya")
	r := rezReport(t, res.Stdout)
	entry := filepath.Join(long, ".store", meta.Key)
	if want := filepath.Join(entry, "venv", "rez", "bin", "rez", "rez-env"); r.Script != want {
		t.Errorf("ran %s, want %s", r.Script, want)
	}
	if !r.IgnoreEnvironment || !r.ProductionMarker {
		t.Errorf("not a production entry point: %+v", r)
	}
	if r.Env["REZUP_USING_REMOTE"] != "yes" {
		t.Errorf("REZUP_USING_REMOTE = %q, want yes", r.Env["REZUP_USING_REMOTE"])
	}
	if !strings.Contains(res.Stderr, "fetched") || strings.Contains(res.Stderr, "installing") {
		t.Errorf("the node did not fetch, or ran pip:\n%s", res.Stderr)
	}
	script, _ := os.ReadFile(r.Script)
	if !strings.HasPrefix(string(script), "#!/bin/sh\n'''exec' ") {
		t.Errorf("a shebang over 127 bytes is not in the /bin/sh form:\n%.200s", script)
	}

	// mtimes survived: python finds every .pyc valid and writes none.
	before := pycSnapshot(t, entry)
	if len(before) == 0 {
		t.Fatal("no .pyc files in the materialized entry")
	}
	node.MustRun("use", "prod", "--", "rez-python", "-c", "import rez.cli._main, rez.system, rez.utils._version")
	after := pycSnapshot(t, entry)
	if len(after) != len(before) {
		t.Errorf("python wrote %d new .pyc files", len(after)-len(before))
	}
	for p, mt := range before {
		if !after[p].Equal(mt) {
			t.Errorf("python rewrote %s", p)
		}
	}

	// The remote revision is mirrored locally under the same name.
	if got := revisions(t, long, "prod"); len(got) != 1 || got[0] != revs[0] {
		t.Errorf("local mirror revisions = %v, want [%s]", got, revs[0])
	}
	var st struct {
		Remote    string `json:"remote"`
		Revisions []struct {
			From  string `json:"from"`
			Key   string `json:"key"`
			Built bool   `json:"built"`
		} `json:"revisions"`
	}
	if err := json.Unmarshal([]byte(node.MustRun("status", "prod", "--json").Stdout), &st); err != nil {
		t.Fatal(err)
	}
	// The remote revision and its mirror are one revision, here and there.
	if st.Remote != f.remote || len(st.Revisions) != 1 || st.Revisions[0].From != "both" || !st.Revisions[0].Built || st.Revisions[0].Key != meta.Key {
		t.Errorf("status prod --json on the node: %+v", st)
	}

	// --local ignores the remote root, and finds the mirror.
	r = rezReport(t, node.MustRun("use", "prod", "--local", "--", "rez-env").Stdout)
	if r.Env["REZUP_USING_REMOTE"] != "" {
		t.Errorf("--local: REZUP_USING_REMOTE = %q", r.Env["REZUP_USING_REMOTE"])
	}
}

func TestSixteenLaunchesOneFetch(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	os.RemoveAll(f.wheels)

	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	const n = 16
	var wg sync.WaitGroup
	results := make([]testkit.Result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = node.Run("use", "prod", "--", "rez-env", "job")
		}()
	}
	wg.Wait()
	fetched := 0
	for i, r := range results {
		if r.Code != 0 {
			t.Errorf("launch %d: exit %d\n%s", i, r.Code, r.Stderr)
			continue
		}
		rezReport(t, r.Stdout)
		fetched += strings.Count(r.Stderr, "rezup: fetched ")
	}
	if keys := storeEntries(t, root); len(keys) != 1 {
		t.Errorf("store entries: %v, want exactly one", keys)
	}
	if fetched != 1 {
		t.Errorf("%d fetches, want 1", fetched)
	}
}

// A node whose cache entry's archive is corrupt says so once (key and
// digest), builds from the frozen recipe and launches; the cache keeps
// its entry (nothing is published over it). The refused digest is
// remembered: when the build is needed again, the archive is not
// downloaded again.
func TestCorruptEntryFallsBackToBuilding(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	archives, _ := filepath.Glob(filepath.Join(f.remote, ".cache", "*", "*.tar.zst"))
	if len(archives) != 1 {
		t.Fatalf("archives: %v", archives)
	}
	b, err := os.ReadFile(archives[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	os.Chmod(archives[0], 0o644)
	if err := os.WriteFile(archives[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Base(filepath.Dir(archives[0]))
	digest := strings.TrimSuffix(filepath.Base(archives[0]), ".tar.zst")
	entryJSON := filepath.Join(f.remote, ".cache", key, "entry.json")
	entryBefore, err := os.ReadFile(entryJSON)
	if err != nil {
		t.Fatal(err)
	}

	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	res := node.MustRun("use", "prod", "--", "rez-env")
	t.Logf("corrupt: %s", res.Stderr)
	rezReport(t, res.Stdout)
	if n := linesWith(res.Stderr, digest); n != 1 || !strings.Contains(res.Stderr, "rezup: warning: the cache entry of "+key+" names archive "+digest) {
		t.Errorf("want one warning line naming key %s and digest %s (%d lines name it):\n%s", key, digest, n, res.Stderr)
	}
	if n := strings.Count(res.Stderr, "rezup: fetching "); n != 1 {
		t.Errorf("%d downloads, want 1:\n%s", n, res.Stderr)
	}
	if keys := storeEntries(t, root); len(keys) != 1 || keys[0] != key {
		t.Errorf("store entries: %v, want the local build of %s", keys, key)
	}
	if tmp, _ := filepath.Glob(filepath.Join(root, ".tmp", "*-*")); len(tmp) != 0 {
		t.Errorf("staging left behind: %v", tmp)
	}
	// Nothing was published over the refused entry.
	if after, _ := os.ReadFile(entryJSON); string(after) != string(entryBefore) {
		t.Errorf("entry.json changed:\n%s\nwas\n%s", after, entryBefore)
	}
	if now, _ := filepath.Glob(filepath.Join(f.remote, ".cache", key, "*")); len(now) != 2 {
		t.Errorf("the cache's key holds %v, want its entry and the one archive", now)
	}

	// The build is gone (as gc or drop would leave it): the next launch
	// builds again without downloading the refused archive.
	for _, p := range []string{filepath.Join(root, "prod"), filepath.Join(root, ".store", key)} {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	res = node.MustRun("-D", "use", "prod", "--", "rez-env")
	rezReport(t, res.Stdout)
	if strings.Contains(res.Stderr, "rezup: fetching ") || strings.Contains(res.Stderr, "rezup: warning: the cache entry") {
		t.Errorf("the refused archive was downloaded or reported again:\n%s", res.Stderr)
	}
	if !strings.Contains(res.Stderr, "refused here at") {
		t.Errorf("no debug line says the digest is remembered:\n%s", res.Stderr)
	}
}

// A remote revision written by the Python rezup has a recipe and a
// revision.json without a key: the node computes the key and builds.
func TestPythonRezupRemoteRevision(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	dir := filepath.Join(f.remote, "legacy", "revisions", "1619780350.588625")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "rezup.toml"), []byte("description = \"from the seed\"\n"+testkit.RecipeTOML(f.wheels, "")), 0o644)
	os.WriteFile(filepath.Join(dir, "revision.json"), []byte(`{"rezup_version": "2.5.0", "creator": "admin", "hostname": "ws1", "revision_path": "/old/path", "venvs": ["rez"]}`), 0o644)

	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	res := node.MustRun("use", "legacy", "--", "rez-env")
	r := rezReport(t, res.Stdout)
	if r.Env["REZUP_USING_REMOTE"] != "yes" || !r.ProductionMarker {
		t.Errorf("report: %+v", r)
	}
	keys := storeEntries(t, root)
	if len(keys) != 1 {
		t.Fatalf("store entries: %v", keys)
	}
	b, _ := os.ReadFile(filepath.Join(root, "legacy", "revisions", "1619780350.588625", "revision.json"))
	if !strings.Contains(string(b), keys[0]) {
		t.Errorf("the local mirror does not remember the key %s:\n%s", keys[0], b)
	}
	// The build went to the shared cache: the next node fetches it.
	if _, err := os.Stat(filepath.Join(f.remote, ".cache", keys[0], "entry.json")); err != nil {
		t.Errorf("the node's build was not published: %v", err)
	}
	other := f.node(t, filepath.Join(t.TempDir(), "node2"))
	os.RemoveAll(f.wheels)
	if res := other.MustRun("pull", "legacy"); !strings.Contains(res.Stderr, "fetched") {
		t.Errorf("the second node did not fetch:\n%s", res.Stderr)
	}
}

func TestMissingBaseInterpreterIsNamed(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	python := testkit.Python(t)
	real, err := filepath.EvalSymlinks(python)
	if err != nil {
		t.Fatal(err)
	}
	// The admin builds with an interpreter at a path nodes do not have.
	// (A pyenv shim is a script: resolve it to the real interpreter.)
	out, err := execOutput(real, "-c", "import sys; print(sys.executable)")
	if err != nil {
		t.Fatal(err)
	}
	pyDir := filepath.Join(t.TempDir(), "only-on-admin")
	os.MkdirAll(pyDir, 0o755)
	alias := filepath.Join(pyDir, "python3")
	if err := os.Symlink(strings.TrimSpace(out), alias); err != nil {
		t.Fatal(err)
	}
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, "python = \""+alias+"\"\n"))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	os.RemoveAll(pyDir)

	root := filepath.Join(t.TempDir(), "node")
	res := f.node(t, root).Run("use", "prod", "--", "true")
	t.Logf("missing base: %s", res.Stderr)
	if res.Code != 1 || !strings.Contains(res.Stderr, pyDir) {
		t.Fatalf("exit %d; the error does not name the missing interpreter in %s:\n%s", res.Code, pyDir, res.Stderr)
	}
	if keys := storeEntries(t, root); len(keys) != 0 {
		t.Errorf("store entries: %v", keys)
	}
}

// kill -9 while a node materializes leaves no visible half-state, and the
// next run completes.
func TestKilledMidMaterializeRecovers(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)

	killed := 0
	for attempt := 0; attempt < 5 && killed == 0; attempt++ {
		cmd := node.Start("pull", "prod")
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		// Kill as soon as a staging dir exists: mid-unpack.
	poll:
		for {
			select {
			case <-done:
				break poll
			default:
			}
			if m, _ := filepath.Glob(filepath.Join(root, ".tmp", "*-*")); len(m) > 0 {
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				killed++
				break poll
			}
			time.Sleep(time.Millisecond)
		}
		for _, k := range storeEntries(t, root) {
			if _, err := os.Stat(filepath.Join(root, ".store", k, ".rezup", "manifest.json")); err != nil {
				t.Fatalf("a half-made entry is visible: %s", k)
			}
		}
		if killed == 0 {
			// It finished first: start over on a fresh root.
			os.RemoveAll(root)
		}
	}
	t.Logf("killed %d time(s)", killed)
	if killed == 0 {
		t.Log("materialize always finished before it could be killed; checked the finished state only")
	}
	res := node.MustRun("use", "prod", "--", "rez-env")
	rezReport(t, res.Stdout)
	if keys := storeEntries(t, root); len(keys) != 1 {
		t.Errorf("store entries: %v", keys)
	}
	if tmp, _ := filepath.Glob(filepath.Join(root, ".tmp", "*-*")); len(tmp) != 0 {
		t.Errorf("stale staging not cleared: %v", tmp)
	}
}

// linesWith counts the lines of out that contain s.
func linesWith(out, s string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return string(out), err
}

// An edit-mode build points into a source tree on the machine that built
// it: a plain add with a writable shared cache builds it without
// publishing it, and add --remote refuses it before building, in one
// line with a hint, leaving the remote root without a revision.
func TestEditModeBuildIsNeverPublished(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	_, recipe := editModeRecipe(t, f.wheels, "")
	f.admin.WriteFile("rezup.dev.toml", recipe)
	res := f.admin.MustRun("add", "dev", "--skip-use")
	if !strings.Contains(res.Stderr, "not publishing") {
		t.Errorf("add did not say why it does not publish:\n%s", res.Stderr)
	}
	cache := filepath.Join(f.remote, ".cache")
	if ents, _ := filepath.Glob(filepath.Join(cache, "*", "entry.json")); len(ents) != 0 {
		t.Errorf("an edit-mode build was published: %v", ents)
	}
	if archives, _ := filepath.Glob(filepath.Join(cache, "*", "*.tar.zst")); len(archives) != 0 {
		t.Errorf("an edit-mode build was packed to the cache: %v", archives)
	}

	res = f.admin.Run("add", "dev", "--remote", "--skip-use")
	if res.Code == 0 {
		t.Fatalf("add --remote of an edit-mode recipe succeeded:\n%s", res.Stderr)
	}
	wantErr := "rezup: error: add --remote: rez is installed with edit = true, and an edit-mode build is never published (it points into a source tree on this machine)"
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if len(lines) != 2 || lines[0] != wantErr || !strings.HasPrefix(lines[1], "rezup: hint: remove edit = true from ") {
		t.Errorf("add --remote: stderr\n%s\nwant the line\n%s\nand a hint", res.Stderr, wantErr)
	}
	if revs := revisions(t, f.remote, "dev"); len(revs) != 0 {
		t.Errorf("remote revisions of an edit-mode recipe: %v", revs)
	}
}
