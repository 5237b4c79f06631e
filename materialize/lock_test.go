package materialize

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/pyresolve"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/recipe"
)

// A recipe with a non-isolated extension, [shared] and an isolated
// extension locks into three venvs, builds from the lock, and a frozen
// recipe with that lock gives the same key with no pip run.
func TestLockBuildsEveryVenv(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	wheels := testkit.WheelHouse(t)
	src := `[pip]
options = ["--no-index", "--find-links", "` + wheels + `"]

[rez]
url = "rez==` + testkit.RezVersion + `"
lib = ["fake_lib<2"]

[[extension]]
name = "bar"
url = "bar==1.0"

[shared]
name = "studio"
requires = ["toml_fake"]

[[extension]]
name = "foo"
url = "foo==1.0"
isolation = true
`
	r, _, err := recipe.Parse("rezup.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(t, filepath.Join(t.TempDir(), "root"), nil, nil)
	p, err := s.plan(ctx, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	lock, err := s.resolve(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	dists := map[string][]string{}
	for _, v := range lock.Venvs {
		names = append(names, v.Name)
		for _, d := range v.Dists {
			dists[v.Name] = append(dists[v.Name], d.Name+"=="+d.Version)
		}
	}
	if want := []string{"rez", "shared", "foo"}; !slices.Equal(names, want) {
		t.Fatalf("venvs %q, want %q", names, want)
	}
	pip := ""
	for _, d := range lock.Venvs[0].Dists {
		if d.Name == "pip" {
			pip = "pip==" + d.Version
			if d.Source.Kind != pyresolve.KindFile || d.Source.SHA256 == "" {
				t.Errorf("pip's source: %+v", d.Source)
			}
		}
	}
	for venv, want := range map[string][]string{
		"rez":    {"bar==1.0", "fake-lib==1.0", pip, "rez==" + testkit.RezVersion},
		"shared": {"toml-fake==0.10.2"},
		"foo":    {"foo==1.0", pip, "rez==" + testkit.RezVersion},
	} {
		if !slices.Equal(dists[venv], want) {
			t.Errorf("venv %s locks %q, want %q", venv, dists[venv], want)
		}
	}

	lp, err := p.with(r, lock)
	if err != nil {
		t.Fatal(err)
	}
	if lp.Key == p.Key {
		t.Error("the locked key is the unlocked one")
	}
	rp, err := s.plan(ctx, r, lock)
	if err != nil || rp.Key != lp.Key {
		t.Fatalf("plan with the resolution: %v, key %v, want %s", err, rp, lp.Key)
	}
	m, err := s.made(ctx, Request{Key: lp.Key, Plan: lp})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Venvs, []string{"rez", "foo"}) {
		t.Errorf("venvs built: %q", m.Venvs)
	}
	entry := s.opt.Root.EntryDir(lp.Key)
	for _, venv := range m.Venvs {
		py := filepath.Join(entry, "venv", venv, "bin", "python")
		if out, err := exec.Command(py, "-m", "pip", "--version").CombinedOutput(); err != nil {
			t.Errorf("pip in venv %s: %v\n%s", venv, err, out)
		}
	}
	py := filepath.Join(entry, "venv", "rez", "bin", "python")
	if out, err := exec.Command(py, "-E", "-c", "import toml_fake, fake_lib, bar, rez").CombinedOutput(); err != nil {
		t.Errorf("the rez venv does not import its lock and [shared]: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(entry, "venv", "rez", "bin", "rez", "bar")); err != nil {
		t.Errorf("bar's production entry point: %v", err)
	}

	// A recipe that now makes a venv the lock lacks is refused.
	short := &pyresolve.Resolution{Version: pyresolve.Version, Venvs: lock.Venvs[:2]}
	if _, err := s.plan(ctx, r, short); err == nil || !strings.Contains(err.Error(), `the lock has no venv "foo"`) {
		t.Errorf("a lock without venv foo: %v", err)
	}
}
