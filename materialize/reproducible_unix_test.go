//go:build unix

package materialize

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/recipe"
)

// TestBuildsAreReproducible builds one recipe twice at the same prefix
// (build, move the entry aside, build again), each time with an empty
// shared cache so that the second round builds rather than fetches, and
// publishes both builds: the two archives must have the same digest. It
// lists the files that differ when they do not. An entry fetched from
// that archive and published again packs to the same digest as well. It
// builds from requirement strings (no lock: a revision the Python rezup
// made); TestLockedBuildsAreReproducible builds a lock, with an isolated
// extension.
func TestBuildsAreReproducible(t *testing.T) {
	t.Parallel()
	testkit.SkipShort(t, "slow: builds one recipe twice to compare the archives (TestAddSaltRuleAndFrozen covers building, cas/archive's TestPackIsReproducible packing)")
	ctx := context.Background()
	r, root, aside := reproducibleSetup(t, false)
	var p *Plan
	var s *Store
	var digests []cas.Digest
	var err error
	for i := 0; i < 2; i++ {
		s = newStore(t, root, openCache(t, filepath.Join(t.TempDir(), "cache")), nil)
		if p, err = s.plan(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		m, err := s.made(ctx, Request{Key: p.Key, Plan: p})
		if err != nil {
			t.Fatal(err)
		}
		if m.Origin == nil || m.Origin.How != OriginBuilt {
			t.Fatalf("round %d: the entry was not built: origin %+v", i+1, m.Origin)
		}
		e, err := s.Publish(ctx, p.Key)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, e.Digest)
		if i == 0 {
			if err := os.Rename(s.opt.Root.EntryDir(p.Key), aside); err != nil {
				t.Fatal(err)
			}
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of one recipe at one prefix packed to %s and %s", digests[0], digests[1])
		for _, d := range diffTrees(t, aside, s.opt.Root.EntryDir(p.Key)) {
			t.Log("differs:", d)
		}
	}
	// pip is in the venv, and runs: rez-pip needs it.
	py := filepath.Join(s.opt.Root.EntryDir(p.Key), "venv", "rez", "bin", "python")
	if out, err := exec.Command(py, "-m", "pip", "--version").CombinedOutput(); err != nil {
		t.Fatalf("pip in the built venv: %v\n%s", err, out)
	}

	// Fetched back from the second cache at the same prefix, and
	// published again: the same archive.
	if err := os.RemoveAll(s.opt.Root.EntryDir(p.Key)); err != nil {
		t.Fatal(err)
	}
	m, err := s.made(ctx, Request{Key: p.Key, Plan: p})
	if err != nil {
		t.Fatal(err)
	}
	if m.Origin == nil || m.Origin.How != OriginFetched {
		t.Fatalf("the third round did not fetch: origin %+v", m.Origin)
	}
	e, err := s.Publish(ctx, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	if e.Digest != digests[1] {
		t.Errorf("a fetched entry published again packed to %s, its archive is %s", e.Digest, digests[1])
	}
}

// reproducibleSetup is the recipe a reproducibility test builds (rez, and
// withExtension an isolated extension: a second venv, and a second install
// into the rez venv's interpreter), the root it builds in, and where the
// first build is moved aside.
func reproducibleSetup(t *testing.T, withExtension bool) (r *recipe.Recipe, root, aside string) {
	t.Helper()
	extra := ""
	if withExtension {
		extra = "[[extension]]\nname = \"foo\"\nurl = \"foo==1.0\"\nisolation = true\n"
	}
	r, _, err := recipe.Parse("rezup.toml", []byte(testkit.RecipeTOML(testkit.WheelHouse(t), extra)))
	if err != nil {
		t.Fatal(err)
	}
	return r, filepath.Join(t.TempDir(), "root"), filepath.Join(t.TempDir(), "first")
}

// diffTrees lists the paths whose kind or contents differ between two
// trees (at most 20), ignoring mtimes.
func diffTrees(t *testing.T, a, b string) []string {
	read := func(root string) map[string][]byte {
		out := map[string][]byte{}
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			switch {
			case d.Type().IsRegular():
				out[rel], _ = os.ReadFile(p)
			case d.Type()&fs.ModeSymlink != 0:
				l, _ := os.Readlink(p)
				out[rel] = []byte("-> " + l)
			default:
				out[rel] = []byte("dir")
			}
			return nil
		})
		return out
	}
	ta, tb := read(a), read(b)
	var diff []string
	for k, v := range ta {
		if w, ok := tb[k]; !ok || !bytes.Equal(v, w) {
			diff = append(diff, k)
		}
	}
	for k := range tb {
		if _, ok := ta[k]; !ok {
			diff = append(diff, k+" (only in the second)")
		}
	}
	if len(diff) > 20 {
		diff = append(diff[:20], "…")
	}
	return diff
}

