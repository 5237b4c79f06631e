package gc_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

// These tests run real processes in a root, as jobs do that hold no
// in-use lock: those the Python rezup launches (its `use` puts a
// revision's venv on PATH), and programs started from a venv by hand.

// item finds the item of kind and title in items.
func item(items []gc.Item, kind gc.Kind, title string) (gc.Item, bool) {
	for _, it := range items {
		if it.Kind == kind && it.Title() == title {
			return it, true
		}
	}
	return gc.Item{}, false
}

// inUseBy checks that items keep kind/title as in use by pid, shown as
// how (e.g. "sleep, cwd /…").
func inUseBy(t *testing.T, items []gc.Item, kind gc.Kind, title string, pid int, how string) {
	t.Helper()
	it, ok := item(items, kind, title)
	if !ok {
		t.Errorf("%s %s is not kept: %q", kind, title, titles(items))
		return
	}
	if want := "in use by pid " + strconv.Itoa(pid) + " (" + how; it.Reason != gc.ReasonInUse || !strings.Contains(it.Detail, want) {
		t.Errorf("%s %s: %s, %q; want in-use, %q", kind, title, it.Reason, it.Detail, want)
	}
}

// A revision or a build that a running process uses stays, in use by that
// process, though it holds no lock: a job with a revision's venv on PATH
// (the Python rezup's), a shell in a revision's venv (its cwd, resolved,
// is the build), a program started as a venv's bin/python, a pip still
// installing into a revision, a process with a build's file open. What no
// process uses goes.
func TestProcessesKeepWhatTheyUse(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	for i := 1; i <= 5; i++ {
		f.Entry(key(i), 10, at(0))
	}
	revs := filepath.Join(f.Dir, ".main", "revisions")
	onPATH := f.Revision(".main", at(0), key(1))
	unused := f.Revision(".main", at(day), key(2))
	entered := f.Revision(".main", at(2*day), key(3))
	python := f.PythonRevision(".main", at(3*day), 100)
	installing := f.NotReadyRevision(".main", at(3*day+time.Hour))
	latest := f.Revision(".main", at(4*day), key(4))
	// key(5): a build no revision uses any more.

	sleep := testkit.RequireTool(t, "sleep")
	job := testkit.Sleeper(t, "/")
	job.Env = []string{"PATH=" + filepath.Join(revs, onPATH, "venv", "rez", "bin", "rez") + ":/usr/bin:/bin"}
	pathJob := job.Start(t)
	shell := testkit.Sleeper(t, filepath.Join(revs, entered, "venv", "rez")).Start(t)
	// A venv's bin/python is a link to the base interpreter.
	venvPython := filepath.Join(revs, python, "venv", "rez", "bin", "python")
	if err := os.Symlink(sleep, venvPython); err != nil {
		t.Fatal(err)
	}
	pyJob := testkit.Job{Exe: venvPython, Args: []string{venvPython, "600"}, Env: []string{"PATH=/usr/bin:/bin"}}.Start(t)
	pip := testkit.Sleeper(t, filepath.Join(revs, installing)).Start(t)
	file, err := os.Open(filepath.Join(f.Dir, ".store", key(5), "venv", "rez", "bin", "rez", "rez-env"))
	if err != nil {
		t.Fatal(err)
	}
	job = testkit.Sleeper(t, "/")
	job.Stdin = file
	reader := job.Start(t)
	file.Close()

	in := input(store, now)
	in.Keep = 1
	s := plan(t, in)
	if got, want := titles(s.Remove), sorted("revision .main/"+unused+" old", "revision .main/"+entered+" old", "entry "+key(2)+" unreferenced"); !slices.Equal(got, want) {
		t.Errorf("remove %q, want %q", got, want)
	}
	inUseBy(t, s.Kept, gc.KindRevision, ".main/"+onPATH, pathJob, "sleep, PATH "+filepath.Join(revs, onPATH, "venv"))
	inUseBy(t, s.Kept, gc.KindEntry, key(3), shell, "sleep, cwd "+filepath.Join(f.Dir, ".store", key(3), "venv", "rez"))
	inUseBy(t, s.Kept, gc.KindRevision, ".main/"+python, pyJob, "python, cmdline "+venvPython)
	inUseBy(t, s.Kept, gc.KindRevision, ".main/"+installing, pip, "sleep, cwd "+filepath.Join(revs, installing))
	inUseBy(t, s.Kept, gc.KindEntry, key(5), reader, "sleep, fd "+filepath.Join(f.Dir, ".store", key(5)))
	for _, want := range []string{"entry " + key(1) + " referenced", "revision .main/" + latest + " latest", "entry " + key(4) + " referenced"} {
		if !slices.Contains(titles(s.Kept), want) {
			t.Errorf("kept %q, want %q in it", titles(s.Kept), want)
		}
	}

	// --json says the same (a dry run is this plan, printed).
	b, err := json.Marshal(gc.NewReport(s, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Kept []struct{ Kind, Name, Reason, Detail string }
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(rep.Kept, func(k struct{ Kind, Name, Reason, Detail string }) bool { return k.Name == onPATH }); i < 0 ||
		rep.Kept[i].Reason != "in-use" || !strings.Contains(rep.Kept[i].Detail, "in use by pid "+strconv.Itoa(pathJob)) {
		t.Errorf("--json: %s", b)
	}

	res := execute(t, s)
	if got := titles(res.Removed); !slices.Equal(got, titles(s.Remove)) || len(res.Skipped) != 0 {
		t.Errorf("removed %q, skipped %q; want the plan's %q", got, titles(res.Skipped), titles(s.Remove))
	}
	if got, want := revisionsOnDisk(t, store, ".main"), sorted(onPATH, python, installing, latest); !slices.Equal(got, want) {
		t.Errorf("revisions %q, want %q", got, want)
	}
	if got, want := entriesOnDisk(t, store), sorted(key(1), key(3), key(4), key(5)); !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
}

// Execute looks at the processes again, right before it removes: a job
// that started after the plan keeps what it uses, skipped as in use.
func TestExecuteLooksAtProcessesAgain(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	for i := 1; i <= 3; i++ {
		f.Entry(key(i), 10, at(0))
	}
	old := f.Revision(".main", at(0), key(1))
	f.Revision(".main", at(day), key(2))
	in := input(store, now)
	in.Keep = 1
	s := plan(t, in)
	if got, want := titles(s.Remove), sorted("revision .main/"+old+" old", "entry "+key(1)+" unreferenced", "entry "+key(3)+" unreferenced"); !slices.Equal(got, want) {
		t.Fatalf("remove %q, want %q", got, want)
	}

	revJob := testkit.Sleeper(t, filepath.Join(f.Dir, ".main", "revisions", old)).Start(t)
	buildJob := testkit.Sleeper(t, filepath.Join(f.Dir, ".store", key(3), "venv")).Start(t)
	res := execute(t, s)
	if len(res.Removed) != 0 {
		t.Errorf("removed %q while processes use them", titles(res.Removed))
	}
	inUseBy(t, res.Skipped, gc.KindRevision, ".main/"+old, revJob, "sleep, cwd ")
	inUseBy(t, res.Skipped, gc.KindEntry, key(3), buildJob, "sleep, cwd ")
	// The revision stays, and keeps its build.
	if it, ok := item(res.Skipped, gc.KindEntry, key(1)); !ok || it.Reason != gc.ReasonReferenced {
		t.Errorf("skipped %q: the kept revision's build is not kept", titles(res.Skipped))
	}
	if got := entriesOnDisk(t, store); len(got) != 3 {
		t.Errorf("entries %q", got)
	}
}

// An account reads its own processes whole and only the cmdline of
// others': its gc keeps what root's job names in its arguments, cannot see
// what root's job has as its cwd, and says how many processes it could not
// read fully, once, in the plan's warnings.
func TestGCSaysWhatItCouldNotSee(t *testing.T) {
	sleep := testkit.RequireTool(t, "sleep")
	if arg, ok := testkit.Child(t); ok {
		dir, cmdJob, _ := strings.Cut(arg, "|")
		now := at(10 * day)
		in := input(materialize.New(materialize.Options{Root: materialize.Root{Dir: dir}, Now: func() time.Time { return now }}), now)
		in.Keep = 1
		s := plan(t, in)
		revs := filepath.Join(dir, ".main", "revisions")
		named, _ := os.ReadDir(revs)
		pid, _ := strconv.Atoi(cmdJob)
		inUseBy(t, s.Kept, gc.KindRevision, ".main/"+named[0].Name(), pid, "")
		if !slices.Contains(titles(s.Remove), "entry "+key(2)+" unreferenced") {
			t.Errorf("remove %q: root's job in build %s is not visible to this account, yet it is kept", titles(s.Remove), key(2))
		}
		n := 0
		for _, w := range s.Warnings {
			if strings.Contains(w, "processes could not be read fully (other accounts' cwd, environ, maps and open files)") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("warnings %q: want one saying how many processes could not be read fully", s.Warnings)
		}
		return
	}
	needRoot(t)
	dir := filepath.Join(testkit.SharedDir(t), "root")
	f := testkit.NewFakeRoot(t, dir)
	f.Entry(key(1), 10, at(0))
	f.Entry(key(2), 10, at(0))
	f.Entry(key(3), 10, at(0))
	old := f.Revision(".main", at(0), key(1))
	f.Revision(".main", at(day), key(3))
	// key(2): no revision uses it.
	if err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, testkit.Nobody.UID, testkit.Nobody.GID)
	}); err != nil {
		t.Fatal(err)
	}
	venvSleep := filepath.Join(dir, ".store", key(1), "venv", "rez", "bin", "sleep")
	if err := os.Symlink(sleep, venvSleep); err != nil {
		t.Fatal(err)
	}
	named := filepath.Join(dir, ".main", "revisions", old, "venv", "rez", "bin", "sleep") // through the revision's venv link
	cmdJob := testkit.Job{Exe: named, Args: []string{named, "600"}, Dir: "/", Env: []string{"PATH=/usr/bin:/bin"}}.Start(t)
	testkit.Sleeper(t, filepath.Join(dir, ".store", key(2), "venv")).Start(t)
	testkit.Nobody.RunAs(t, dir+"|"+strconv.Itoa(cmdJob))
}

func needRoot(t *testing.T) {
	t.Helper()
	testkit.NeedsRoot(t, "it runs processes as two accounts (setpriv), whose /proc the kernel guards")
}
