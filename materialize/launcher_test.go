package materialize_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// recorder is a Reporter that keeps the warnings, and calls onWarn (when
// set) after recording each one.
type recorder struct {
	mu     sync.Mutex
	warns  []string
	onWarn func(msg string)
}

func (r *recorder) Infof(string, ...any)  {}
func (r *recorder) Debugf(string, ...any) {}
func (r *recorder) Progress(string, archive.Progress, archive.Progress) {
}

func (r *recorder) Warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	r.warns = append(r.warns, msg)
	r.mu.Unlock()
	if r.onWarn != nil {
		r.onWarn(msg)
	}
}

func (r *recorder) warned(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.warns {
		if strings.Contains(w, sub) {
			return true
		}
	}
	return false
}

// launchFixture is a local root and a remote root written by hand (no
// python): ready entries are fake, as "ready" only means a manifest.
type launchFixture struct {
	local, remote *testkit.FakeRoot
	rep           *recorder
	cacheOpened   []*recipe.Recipe // what OpenCache was called with
	cacheErr      error            // what OpenCache returns
	first         *materialize.AddRequest
}

func newLaunchFixture(t *testing.T) *launchFixture {
	base := t.TempDir()
	return &launchFixture{
		local:  testkit.NewFakeRoot(t, filepath.Join(base, "local")),
		remote: testkit.NewFakeRoot(t, filepath.Join(base, "remote")),
		rep:    &recorder{},
	}
}

func (f *launchFixture) launcher(withRemote bool) *materialize.Launcher {
	store := materialize.New(materialize.Options{
		Root:     materialize.Root{Dir: f.local.Dir},
		Reporter: f.rep,
		Now:      func() time.Time { return t0 },
		Version:  "test",
	})
	l := &materialize.Launcher{
		Store: store,
		OpenCache: func(frozen *recipe.Recipe) (*cache.Cache, error) {
			f.cacheOpened = append(f.cacheOpened, frozen)
			return nil, f.cacheErr
		},
		First: f.first,
	}
	if withRemote {
		l.Remote = &materialize.Root{Dir: f.remote.Dir, Remote: true}
	}
	return l
}

// pick runs Pick and releases the lease when the test ends.
func (f *launchFixture) pick(t *testing.T, l *materialize.Launcher, local bool) (*materialize.Target, error) {
	t.Helper()
	target, err := l.Pick(context.Background(), "c", local)
	if err == nil {
		t.Cleanup(func() { target.Close() })
	}
	return target, err
}

func wantTarget(t *testing.T, target *materialize.Target, name string, remote bool, key string) {
	t.Helper()
	if target.Revision.Name != name || target.Remote != remote || target.Key().String() != key {
		t.Fatalf("picked %s (remote %v, key %s), want %s (remote %v, key %s)",
			target.Revision.Name, target.Remote, target.Key(), name, remote, key)
	}
	if target.Revision.Remote {
		t.Errorf("the launched revision %s is the remote one, not its local mirror", target.Revision.Dir)
	}
	if target.Recipe == nil || target.Recipe.File != target.Revision.RecipePath() {
		t.Errorf("frozen recipe %+v, want the one of %s", target.Recipe, target.Revision.RecipePath())
	}
}

// The in-use lock a target holds is what stops a collector.
func wantHeld(t *testing.T, lockPath string) {
	t.Helper()
	if _, err := fsx.TryExclusive(lockPath); !errors.Is(err, fsx.ErrLocked) {
		t.Errorf("%s is not held in use: %v", lockPath, err)
	}
}

func TestPickRemoteFirst(t *testing.T) {
	k1, k2 := testkit.FakeKey(1), testkit.FakeKey(2)
	for _, tt := range []struct {
		name       string
		local      bool // --local
		pulled     bool // the remote revision was mirrored before
		wantRemote bool
		wantKey    string
		wantCache  int
	}{
		{"remote newer than local is pulled", false, false, true, k2, 1},
		{"mirror already pulled: no cache", false, true, true, k2, 0},
		{"--local ignores the remote root", true, false, false, k1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newLaunchFixture(t)
			f.local.Entry(k1, 10, t0)
			f.local.Entry(k2, 10, t0) // the remote build is here already: no fetch
			localName := f.local.Revision("c", t0, k1)
			remoteName := f.remote.Revision("c", t0.Add(time.Hour), k2)
			if tt.pulled {
				f.local.Revision("c", t0.Add(time.Hour), k2, k2)
			}
			target, err := f.pick(t, f.launcher(true), tt.local)
			if err != nil {
				t.Fatal(err)
			}
			want := remoteName
			if tt.local {
				want = localName
			}
			wantTarget(t, target, want, tt.wantRemote, tt.wantKey)
			if len(f.cacheOpened) != tt.wantCache {
				t.Errorf("cache opened %d times, want %d", len(f.cacheOpened), tt.wantCache)
			}
			if tt.wantCache > 0 && (f.cacheOpened[0] == nil || !strings.HasPrefix(f.cacheOpened[0].File, f.remote.Dir)) {
				t.Errorf("cache opened with %+v, want the remote frozen recipe", f.cacheOpened[0])
			}
			wantHeld(t, f.local.LockPath(tt.wantKey))
			mirror, err := materialize.Root{Dir: f.local.Dir}.Revision("c", remoteName)
			if tt.local {
				if err == nil {
					t.Errorf("--local pulled the remote revision")
				}
				return
			}
			if err != nil || !mirror.Ready() || mirror.Meta.Key.String() != k2 || mirror.Meta.RemoteKey.String() != k2 {
				t.Fatalf("mirror %+v, %v", mirror, err)
			}
		})
	}
}

