package gc_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rezup/rezup/internal/fsx"
)

// A revision the Python rezup built holds its venv: gc keeps it by the
// same rules as any revision, counts its venv in the bytes it frees, never
// looks for a store entry of it, and never removes it while a process
// holds its in-use lock (between plan and execution either).
func TestPythonBuiltRevisions(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	old := f.PythonRevision(".main", at(0), 1000)
	kept := f.PythonRevision(".main", at(day), 2000)
	f.Entry(key(1), 10, at(2*day))
	latest := f.Revision(".main", at(2*day), key(1))
	lock := filepath.Join(f.Dir, ".main", "revisions", old, "venv", ".rezup-use.lock")

	in := input(store, now)
	in.Keep = 2
	s := plan(t, in)
	if got, want := titles(s.Remove), []string{"revision .main/" + old + " old"}; !slices.Equal(got, want) {
		t.Fatalf("remove %q, want %q", got, want)
	}
	if got, want := titles(s.Kept), sorted("revision .main/"+kept+" kept", "revision .main/"+latest+" latest", "entry "+key(1)+" referenced"); !slices.Equal(got, want) {
		t.Errorf("kept %q, want %q", got, want)
	}
	if s.Remove[0].Bytes < 1000 || s.Remove[0].Key != "" {
		t.Errorf("the Python-built revision's item: %+v", s.Remove[0])
	}
	if _, err := os.Stat(lock); err == nil {
		t.Errorf("plan created the revision's lock file")
	}

	// A job starts in it after the plan: execution skips it.
	lk, err := fsx.TryShared(lock)
	if err != nil {
		t.Fatal(err)
	}
	res := execute(t, s)
	if got := titles(res.Skipped); !slices.Equal(got, []string{"revision .main/" + old + " in-use"}) {
		t.Errorf("skipped %q", got)
	}
	// Planned again while it runs: kept as in-use.
	if got := titles(plan(t, in).Kept); !slices.Contains(got, "revision .main/"+old+" in-use") {
		t.Errorf("kept %q: the revision in use is not kept as in-use", got)
	}
	lk.Close()

	res = execute(t, plan(t, in))
	if got := titles(res.Removed); !slices.Equal(got, []string{"revision .main/" + old + " old"}) {
		t.Errorf("removed %q", got)
	}
	if got := revisionsOnDisk(t, store, ".main"); !slices.Equal(got, sorted(kept, latest)) {
		t.Errorf("revisions left: %v", got)
	}
	if got := entriesOnDisk(t, store); !slices.Equal(got, []string{key(1)}) {
		t.Errorf("entries: %v", got)
	}
}

// A revision whose revision.json cannot be read stays, with a warning,
// and does not count as one of the newest.
func TestUnreadableRevisionKept(t *testing.T) {
	now := at(10 * day)
	f, store := newRoot(t, now)
	f.Entry(key(1), 10, at(0))
	ok := f.Revision(".main", at(0), key(1))
	bad := f.Revision(".main", at(day), key(1))
	if err := os.WriteFile(filepath.Join(f.Dir, ".main", "revisions", bad, "revision.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := input(store, now)
	in.Keep = 1
	s := plan(t, in)
	if len(s.Remove) != 0 || len(s.Warnings) != 1 {
		t.Errorf("remove %q, warnings %q", titles(s.Remove), s.Warnings)
	}
	if got, want := titles(s.Kept), sorted("revision .main/"+bad+" unreadable", "revision .main/"+ok+" latest", "entry "+key(1)+" referenced"); !slices.Equal(got, want) {
		t.Errorf("kept %q, want %q", got, want)
	}
}
