package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/internal/testkit"
)

// A revision the Python rezup built in a shared ~/.rezup launches from its
// own venv: no pip (the wheels it was built from are gone, and the recipe
// still names them), no store entry. gc and drop treat it as a revision,
// its venv going with it, never while a job runs in it.
func TestPythonBuiltRevisionIsAdopted(t *testing.T) {
	t.Parallel()
	s, shared := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	wheels := filepath.Join(t.TempDir(), "wheels")
	copyDir(t, shared, wheels)
	recipeText := testkit.RecipeTOML(wheels, "")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(shared, ""))
	revDir := testkit.PythonRezupRevision(t, root, ".main", time.Now().Add(-time.Hour), recipeText, wheels)
	rev := filepath.Base(revDir)
	if err := os.RemoveAll(wheels); err != nil {
		t.Fatal(err)
	}

	res := s.MustRun("-D", "use", "--", "rez-env")
	r := rezReport(t, res.Stdout)
	prodBin := filepath.Join(revDir, "venv", "rez", "bin", "rez")
	if filepath.Dir(r.Script) != prodBin || !r.ProductionMarker || !r.IgnoreEnvironment {
		t.Errorf("rez-env ran from %s (marker %v, -E %v), want the revision's own %s", r.Script, r.ProductionMarker, r.IgnoreEnvironment, prodBin)
	}
	if r.Prefix != filepath.Join(revDir, "venv", "rez") || r.Path0 != prodBin {
		t.Errorf("prefix %s, PATH[0] %s: not the revision's venv", r.Prefix, r.Path0)
	}
	if strings.Contains(res.Stderr, "Successfully installed") || strings.Contains(res.Stderr, "building") {
		t.Errorf("the launch built something:\n%s", res.Stderr)
	}
	if keys := storeEntries(t, root); len(keys) != 0 {
		t.Fatalf("the launch made store entries %v", keys)
	}
	b, _ := os.ReadFile(filepath.Join(revDir, "revision.json"))
	if strings.Contains(string(b), `"key"`) || strings.HasSuffix(string(b), "\n") {
		t.Errorf("revision.json was rewritten:\n%s", b)
	}
	lock := filepath.Join(revDir, "venv", ".rezup-use.lock")
	if _, err := os.Stat(lock); err != nil {
		t.Errorf("no in-use lock for the revision: %v", err)
	}
	if res := s.MustRun("pull", "-l"); !strings.Contains(res.Stdout, "python-rezup") {
		t.Errorf("pull does not say who built it:\n%s", res.Stdout)
	}

	var st statusContainer
	if err := json.Unmarshal([]byte(s.MustRun("status", ".main", "--json").Stdout), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Revisions) != 1 {
		t.Fatalf("status revisions: %+v", st.Revisions)
	}
	sr := st.Revisions[0]
	if !sr.Ready || !sr.Built || sr.BuiltBy != "python-rezup" || sr.Key != "" || sr.RezVersion != testkit.RezVersion || sr.Bytes < 1000 {
		t.Errorf("status of the Python-built revision: %+v", sr)
	}
	if out := s.MustRun("status", ".main").Stdout; !strings.Contains(out, "python-rezup") {
		t.Errorf("status table does not show it as built by the Python rezup:\n%s", out)
	}

	// A job runs in it; a newer revision replaces it. gc keeps it while
	// the job runs, and removes it, venv and all, once it ends.
	marker := filepath.Join(s.Home, "started")
	// Long enough to outlast a build on a loaded machine; killed below.
	job := s.Start("use", "--", "sh", "-c", "touch "+marker+"; exec sleep 600")
	waitFor(t, func() bool { _, err := os.Stat(marker); return err == nil })
	s.MustRun("add", "-s")
	if got := revisions(t, root, ".main"); len(got) != 2 || len(storeEntries(t, root)) != 1 {
		t.Fatalf("revisions %v, entries %v after add", got, storeEntries(t, root))
	}
	rep := gcReport(t, s.MustRun("gc", "--keep", "1", "--json").Stdout)
	if !hasItem(rep.Kept, gc.KindRevision, rev, gc.ReasonInUse) || len(rep.Removed) != 0 {
		t.Fatalf("gc while a job runs in the Python-built revision: kept %+v, removed %+v", rep.Kept, rep.Removed)
	}
	if res := s.Run("drop", ".main", "--force"); res.Code == 0 || !strings.Contains(res.Stderr, "in use") {
		t.Fatalf("drop --force while a job runs in its venv: exit %d\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(filepath.Join(prodBin, "rez-env")); err != nil {
		t.Fatalf("the venv went while in use: %v", err)
	}
	job.Process.Kill()
	job.Wait()

	size := dirSize(t, revDir)
	rep = gcReport(t, s.MustRun("gc", "--keep", "1", "--json").Stdout)
	if !hasItem(rep.Removed, gc.KindRevision, rev, gc.ReasonOld) {
		t.Fatalf("gc once the job ended: removed %+v, kept %+v", rep.Removed, rep.Kept)
	}
	for _, it := range rep.Removed {
		if it.Kind != gc.KindRevision {
			t.Errorf("gc removed %s %s too", it.Kind, it.Name)
		}
	}
	if rep.RemovedBytes != size {
		t.Errorf("gc freed %d bytes, the revision held %d", rep.RemovedBytes, size)
	}
	if _, err := os.Stat(revDir); !os.IsNotExist(err) {
		t.Errorf("the revision is still there: %v", err)
	}
	if got := storeEntries(t, root); len(got) != 1 {
		t.Errorf("entries after gc: %v", got)
	}
	s.MustRun("use", "--", "rez-env")
}