// The hot path (a local revision whose build is here) never opens the
// cache; a missing build does, with the revision's frozen recipe.
func TestPickOpensTheCacheOnlyForAMissingBuild(t *testing.T) {
	f := newLaunchFixture(t)
	k1 := testkit.FakeKey(1)
	f.local.Entry(k1, 10, t0)
	name := f.local.Revision("c", t0, k1)
	target, err := f.pick(t, f.launcher(false), false)
	if err != nil {
		t.Fatal(err)
	}
	wantTarget(t, target, name, false, k1)
	if len(f.cacheOpened) != 0 {
		t.Fatalf("the hot path opened the cache")
	}
	want := filepath.Join(f.local.Dir, ".store", k1, "venv", "rez", "bin", "rez")
	if len(target.BinDirs) != 1 || target.BinDirs[0] != want {
		t.Errorf("bin dirs %v, want [%s]", target.BinDirs, want)
	}
	wantHeld(t, f.local.LockPath(k1))
	if err := target.Close(); err != nil {
		t.Fatal(err)
	}
	if err := target.Close(); err != nil {
		t.Errorf("second release: %v", err)
	}
	lk, err := fsx.TryExclusive(f.local.LockPath(k1))
	if err != nil {
		t.Fatalf("released, yet still held: %v", err)
	}
	lk.Close()

	// Collected since: the cache is opened (and here it fails, which is
	// the launch's error, about that revision).
	if err := os.RemoveAll(filepath.Join(f.local.Dir, ".store", k1)); err != nil {
		t.Fatal(err)
	}
	f.cacheErr = errors.New("cache unreachable")
	_, err = f.pick(t, f.launcher(false), false)
	var re *materialize.RevisionError
	if !errors.Is(err, f.cacheErr) || !errors.As(err, &re) || re.Revision.Name != name {
		t.Fatalf("pick of a collected build: %v", err)
	}
	if len(f.cacheOpened) != 1 || f.cacheOpened[0] == nil || f.cacheOpened[0].File != re.Revision.RecipePath() {
		t.Errorf("cache opened with %v, want once with the revision's frozen recipe", f.cacheOpened)
	}
}

func TestPickWithoutRevision(t *testing.T) {
	f := newLaunchFixture(t)
	if _, err := f.pick(t, f.launcher(true), false); !errors.Is(err, materialize.ErrNoRevision) {
		t.Fatalf("no revision anywhere, no First: %v", err)
	}
	if len(f.cacheOpened) != 0 {
		t.Errorf("cache opened for nothing")
	}
	// With First, the first revision is added, with the cache opened once
	// without a frozen recipe. An interpreter that does not exist stops
	// the add before pip: its error is the launch's, and the container it
	// started is taken back (store_test's add tests build for real).
	home := t.TempDir()
	recipePath := filepath.Join(home, "rezup.c.toml")
	f.first = &materialize.AddRequest{Container: "c", RecipePath: recipePath,
		Default: []byte("[rez]\nurl = \"rez\"\npython = \"/no/such/python3.11\"\n")}
	_, err := f.pick(t, f.launcher(true), false)
	if !errors.Is(err, pyenv.ErrNoPython) {
		t.Fatalf("first revision with a missing python: %v, want ErrNoPython", err)
	}
	if len(f.cacheOpened) != 1 || f.cacheOpened[0] != nil {
		t.Errorf("cache opened with %v: want once, without a frozen recipe", f.cacheOpened)
	}
	if _, err := os.Stat(filepath.Join(f.local.Dir, "c")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed first add left its container: %v", err)
	}
	if _, err := os.Stat(recipePath); err != nil {
		t.Errorf("the default recipe was not written (it stays, as the Python rezup's does): %v", err)
	}
}

