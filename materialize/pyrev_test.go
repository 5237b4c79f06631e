package materialize_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

// Latest passes over revisions whose revision.json cannot be read, newest
// first, and says which; Revisions lists them with their error.
func TestLatestSkipsUnreadable(t *testing.T) {
	dir := t.TempDir()
	f := testkit.NewFakeRoot(t, dir)
	root := materialize.Root{Dir: dir}
	good := f.Revision("c", t0, testkit.FakeKey(1))
	var bad []string
	for i, content := range []string{"", "{\"key\": 1"} {
		name := f.Revision("c", t0.Add(time.Duration(i+1)*time.Hour), testkit.FakeKey(2))
		if err := os.WriteFile(filepath.Join(dir, "c", "revisions", name, "revision.json"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		bad = append([]string{name}, bad...)
	}
	latest, err := root.Latest("c")
	if err != nil {
		t.Fatal(err)
	}
	if latest.Name != good || len(latest.Skipped) != 2 || latest.Skipped[0].Name != bad[0] || latest.Skipped[1].Name != bad[1] {
		t.Fatalf("latest %s, skipped %v", latest.Name, latest.Skipped)
	}
	for _, s := range latest.Skipped {
		if s.Err == nil || !strings.Contains(s.Err.Error(), "revision.json") || s.Ready() {
			t.Errorf("skipped %s: err %v, ready %v", s.Name, s.Err, s.Ready())
		}
	}
	revs, err := root.Revisions("c")
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 3 || revs[0].Err == nil || revs[1].Err == nil || revs[2].Err != nil || !revs[2].Ready() {
		t.Errorf("revisions: %+v", revs)
	}

	// With nothing readable: no revision, and the error says why.
	os.RemoveAll(filepath.Join(dir, "c", "revisions", good))
	_, err = root.Latest("c")
	if !errors.Is(err, materialize.ErrNoRevision) || !strings.Contains(err.Error(), "2 revision(s) passed over") {
		t.Errorf("all unreadable: %v", err)
	}
}

// Which revisions count as built by the Python rezup: a keyless revision
// of the local root with a real venv directory, and nothing else.
func TestPythonBuilt(t *testing.T) {
	dir := t.TempDir()
	f := testkit.NewFakeRoot(t, dir)
	py := f.PythonRevision("c", t0, 10)
	keyed := f.Revision("c", t0.Add(time.Hour), testkit.FakeKey(1))
	keyless := f.Revision("c", t0.Add(2*time.Hour), "") // a Python revision whose venv is gone
	for _, tc := range []struct {
		root materialize.Root
		name string
		want bool
	}{
		{materialize.Root{Dir: dir}, py, true},
		{materialize.Root{Dir: dir, Remote: true}, py, false},
		{materialize.Root{Dir: dir}, keyed, false},
		{materialize.Root{Dir: dir}, keyless, false},
	} {
		rev, err := tc.root.Revision("c", tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if got := rev.PythonBuilt(); got != tc.want {
			t.Errorf("%s (remote %v): PythonBuilt %v, want %v", tc.name, tc.root.Remote, got, tc.want)
		}
	}
	latest, err := materialize.Root{Dir: dir}.Latest("c")
	if err != nil || latest.Name != keyless || latest.PythonBuilt() {
		t.Fatalf("latest %v, %v", latest, err)
	}
	os.RemoveAll(filepath.Join(dir, "c", "revisions", keyless))
	os.RemoveAll(filepath.Join(dir, "c", "revisions", keyed))
	rev, err := materialize.Root{Dir: dir}.Latest("c")
	if err != nil || !rev.PythonBuilt() {
		t.Fatalf("latest %v, %v: want the Python-built one", rev, err)
	}
	// Its bin dirs are its own venv's; launching it takes its own lock and
	// makes nothing in the store.
	store := storeAt(dir, t0)
	want := filepath.Join(dir, "c", "revisions", py, "venv", "rez", "bin", "rez")
	launcher := &materialize.Launcher{Store: store}
	target, err := launcher.Pick(context.Background(), "c", false)
	if err != nil || target.Revision.Name != py || target.Hold.File() == nil {
		t.Fatalf("pick: %v (%+v)", err, target)
	}
	if got := target.BinDirs; len(got) != 1 || got[0] != want {
		t.Errorf("bin dirs %v, want [%s]", got, want)
	}
	hold := target.Hold
	if busy, err := store.RevisionInUse(rev); err != nil || !busy {
		t.Errorf("in use while held: %v, %v", busy, err)
	}
	if err := hold.Close(); err != nil {
		t.Fatal(err)
	}
	if k := hold.Key(); k != (cas.Key{}) {
		t.Errorf("key %s for a revision without one", k)
	}
	if _, err := os.Stat(filepath.Join(dir, ".store")); !os.IsNotExist(err) {
		t.Errorf("the launch touched the store: %v", err)
	}
	// Removed: nothing to launch.
	if err := store.RemoveRevision(rev, nil); err != nil {
		t.Fatal(err)
	}
	if target, err := launcher.Pick(context.Background(), "c", false); err == nil {
		t.Errorf("picked a removed revision: %+v", target)
	}
}

// A revision rezup 1.x made (its tools in <revision>/bin, no venvs in
// revision.json) is one line naming it and what to do, never a launch
// whose commands are not found.
func TestPickRezup1Revision(t *testing.T) {
	dir := t.TempDir()
	f := testkit.NewFakeRoot(t, dir)
	name := f.PythonRevision("c", t0, 10)
	rev := filepath.Join(dir, "c", "revisions", name)
	if err := os.WriteFile(filepath.Join(rev, "revision.json"), []byte(`{"rezup_version": "1.3.0", "creator": "td", "hostname": "ws"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rev, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	launcher := &materialize.Launcher{Store: storeAt(dir, t0)}
	_, err := launcher.Pick(context.Background(), "c", false)
	if err == nil || !strings.Contains(err.Error(), "revision "+name+" of c was made by rezup 1.x") || !strings.Contains(err.Error(), "`rezup add c`") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("pick of a 1.x revision: %v", err)
	}
}