// debugReporter keeps every line, debug lines included.
type debugReporter struct{ countingReporter }

func (r *debugReporter) Debugf(f string, a ...any) { r.Infof(f, a...) }

func (r *debugReporter) has(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// TestLockedBuildsAreReproducible builds one lock twice at one prefix the
// two ways a locked build can go: first as `rezup add` does (venvs made
// while pip resolves, moved into the build, and the lock's wheels
// installed without pip), then from the lock alone with pip installing
// it (PIP_CONFIG_FILE set sends the install to pip) into venvs made in
// place. Both archives must have the same digest.
func TestLockedBuildsAreReproducible(t *testing.T) {
	t.Parallel()
	testkit.SkipShort(t, "slow: builds one lock twice to compare the archives (TestAddSaltRuleAndFrozen and TestLockBuildsEveryVenv cover building a lock, internal/pyresolve's TestInstallArgsInstallTheLock pip installing one, cas/archive's TestPackIsReproducible packing)")
	ctx := context.Background()
	r, root, aside := reproducibleSetup(t, true)
	// The first build, as add makes it.
	rep := &debugReporter{}
	s := newStore(t, root, openCache(t, filepath.Join(t.TempDir(), "cache")), rep)
	base, err := s.plan(ctx, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := s.resolve(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	p, err := base.with(r, lock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.made(ctx, Request{Key: p.Key, Plan: p}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"into venv rez without pip", "into venv foo without pip"} {
		if !rep.has(want) {
			t.Errorf("the first build did not log %q: %q", want, rep.lines)
		}
	}
	e, err := s.Publish(ctx, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	first, key := e.Digest, p.Key
	if err := os.Rename(s.opt.Root.EntryDir(p.Key), aside); err != nil {
		t.Fatal(err)
	}
	if ents, _ := filepath.Glob(filepath.Join(root, ".tmp", spareScratch+"*")); len(ents) != 0 {
		t.Errorf("spare venvs left behind: %q", ents)
	}
	// The second, from the lock alone, installed by pip.
	rep2 := &debugReporter{}
	s2 := New(Options{Root: Root{Dir: root}, Environ: append(os.Environ(), "PIP_CONFIG_FILE="+os.DevNull),
		Cache: openCache(t, filepath.Join(t.TempDir(), "cache")), Reporter: rep2, Version: "test", PipCache: testkit.PipCache(t)})
	p2, err := s2.plan(ctx, r, lock)
	if err != nil {
		t.Fatal(err)
	}
	if p2.Key != key {
		t.Fatalf("the same lock gave keys %s and %s", key, p2.Key)
	}
	if _, err := s2.made(ctx, Request{Key: p2.Key, Plan: p2}); err != nil {
		t.Fatal(err)
	}
	if !rep2.has("installing venv rez with pip: PIP_CONFIG_FILE is set") {
		t.Errorf("the second build did not install with pip: %q", rep2.lines)
	}
	e2, err := s2.Publish(ctx, p2.Key)
	if err != nil {
		t.Fatal(err)
	}

	if second := e2.Digest; first != second {
		t.Errorf("a lock installed without pip packed to %s, with pip to %s", first, second)
		for _, d := range diffTrees(t, aside, s2.opt.Root.EntryDir(key)) {
			t.Log("differs:", d)
		}
	}
}
