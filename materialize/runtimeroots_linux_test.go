package materialize_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

// usedBy checks that err is a removal refused because pid uses what (a
// *UsedError, ErrInUse).
func usedBy(t *testing.T, err error, what string, pid int) {
	t.Helper()
	var used *materialize.UsedError
	if !errors.As(err, &used) || !errors.Is(err, materialize.ErrInUse) || used.What != what || used.By.PID != pid ||
		!strings.Contains(err.Error(), what+" is in use by pid "+strconv.Itoa(pid)+" (") {
		t.Errorf("err %v, want %s in use by pid %d", err, what, pid)
	}
}

// Drop looks at the running processes under its locks: a job that uses the
// container without a lock refuses it, with nothing removed. A revision in
// use refuses it even with force (its job needs its path); a build in use
// stays with force, as one whose lock is held does.
func TestDropKeepsWhatProcessesUse(t *testing.T) {
	f := testkit.NewFakeRoot(t, t.TempDir())
	f.Entry(testkit.FakeKey(1), 10, t0)
	f.Entry(testkit.FakeKey(2), 10, t0)
	f.Entry(testkit.FakeKey(3), 10, t0)
	r1 := f.Revision("dev", t0, testkit.FakeKey(1))
	f.Revision("dev", t0.Add(time.Hour), testkit.FakeKey(2))
	py := f.PythonRevision("py", t0, 10)
	f.Revision("prod", t0, testkit.FakeKey(3))
	s := storeAt(f.Dir, t0)
	revDir := func(c, name string) string { return filepath.Join(f.Dir, c, "revisions", name) }
	revisions := func(c string) int {
		revs, err := s.Root().Revisions(c)
		if err != nil {
			t.Fatal(err)
		}
		return len(revs)
	}

	// The Python rezup's job: the revision's venv on PATH, no lock.
	job := testkit.Sleeper(t, "/")
	job.Env = []string{"PATH=" + filepath.Join(revDir("dev", r1), "venv", "rez", "bin", "rez") + ":/usr/bin:/bin"}
	pyJob := job.Start(t)
	for _, force := range []bool{false, true} {
		_, err := s.Drop(context.Background(), "dev", force)
		usedBy(t, err, "revision "+r1+" of dev", pyJob)
		if n := revisions("dev"); n != 2 {
			t.Fatalf("a refused drop (force %v) removed revisions: %d left", force, n)
		}
	}

	// A program started as the Python-built revision's venv python.
	venvPython := filepath.Join(revDir("py", py), "venv", "rez", "bin", "python")
	if err := os.Symlink(testkit.RequireTool(t, "sleep"), venvPython); err != nil {
		t.Fatal(err)
	}
	started := testkit.Job{Exe: venvPython, Args: []string{venvPython, "600"}, Env: []string{"PATH=/usr/bin:/bin"}}.Start(t)
	_, err := s.Drop(context.Background(), "py", true)
	usedBy(t, err, "revision "+py+" of py", started)
	if n := revisions("py"); n != 1 {
		t.Fatalf("drop --force of a revision in use removed it")
	}

	// A shell in prod's build (its cwd is the build, resolved).
	shell := testkit.Sleeper(t, filepath.Join(f.Dir, ".store", testkit.FakeKey(3), "venv")).Start(t)
	_, err = s.Drop(context.Background(), "prod", false)
	usedBy(t, err, "build "+testkit.FakeKey(3), shell)
	res, err := s.Drop(context.Background(), "prod", true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revisions != 1 || len(res.Entries) != 0 || !slices.Equal(res.InUse, []cas.Key{key(t, 3)}) {
		t.Errorf("drop --force prod: %+v, want its revision gone and its build kept in use", res)
	}
	if _, err := os.Stat(filepath.Join(f.Dir, ".store", testkit.FakeKey(3))); err != nil {
		t.Errorf("the build in use went: %v", err)
	}
}

// Repair looks at the running processes under the build's lock: a
// process in the build, with no lock, refuses it.
func TestRepairKeepsWhatProcessesUse(t *testing.T) {
	dir := t.TempDir()
	entry := damagedEntry(t, dir, testkit.FakeKey(5))
	s := storeAt(dir, t0)
	pid := testkit.Sleeper(t, filepath.Join(entry, "venv")).Start(t)
	err := s.Repair(key(t, 5))
	usedBy(t, err, "build "+testkit.FakeKey(5), pid)
	if _, err := os.Stat(entry); err != nil {
		t.Errorf("the build in use went: %v", err)
	}
}

// RemoveEntry and RemoveRevision without a look at the processes take one
// under their lock.
func TestRemoveLooksAtProcesses(t *testing.T) {
	f := testkit.NewFakeRoot(t, t.TempDir())
	f.Entry(testkit.FakeKey(1), 10, t0)
	name := f.Revision("dev", t0, testkit.FakeKey(1))
	s := storeAt(f.Dir, t0)
	rev, err := s.Root().Revision("dev", name)
	if err != nil {
		t.Fatal(err)
	}
	pid := testkit.Sleeper(t, filepath.Join(f.Dir, "dev", "revisions", name)).Start(t)
	usedBy(t, s.RemoveRevision(rev, nil), "revision "+name+" of dev", pid)
	pid = testkit.Sleeper(t, filepath.Join(f.Dir, ".store", testkit.FakeKey(1), "venv", "rez")).Start(t)
	usedBy(t, s.RemoveEntry(key(t, 1), nil), "build "+testkit.FakeKey(1), pid)
}

// A root reached through a symlink (~/.rezup -> /data/rezup): processes
// show it as they were told it (cmdline, PATH) or resolved (cwd, maps,
// fds), and both count.
func TestRuntimeRootsThroughALink(t *testing.T) {
	real := filepath.Join(t.TempDir(), "data")
	f := testkit.NewFakeRoot(t, real)
	f.Entry(testkit.FakeKey(1), 10, t0)
	f.Entry(testkit.FakeKey(2), 10, t0)
	name := f.Revision("dev", t0, testkit.FakeKey(1))
	link := filepath.Join(t.TempDir(), ".rezup")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	s := storeAt(link, t0)
	rev, err := s.Root().Revision("dev", name)
	if err != nil {
		t.Fatal(err)
	}
	named := testkit.Sleeper(t, "/")
	named.Env = []string{"PATH=" + filepath.Join(link, "dev", "revisions", name, "venv", "rez", "bin", "rez") + ":/usr/bin:/bin"}
	pathJob := named.Start(t)
	cwdJob := testkit.Sleeper(t, filepath.Join(link, ".store", testkit.FakeKey(2), "venv")).Start(t) // the kernel shows it under real
	rr := s.FindRuntimeRoots(context.Background())
	if u, ok := rr.Revision(rev); !ok || u.PID != pathJob || u.Via != "PATH" {
		t.Errorf("revision through the link: %v %v, want pid %d by PATH", u, ok, pathJob)
	}
	if u, ok := rr.Entry(key(t, 2)); !ok || u.PID != cwdJob || !strings.HasPrefix(u.Path, real) {
		t.Errorf("build, resolved: %v %v, want pid %d by its cwd under %s", u, ok, cwdJob, real)
	}
	if u, ok := rr.Entry(key(t, 1)); ok {
		t.Errorf("build 1 in use by %v: only its revision's PATH names it", u)
	}
}