// drop removes a Python-built revision with its container, when no job
// runs in it.
func TestDropPythonBuiltRevision(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	testkit.PythonRezupRevision(t, root, "legacy", time.Now(), testkit.RecipeTOML(wh, ""), wh)
	res := s.MustRun("drop", "legacy")
	if !strings.Contains(res.Stdout, "1 revision(s), 0 build(s)") {
		t.Errorf("drop output:\n%s", res.Stdout)
	}
	if _, err := os.Stat(filepath.Join(root, "legacy")); !os.IsNotExist(err) {
		t.Errorf("the container is still there: %v", err)
	}
}

// Where the in-use lock cannot be made (here: its path is a directory, as
// a root the user cannot write gives a permission error), the revision
// launches anyway, and says so with -D.
func TestPythonBuiltRevisionWithoutLock(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	revDir := testkit.PythonRezupRevision(t, root, ".main", time.Now(), testkit.RecipeTOML(wh, ""), wh)
	if err := os.Mkdir(filepath.Join(revDir, "venv", ".rezup-use.lock"), 0o755); err != nil {
		t.Fatal(err)
	}
	res := s.MustRun("-D", "use", "--", "rez-env")
	if r := rezReport(t, res.Stdout); !strings.HasPrefix(r.Script, revDir) {
		t.Errorf("rez-env ran from %s", r.Script)
	}
	if !strings.Contains(res.Stderr, "without its in-use lock") {
		t.Errorf("no debug line about the lock:\n%s", res.Stderr)
	}
}

// A corrupt latest revision.json: use falls back to the revision before
// it with one warning line, and status lists it as unreadable.
func TestCorruptLatestRevisionFallsBack(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	root := filepath.Join(s.Home, ".rezup")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "-s")
	s.MustRun("add", "-s")
	revs := revisions(t, root, ".main")
	slices.Sort(revs)
	if len(revs) != 2 {
		t.Fatalf("revisions: %v", revs)
	}
	older, newer := revs[0], revs[1]
	if err := os.WriteFile(filepath.Join(root, ".main", "revisions", newer, "revision.json"), []byte(`{"key": "`), 0o644); err != nil {
		t.Fatal(err)
	}
	res := s.MustRun("use", "--", "rez-env")
	if r := rezReport(t, res.Stdout); r.RezVersion != testkit.RezVersion {
		t.Errorf("report: %+v", r)
	}
	var warns []string
	for _, l := range strings.Split(strings.TrimSpace(res.Stderr), "\n") {
		if strings.Contains(l, "warning") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], newer) || !strings.Contains(warns[0], older) {
		t.Errorf("want one warning naming %s and %s, got:\n%s", newer, older, res.Stderr)
	}
	var st statusContainer
	if err := json.Unmarshal([]byte(s.MustRun("status", ".main", "--json").Stdout), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Revisions) != 2 || st.Revisions[0].Name != newer || st.Revisions[0].Error == "" || st.Revisions[0].Ready {
		t.Errorf("status: %+v", st.Revisions)
	}
	if out := s.MustRun("status", ".main").Stdout; !strings.Contains(out, "unreadable") {
		t.Errorf("status table:\n%s", out)
	}
	// gc keeps it for people to judge, and says so.
	rep := gcReport(t, s.MustRun("gc", "--keep", "1", "--json").Stdout)
	if !hasItem(rep.Kept, gc.KindRevision, newer, gc.ReasonUnreadable) || len(rep.Warnings) != 1 {
		t.Errorf("gc: kept %+v, warnings %v", rep.Kept, rep.Warnings)
	}
}

// The Python rezup's short flags: add -s, add -r -s, use -l, use -n.
func TestPythonRezupShortFlags(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	s := f.admin
	root := filepath.Join(s.Home, ".rezup")
	s.WriteFile("rezup.toml", testkit.RecipeTOML(f.wheels, ""))
	s.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))

	if res := s.MustRun("add", "-s"); strings.TrimSpace(res.Stdout) != "" {
		t.Errorf("add -s opened something:\n%s", res.Stdout)
	}
	if got := revisions(t, root, ".main"); len(got) != 1 {
		t.Fatalf("local revisions after add -s: %v", got)
	}
	s.MustRun("add", "prod", "-r", "-s")
	if got := revisions(t, f.remote, "prod"); len(got) != 1 {
		t.Fatalf("remote revisions after add prod -r -s: %v", got)
	}
	if got := revisions(t, root, "prod"); len(got) != 0 {
		t.Errorf("add -r -s wrote local revisions %v", got)
	}
	s.MustRun("use", "-l", "--", "true")
	// -l ignores the remote root: with only a remote revision, prod has
	// no local one to use.
	if res := s.Run("use", "prod", "-l", "--", "true"); res.Code == 0 {
		t.Errorf("use prod -l used the remote revision")
	}
	out := filepath.Join(s.Home, "no-wait")
	s.MustRun("use", "-n", "--", "sh", "-c", "echo $REZUP_CONTAINER > "+out)
	waitFor(t, func() bool {
		b, _ := os.ReadFile(out)
		return strings.TrimSpace(string(b)) == ".main"
	})
	s.MustRun("use", "-n", "--", "true")
	if res := s.Run("use", "-n"); res.Code != 2 {
		t.Errorf("use -n without a command: exit %d, want 2", res.Code)
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