// A newer revision whose revision.json cannot be read is passed over with
// a warning, and so are the keys its frozen recipe does not know.
func TestPickWarnsAndFallsBack(t *testing.T) {
	f := newLaunchFixture(t)
	k1 := testkit.FakeKey(1)
	f.local.Entry(k1, 10, t0)
	good := f.local.Revision("c", t0, k1)
	if err := os.WriteFile(filepath.Join(f.local.Dir, "c", "revisions", good, "rezup.toml"), []byte("site = 1\n[rez]\nurl = \"rez\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := f.local.Revision("c", t0.Add(time.Hour), testkit.FakeKey(2))
	if err := os.WriteFile(filepath.Join(f.local.Dir, "c", "revisions", bad, "revision.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	target, err := f.pick(t, f.launcher(false), false)
	if err != nil {
		t.Fatal(err)
	}
	wantTarget(t, target, good, false, k1)
	if !f.rep.warned("revision "+bad+" of c is skipped") || !f.rep.warned(`ignored: unknown key "site"`) {
		t.Errorf("warnings %q", f.rep.warns)
	}
}

// A revision the Python rezup built launches from its own venvs, under its
// own lock, with nothing made in the store.
func TestPickPythonBuilt(t *testing.T) {
	f := newLaunchFixture(t)
	name := f.local.PythonRevision("c", t0, 10)
	target, err := f.pick(t, f.launcher(false), false)
	if err != nil {
		t.Fatal(err)
	}
	wantTarget(t, target, name, false, cas.Key{}.String())
	wantHeld(t, filepath.Join(target.Revision.Dir, "venv", ".rezup-use.lock"))
	want := filepath.Join(target.Revision.Dir, "venv", "rez", "bin", "rez")
	if len(target.BinDirs) != 1 || target.BinDirs[0] != want {
		t.Errorf("bin dirs %v, want [%s]", target.BinDirs, want)
	}
	if _, err := os.Stat(filepath.Join(f.local.Dir, ".store")); !os.IsNotExist(err) || len(f.cacheOpened) != 0 {
		t.Errorf("the launch touched the store (%v) or the cache (%d)", err, len(f.cacheOpened))
	}
}

// A collector removes the revision picked (a newer one exists) while the
// launch reads it: the launch looks again and takes the one left.
func TestPickRetriesWhenTheRevisionVanishes(t *testing.T) {
	f := newLaunchFixture(t)
	k1, k2 := testkit.FakeKey(1), testkit.FakeKey(2)
	f.local.Entry(k1, 10, t0)
	f.local.Entry(k2, 10, t0)
	older := f.local.Revision("c", t0, k1)
	newer := f.local.Revision("c", t0.Add(time.Hour), k2)
	skipped := f.local.Revision("c", t0.Add(2*time.Hour), k2)
	if err := os.WriteFile(filepath.Join(f.local.Dir, "c", "revisions", skipped, "revision.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The warning about the skipped revision comes right after Latest
	// picked newer: the collector strikes then, once.
	removed := false
	f.rep.onWarn = func(string) {
		if !removed {
			removed = true
			if err := os.RemoveAll(filepath.Join(f.local.Dir, "c", "revisions", newer)); err != nil {
				t.Error(err)
			}
		}
	}
	target, err := f.pick(t, f.launcher(false), false)
	if err != nil {
		t.Fatal(err)
	}
	if !removed {
		t.Fatal("the collector never ran")
	}
	wantTarget(t, target, older, false, k1)
}

// A remote root that cannot be listed is an error naming it; a remote
// frozen recipe that is not TOML is an error about that revision.
func TestPickRemoteErrors(t *testing.T) {
	f := newLaunchFixture(t)
	if err := os.MkdirAll(filepath.Join(f.remote.Dir, "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.remote.Dir, "c", "revisions"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var rre *materialize.RemoteRootError
	if _, err := f.pick(t, f.launcher(true), false); !errors.As(err, &rre) || rre.Root.Dir != f.remote.Dir {
		t.Fatalf("unreadable remote root: %v", err)
	}

	f = newLaunchFixture(t)
	name := f.remote.Revision("c", t0, testkit.FakeKey(2))
	if err := os.WriteFile(filepath.Join(f.remote.Dir, "c", "revisions", name, "rezup.toml"), []byte("[rez\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var re *materialize.RevisionError
	var bad *recipe.Error
	_, err := f.pick(t, f.launcher(true), false)
	if !errors.As(err, &re) || !re.Revision.Remote || !errors.As(err, &bad) || !strings.Contains(err.Error(), "remote revision "+name+" of c") {
		t.Fatalf("remote recipe not TOML: %v", err)
	}
	if len(f.cacheOpened) != 0 {
		t.Errorf("cache opened for a revision that cannot be read")
	}
}

// The Python rezup pulled a remote revision into the local root (pip
// installed whatever the index offered that day): when the remote
// revision pins its build (an archive, or lock.json), the launch runs
// that build from the store and leaves the Python rezup's mirror as it
// is; when it pins nothing (the Python rezup published it), the mirror is
// adopted, as every revision the Python rezup built is.
func TestPickPythonMirrorOfAPinnedRevision(t *testing.T) {
	k2 := testkit.FakeKey(2)
	for _, tt := range []struct {
		name   string
		key    string // the remote revision's
		lock   bool   // it has lock.json
		pinned bool
	}{
		{"locked", k2, true, true},
		{"published by the Python rezup", "", false, false},
		{"a key alone (an older rezup)", k2, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newLaunchFixture(t)
			f.local.Entry(k2, 10, t0)
			name := f.remote.Revision("c", t0, tt.key)
			if tt.lock {
				lock := filepath.Join(f.remote.Dir, "c", "revisions", name, "lock.json")
				if err := os.WriteFile(lock, []byte("{}"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if mirror := f.local.PythonRevision("c", t0, 10); mirror != name {
				t.Fatalf("mirror %s of %s", mirror, name)
			}
			mirrorDir := filepath.Join(f.local.Dir, "c", "revisions", name)
			before := treeOf(t, mirrorDir)
			rrev, err := materialize.Root{Dir: f.remote.Dir, Remote: true}.Revision("c", name)
			if err != nil {
				t.Fatal(err)
			}
			if rrev.Pinned() != tt.pinned {
				t.Fatalf("Pinned() = %v, want %v", rrev.Pinned(), tt.pinned)
			}
			target, err := f.pick(t, f.launcher(true), false)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.pinned {
				if target.Revision.Dir != mirrorDir || !target.Key().IsZero() {
					t.Fatalf("picked %s (key %s), want the Python rezup's mirror", target.Revision.Dir, target.Key())
				}
				return
			}
			if target.Revision.Name != name || !target.Revision.Remote || !target.Remote || target.Key().String() != k2 {
				t.Fatalf("picked %s (remote %v, key %s), want the pinned build %s of remote revision %s", target.Revision.Dir, target.Revision.Remote, target.Key(), k2, name)
			}
			wantHeld(t, f.local.LockPath(k2))
			want := filepath.Join(f.local.Dir, ".store", k2, "venv", "rez", "bin", "rez")
			if len(target.BinDirs) != 1 || target.BinDirs[0] != want {
				t.Errorf("bin dirs %v, want [%s]", target.BinDirs, want)
			}
			if target.Recipe == nil || target.Recipe.File != rrev.RecipePath() {
				t.Errorf("frozen recipe %+v, want the remote revision's", target.Recipe)
			}
			if after := treeOf(t, mirrorDir); after != before {
				t.Errorf("the Python rezup's mirror changed:\n%s\nwas:\n%s", after, before)
			}
			if len(f.cacheOpened) != 0 {
				t.Errorf("the cache was opened for a build that is here")
			}
		})
	}
}

// treeOf lists dir's files with their sizes, modes and mtimes.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v %d %d\n", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A script of the build's bin dirs whose python is gone is refused before
// it runs, as a missing "#!" interpreter is by execve, also when its path
// is too long for a "#!" line and the script is a /bin/sh trampoline
// (which execve runs all the same): the launch then reports the damaged
// build. Commands elsewhere are not read.
func TestCheckCommandFindsAMissingInterpreter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	python := filepath.Join(dir, "venv", "bin", "python")
	long := filepath.Join(dir, strings.Repeat("a-long-root/", 12), "python")
	target := &materialize.Target{BinDirs: []string{bin}}
	write := func(name, header string) string {
		p := filepath.Join(bin, name)
		if err := os.WriteFile(p, []byte(header+"print('hi')\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := write("short", pyenv.Shebang(python, []string{"-E"}))
	tramp := write("tramp", pyenv.Shebang(long, []string{"-E"}))
	if !strings.HasPrefix(pyenv.Shebang(long, nil), "#!/bin/sh\n") {
		t.Fatalf("the long python does not make a trampoline: %q", pyenv.Shebang(long, nil))
	}
	for _, p := range []string{short, tramp} {
		if err := target.CheckCommand(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s, its python missing: %v, want fs.ErrNotExist", filepath.Base(p), err)
		}
	}
	outside := filepath.Join(dir, "outside")
	if err := os.WriteFile(outside, []byte(pyenv.Shebang(long, nil)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := target.CheckCommand(outside); err != nil {
		t.Errorf("a command outside the bin dirs: %v", err)
	}
	for _, p := range []string{python, long} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{short, tramp} {
		if err := target.CheckCommand(p); err != nil {
			t.Errorf("%s, its python there: %v", filepath.Base(p), err)
		}
	}
}
