package materialize

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/recipe"
)

// addFixture is a home with a recipe of container "lk" that installs an
// unpinned rez from a find-links dir of wheels, and a store whose reports
// are kept: `rezup add` without the binary.
type addFixture struct {
	s       *Store
	rep     *countingReporter
	wheels  string
	home    string
	pipOpts string
}

func newAddFixture(t *testing.T, sc *cache.Cache) *addFixture {
	t.Helper()
	base := t.TempDir()
	testkit.WritableAtEnd(t, base) // the store's builds are read-only
	f := &addFixture{rep: &countingReporter{}, wheels: filepath.Join(base, "wheels"), home: filepath.Join(base, "home")}
	if err := os.MkdirAll(f.home, 0o755); err != nil {
		t.Fatal(err)
	}
	f.addWheel(t, testkit.RezWheel("2.113.0"))
	f.s = New(Options{Root: Root{Dir: filepath.Join(base, "root")}, Environ: os.Environ(), Cache: sc,
		Reporter: f.rep, Version: "test", PipCache: testkit.PipCache(t)})
	f.writeRecipe(t, "")
	return f
}

func (f *addFixture) addWheel(t *testing.T, w testkit.Wheel) {
	t.Helper()
	if err := os.MkdirAll(f.wheels, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := testkit.WriteWheel(f.wheels, w); err != nil {
		t.Fatal(err)
	}
}

func (f *addFixture) recipePath() string { return filepath.Join(f.home, "rezup.lk.toml") }

// writeRecipe writes the container's recipe: the wheels, then extra.
func (f *addFixture) writeRecipe(t *testing.T, extra string) {
	t.Helper()
	src := `[pip]
options = ["--disable-pip-version-check", "--no-index", "--find-links", "` + f.wheels + `"]

[rez]
url = "rez>=2.83"
` + extra
	if err := os.WriteFile(f.recipePath(), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// request is what cmd/rezup asks for `rezup add lk`, the recipe read now.
func (f *addFixture) request(t *testing.T) AddRequest {
	t.Helper()
	req := AddRequest{Container: "lk", RecipePath: f.recipePath(), Default: recipe.DefaultTOML()}
	data, err := os.ReadFile(req.RecipePath)
	if errors.Is(err, os.ErrNotExist) {
		return req
	}
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := recipe.Parse(req.RecipePath, data)
	if err != nil {
		t.Fatal(err)
	}
	req.Recipe, req.RecipeData = r, data
	return req
}

func (f *addFixture) add(t *testing.T, edit func(*AddRequest)) (*Added, error) {
	t.Helper()
	req := f.request(t)
	if edit != nil {
		edit(&req)
	}
	return f.s.Add(context.Background(), req)
}

func (f *addFixture) mustAdd(t *testing.T, edit func(*AddRequest)) *Added {
	t.Helper()
	a, err := f.add(t, edit)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// lockedRez is the rez version a revision's lock.json installs.
func lockedRez(t *testing.T, rev *Revision) string {
	t.Helper()
	res, err := rev.ReadResolution()
	if err != nil || res == nil {
		t.Fatalf("lock.json of %s: %v, %v", rev.Name, res, err)
	}
	v, _ := res.Venv("rez")
	for _, d := range v.Dists {
		if d.Name == "rez" {
			return d.Version
		}
	}
	return ""
}

// The add workflow of issue 12 as a library call: a new release makes a
// new resolution, key and build; an unchanged resolution reuses the build
// at once; --fresh draws a salt that a plain add keeps while the
// resolution is unchanged, and that a changed resolution drops; --frozen
// builds the latest lock.json with no index, and has nothing to build in
// a container without one.
func TestAddSaltRuleAndFrozen(t *testing.T) {
	t.Parallel()
	f := newAddFixture(t, nil)

	if _, err := f.add(t, func(r *AddRequest) { r.Frozen = true }); !errors.Is(err, ErrNothingFrozen) || !strings.Contains(err.Error(), "container lk has no revision") {
		t.Fatalf("--frozen before any revision: %v, want ErrNothingFrozen", err)
	}
	first := f.mustAdd(t, nil)
	if first.Reused || lockedRez(t, first.Revision) != "2.113.0" || first.Manifest.RezVersion != "2.113.0" {
		t.Fatalf("first add: reused %v, lock %s, rez %s", first.Reused, lockedRez(t, first.Revision), first.Manifest.RezVersion)
	}
	if k, _ := first.Revision.Key(); k != first.Manifest.Key {
		t.Errorf("the revision names %s, the build is %s", k, first.Manifest.Key)
	}

	fresh := f.mustAdd(t, func(r *AddRequest) { r.Fresh = true })
	if fresh.Manifest.Key == first.Manifest.Key || fresh.Reused {
		t.Fatalf("--fresh reused %s", first.Manifest.Key)
	}
	salt := frozenSalt(fresh.Revision)
	if salt == "" {
		t.Fatal("the fresh revision's frozen recipe has no salt")
	}
	kept := f.mustAdd(t, nil)
	if kept.Manifest.Key != fresh.Manifest.Key || !kept.Reused || frozenSalt(kept.Revision) != salt {
		t.Errorf("a plain add after --fresh: key %s (fresh %s), reused %v, salt %q (fresh %q)",
			kept.Manifest.Key, fresh.Manifest.Key, kept.Reused, frozenSalt(kept.Revision), salt)
	}
	if got := f.rep.count("reused " + kept.Manifest.Key.String()); got != 1 {
		t.Errorf("said reused %d times, want once", got)
	}

	f.addWheel(t, testkit.RezWheel("2.114.0"))
	upgraded := f.mustAdd(t, nil)
	if lockedRez(t, upgraded.Revision) != "2.114.0" || upgraded.Reused || frozenSalt(upgraded.Revision) != "" {
		t.Fatalf("after 2.114.0 was released: lock %s, reused %v, salt %q (a changed resolution drops the salt)",
			lockedRez(t, upgraded.Revision), upgraded.Reused, frozenSalt(upgraded.Revision))
	}
	again := f.mustAdd(t, nil)
	if again.Manifest.Key != upgraded.Manifest.Key || !again.Reused || again.Revision.Name == upgraded.Revision.Name {
		t.Errorf("an unchanged resolution: key %s (was %s), reused %v", again.Manifest.Key, upgraded.Manifest.Key, again.Reused)
	}

	// No index: resolving fails; --frozen builds the latest lock.json,
	// reused here, with no pip resolution.
	if err := os.RemoveAll(f.wheels); err != nil {
		t.Fatal(err)
	}
	_, err := f.add(t, nil)
	var step *StepError
	if !errors.As(err, &step) || step.Step != "resolve" {
		t.Fatalf("add without the index: %v, want a failed resolution", err)
	}
	frozen := f.mustAdd(t, func(r *AddRequest) { r.Frozen = true })
	if frozen.Manifest.Key != again.Manifest.Key || !frozen.Reused || lockedRez(t, frozen.Revision) != "2.114.0" {
		t.Errorf("add --frozen: key %s, want %s reused", frozen.Manifest.Key, again.Manifest.Key)
	}
	revs, err := f.s.opt.Root.Revisions("lk")
	if err != nil || len(revs) != 6 {
		t.Errorf("%d revisions (%v), want 6: the failed add made none", len(revs), err)
	}
}

// A first add that fails (a requirement no index has) takes back what it
// made: a root that was not there is gone; an existing root keeps exactly
// what it had. The recipe written from the defaults stays, as the Python
// rezup's does.
func TestAddFailedFirstLeavesNothing(t *testing.T) {
	t.Parallel()
	f := newAddFixture(t, nil)
	f.writeRecipe(t, "lib = [\"no-such-dist==9\"]\n")
	root := f.s.opt.Root.Dir
	_, err := f.add(t, nil)
	var step *StepError
	if !errors.As(err, &step) || step.Step != "resolve" {
		t.Fatalf("add of an unresolvable recipe: %v", err)
	}
	if _, err := os.Lstat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed first add left its root: %v", testkit.Snapshot(t, root))
	}

	// A root that exists, with another container's revision in it.
	f.writeRecipe(t, "")
	kept := f.mustAdd(t, nil)
	before := testkit.Snapshot(t, root)
	f.writeRecipe(t, "lib = [\"no-such-dist==9\"]\n")
	req := f.request(t)
	req.Container = "other"
	if _, err := f.s.Add(context.Background(), req); err == nil {
		t.Fatal("add of an unresolvable recipe succeeded")
	}
	// Only the scratch area's mtime moves: a resolution's dir came and went.
	diff := testkit.DiffSnapshots(before, testkit.Snapshot(t, root))
	diff = slices.DeleteFunc(diff, func(l string) bool {
		return strings.HasPrefix(l, "changed "+f.s.opt.Root.TmpDir()+": ")
	})
	if len(diff) > 0 {
		t.Errorf("the failed add changed the root:\n%s", strings.Join(diff, "\n"))
	}
	if _, err := f.s.opt.Root.Latest("lk"); err != nil {
		t.Errorf("the existing revision %s: %v", kept.Revision.Name, err)
	}

	// A missing recipe is written from the defaults, even when the add
	// fails (no PyPI here).
	other := filepath.Join(f.home, "rezup.new.toml")
	req = AddRequest{Container: "new", RecipePath: other, Default: []byte("[rez]\nurl = \"no-such-rez==1\"\n[pip]\noptions = [\"--no-index\"]\n")}
	if _, err := f.s.Add(context.Background(), req); err == nil {
		t.Fatal("add of an unresolvable default recipe succeeded")
	}
	if b, err := os.ReadFile(other); err != nil || !strings.Contains(string(b), "no-such-rez") {
		t.Errorf("the default recipe: %q, %v", b, err)
	}
	if f.rep.count("wrote the default recipe to "+other) != 1 {
		t.Errorf("reports: %q", f.rep.lines)
	}
}

// The publisher's trust rule: add --remote never hands on a build it did
// not verify. A build in the store that was fetched from an unsigned entry
// is moved aside and built again here; one that is in use meanwhile is
// built afresh under a new salt; and a cache entry nobody trusted signed
// is not fetched by key.
func TestAddRemotePublishesOnlyWhatItTrusts(t *testing.T) {
	t.Parallel()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	f := newAddFixture(t, sc)
	remote := &Root{Dir: filepath.Join(t.TempDir(), "remote"), Remote: true}

	// A node published the key unsigned, and this machine fetched it.
	node := newAddFixture(t, sc)
	node.wheels, node.home = f.wheels, f.home
	nodeBuilt := node.mustAdd(t, nil)
	k := nodeBuilt.Manifest.Key
	if _, err := sc.Lookup(context.Background(), k); err != nil {
		t.Fatalf("the node did not publish %s: %v", k, err)
	}
	plan := f.plan(t)
	if plan.Key != k {
		t.Fatalf("the admin resolves %s, the node built %s", plan.Key, k)
	}
	if _, err := f.s.made(context.Background(), Request{Key: k, Plan: plan}); err != nil {
		t.Fatal(err)
	}
	if m, _ := f.s.ReadManifest(k); m.Origin == nil || m.Origin.How != OriginFetched {
		t.Fatalf("the admin's store did not fetch %s: %+v", k, m.Origin)
	}

	sk, pk, err := cache.GenerateKey("studio-1")
	if err != nil {
		t.Fatal(err)
	}
	added := f.mustAdd(t, func(r *AddRequest) { r.Remote = remote; r.Signer = &sk })
	if sr := readSigned(added.Revision, []cache.PublicKey{pk}); sr.read != nil || sr.err != nil {
		t.Errorf("the signed remote revision does not verify: %v, %v", sr.read, sr.err)
	}
	if added.Manifest.Key != k || added.Reused || added.Manifest.Origin.How != OriginBuilt {
		t.Errorf("add --remote over a fetched build: key %s, reused %v, origin %+v: want %s built here", added.Manifest.Key, added.Reused, added.Manifest.Origin, k)
	}
	if f.rep.count("warning: the build "+k.String()+" here was fetched from the shared cache") != 1 {
		t.Errorf("no warning that the fetched build is built again: %q", f.rep.lines)
	}
	if added.Pin == nil || added.Pin.Key != k || added.Revision.Pin() == nil || added.Revision.Pin().Digest != added.Pin.Digest {
		t.Errorf("the remote revision's pin: %+v, published %+v", added.Revision.Pin(), added.Pin)
	}
	if !added.Revision.Remote || filepath.Dir(filepath.Dir(filepath.Dir(added.Revision.Dir))) != remote.Dir {
		t.Errorf("the revision is not the remote root's: %s", added.Revision.Dir)
	}

	// Fetched again, unsigned, and in use: a new salt, a new build.
	if err := f.s.RemoveEntry(k, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.made(context.Background(), Request{Key: k, Plan: plan}); err != nil {
		t.Fatal(err)
	}
	h, err := f.s.Materialize(context.Background(), Request{Key: k})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	salted := f.mustAdd(t, func(r *AddRequest) { r.Remote = remote })
	if salted.Manifest.Key == k || frozenSalt(salted.Revision) == "" || salted.Manifest.Origin.How != OriginBuilt {
		t.Errorf("add --remote over a fetched build in use: key %s (was %s), salt %q", salted.Manifest.Key, k, frozenSalt(salted.Revision))
	}

	// With no trusted keys, a publisher never fetches by key: a fresh
	// admin root builds, though the cache has the key.
	fresh := newAddFixture(t, sc)
	fresh.wheels, fresh.home = f.wheels, f.home
	got := fresh.mustAdd(t, func(r *AddRequest) { r.Remote = remote })
	// The remote root's latest revision has the same resolution: its salt
	// is kept, and so is its key.
	if got.Manifest.Key != salted.Manifest.Key || got.Manifest.Origin.How != OriginBuilt || fresh.rep.count("fetched ") != 0 {
		t.Errorf("a publisher fetched an unsigned entry: origin %+v, reports %q", got.Manifest.Origin, fresh.rep.lines)
	}
}

// An edit-mode recipe is refused by add --remote before anything is built.
func TestAddRemoteRefusesEditMode(t *testing.T) {
	t.Parallel()
	f := newAddFixture(t, nil)
	f.writeRecipe(t, "edit = true\n")
	_, err := f.add(t, func(r *AddRequest) { r.Remote = &Root{Dir: t.TempDir(), Remote: true} })
	if !errors.Is(err, ErrEditMode) || !strings.Contains(err.Error(), "add --remote: rez is installed with edit = true") {
		t.Fatalf("add --remote of an edit-mode recipe: %v", err)
	}
	if _, err := os.Lstat(f.s.opt.Root.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused add made its root")
	}
}

// plan is the locked plan the fixture's recipe resolves to now.
func (f *addFixture) plan(t *testing.T) *Plan {
	t.Helper()
	ctx := context.Background()
	req := f.request(t)
	p, err := f.s.plan(ctx, req.Recipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.s.resolve(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := p.with(req.Recipe, res)
	if err != nil {
		t.Fatal(err)
	}
	return lp
}

// A remote add says, one warning each, what Python rezup nodes would read
// differently in the recipe, before building; a strict one (--strict, or
// [root] python-compatible = true in the recipe) refuses it instead, and
// makes nothing. A local add does not look.
func TestAddRemotePythonDifferences(t *testing.T) {
	t.Parallel()
	f := newAddFixture(t, nil)
	env := "\n[env]\nMIXED = [\"a\", 2, true]\nPATHS = [\"/a\", \"/b\"]\n"
	f.writeRecipe(t, env)
	remote := Root{Dir: filepath.Join(t.TempDir(), "remote"), Remote: true}
	localRoot := f.s.opt.Root.Dir
	refused := func(t *testing.T, setting bool, edit func(*AddRequest)) {
		t.Helper()
		_, err := f.add(t, edit)
		var pd *PythonDifferencesError
		if !errors.As(err, &pd) || !errors.Is(err, ErrPythonDifferences) || pd.Setting != setting || len(pd.Differences) != 2 {
			t.Fatalf("strict add: %v, want a *PythonDifferencesError (setting %v) of 2 differences", err, setting)
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[1], f.recipePath()+":8: [env] MIXED mixes") || !strings.HasPrefix(lines[2], f.recipePath()+":9: [env] PATHS is a list") {
			t.Errorf("error:\n%s", err)
		}
		for _, dir := range []string{remote.Dir, localRoot} {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused add made %s: %v", dir, err)
			}
		}
	}
	refused(t, false, func(r *AddRequest) { r.Remote, r.Strict = &remote, true })
	f.writeRecipe(t, "\n[root]\npython-compatible = true\n"+env[1:])
	_, err := f.add(t, func(r *AddRequest) { r.Remote = &remote })
	var pd *PythonDifferencesError
	if !errors.As(err, &pd) || !pd.Setting || !strings.Contains(err.Error(), "refused ([root] python-compatible)") {
		t.Fatalf("add with [root] python-compatible: %v", err)
	}

	f.writeRecipe(t, env)
	added := f.mustAdd(t, func(r *AddRequest) { r.Remote = &remote })
	if !added.Revision.Remote {
		t.Fatalf("published %+v", added.Revision)
	}
	if f.rep.count("warning: "+f.recipePath()+":8: [env] MIXED mixes a string, an integer and a boolean") != 1 ||
		f.rep.count("warning: "+f.recipePath()+":9: [env] PATHS is a list") != 1 {
		t.Errorf("warnings: %q", f.rep.lines)
	}
	before := len(f.rep.lines)
	f.mustAdd(t, nil) // local: Python nodes read no local revision of this machine's
	for _, l := range f.rep.lines[before:] {
		if strings.Contains(l, "Python nodes") {
			t.Errorf("a local add warned: %s", l)
		}
	}
}
