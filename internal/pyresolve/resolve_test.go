package pyresolve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }

// pipEnv is a pip environment that ignores the user's pip configuration
// and keeps pip's cache inside the test.
func pipEnv(t *testing.T) []string {
	home := t.TempDir()
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"PIP_CONFIG_FILE=" + os.DevNull,
		"PIP_CACHE_DIR=" + filepath.Join(home, "pip-cache"),
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
	}
}

func resolveIn(t *testing.T, options []string, reqs ...string) (*VenvResolution, error) {
	t.Helper()
	return Resolve(context.Background(), ResolveOptions{
		Name:         "rez",
		Pip:          []string{testkit.Python(t), "-m", "pip"},
		Requirements: reqs,
		Options:      options,
		Env:          pipEnv(t),
		TempDir:      t.TempDir(),
	})
}

func mustResolve(t *testing.T, options []string, reqs ...string) *VenvResolution {
	t.Helper()
	v, err := resolveIn(t, options, reqs...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func writeWheel(t *testing.T, dir string, w testkit.Wheel) string {
	t.Helper()
	p, err := testkit.WriteWheel(dir, w)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func keyBytes(t *testing.T, v *VenvResolution) string {
	t.Helper()
	b, err := (&Resolution{Version: Version, Venvs: []VenvResolution{*v}}).KeyBytes()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func only(t *testing.T, v *VenvResolution, name string) Dist {
	t.Helper()
	for _, d := range v.Dists {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("%s is not in the lock: %+v", name, v.Dists)
	return Dist{}
}

// The scenario at the package level: a find-links directory with
// rez 2.113.0 locks it with its sha256; a new release is picked up; a
// wheel rebuilt in place changes the hash and the key; moving the
// directory does not change the key.
func TestResolveFindLinks(t *testing.T) {
	t.Parallel()
	wh := t.TempDir()
	p113 := writeWheel(t, wh, testkit.RezWheel(testkit.RezVersion))
	opts := []string{"--no-index", "--find-links", wh}

	v1 := mustResolve(t, opts, "rez>=2.83")
	if len(v1.Dists) != 1 {
		t.Fatalf("lock = %+v, want rez alone", v1.Dists)
	}
	d := v1.Dists[0]
	want := Dist{Name: "rez", Version: testkit.RezVersion, Requested: true,
		Source: Source{Kind: KindIndex, URL: "file://" + filepath.ToSlash(p113), SHA256: sha256File(t, p113)}}
	if d != want {
		t.Fatalf("dist = %+v\nwant   %+v", d, want)
	}

	p114 := writeWheel(t, wh, testkit.RezWheel(testkit.RezVersionNewer))
	v2 := mustResolve(t, opts, "rez>=2.83")
	if d := only(t, v2, "rez"); d.Version != testkit.RezVersionNewer || d.Source.SHA256 != sha256File(t, p114) {
		t.Fatalf("after adding %s: %+v", testkit.RezVersionNewer, d)
	}
	if keyBytes(t, v1) == keyBytes(t, v2) {
		t.Fatal("a new release gives the same key bytes")
	}

	rebuilt := testkit.RezWheel(testkit.RezVersionNewer)
	rebuilt.Files["rez/patched.py"] = "PATCHED = True\n"
	if writeWheel(t, wh, rebuilt) != p114 {
		t.Fatal("the rebuilt wheel is not at the same path")
	}
	v3 := mustResolve(t, opts, "rez>=2.83")
	if d := only(t, v3, "rez"); d.Source.SHA256 == only(t, v2, "rez").Source.SHA256 || d.Source.SHA256 != sha256File(t, p114) {
		t.Fatalf("rebuilt wheel: sha256 %s, before %s, file %s", d.Source.SHA256, only(t, v2, "rez").Source.SHA256, sha256File(t, p114))
	}
	if keyBytes(t, v2) == keyBytes(t, v3) {
		t.Fatal("a wheel rebuilt in place gives the same key bytes")
	}

	moved := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.Rename(wh, moved); err != nil {
		t.Fatal(err)
	}
	v4 := mustResolve(t, []string{"--no-index", "--find-links", moved}, "rez>=2.83")
	if only(t, v4, "rez").Source.URL == only(t, v3, "rez").Source.URL {
		t.Fatal("the moved wheel has the same URL: the test proves nothing")
	}
	if keyBytes(t, v3) != keyBytes(t, v4) {
		t.Fatalf("moving the wheel house changes the key bytes:\n%s\n%s", keyBytes(t, v3), keyBytes(t, v4))
	}

	changes := Diff(&Resolution{Version: Version, Venvs: []VenvResolution{*v1}}, &Resolution{Version: Version, Venvs: []VenvResolution{*v2}})
	if len(changes) != 1 || changes[0].Kind != Upgraded {
		t.Fatalf("diff = %+v, want one upgrade", changes)
	}
	if got, want := FormatDiff(changes), "rez: upgraded rez 2.113.0 -> 2.114.0\n"; got != want {
		t.Fatalf("FormatDiff = %q, want %q", got, want)
	}
}

// Dependencies are locked too, canonically named and not requested.
func TestResolveDependencies(t *testing.T) {
	wh := t.TempDir()
	ext := testkit.ExtensionWheel("Foo.Ext", "1.0")
	ext.Requires = []string{"fake_lib>=1.0"}
	writeWheel(t, wh, ext)
	writeWheel(t, wh, testkit.LibWheel("fake_lib", "1.0"))
	writeWheel(t, wh, testkit.LibWheel("fake_lib", "2.0"))

	v := mustResolve(t, []string{"--no-index", "--find-links", wh}, "foo-ext")
	var got []string
	for _, d := range v.Dists {
		got = append(got, d.Name+" "+d.Version+" "+map[bool]string{true: "requested", false: "dependency"}[d.Requested])
	}
	want := []string{"fake-lib 2.0 dependency", "foo-ext 1.0 requested"}
	if !slices.Equal(got, want) {
		t.Fatalf("lock = %q, want %q", got, want)
	}
}

// venvWithoutPip creates a venv fast (no ensurepip): pip runs from the
// base interpreter with --python.
func venvWithoutPip(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "venv")
	if out, err := exec.Command(testkit.Python(t), "-m", "venv", "--without-pip", dir).CombinedOutput(); err != nil {
		t.Fatalf("venv: %v\n%s", err, out)
	}
	return dir
}

// installLock installs v into a new venv the way a build would, and
// returns the "name version" of every distribution in it.
func installLock(t *testing.T, v *VenvResolution, options []string) ([]string, []string) {
	t.Helper()
	venv := venvWithoutPip(t)
	args, _, err := v.InstallArgs(filepath.Join(t.TempDir(), "requirements.txt"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testkit.Python(t), append(append([]string{"-m", "pip", "--python", filepath.Join(venv, "bin", "python"),
		"install", "--no-input"}, options...), args...)...)
	cmd.Env = pipEnv(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		req, _ := v.Requirements()
		t.Fatalf("pip install %q: %v\n%s\nrequirements:\n%s", args, err, out, req)
	}
	infos, err := filepath.Glob(filepath.Join(venv, "lib", "python*", "site-packages", "*.dist-info"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range infos {
		name, version, _ := strings.Cut(strings.TrimSuffix(filepath.Base(p), ".dist-info"), "-")
		got = append(got, CanonicalName(name)+" "+version)
	}
	slices.Sort(got)
	return got, args
}

// A lock installs exactly its versions, with --no-deps and
// --require-hashes, although the find-links directory offers newer ones.
func TestInstallArgsInstallTheLock(t *testing.T) {
	t.Parallel()
	wh := t.TempDir()
	writeWheel(t, wh, testkit.RezWheel(testkit.RezVersion))
	ext := testkit.ExtensionWheel("foo", "1.0")
	ext.Requires = []string{"fake_lib>=1.0"}
	writeWheel(t, wh, ext)
	writeWheel(t, wh, testkit.LibWheel("fake_lib", "1.0"))
	opts := []string{"--no-index", "--find-links", wh}
	v := mustResolve(t, opts, "rez", "foo")

	writeWheel(t, wh, testkit.RezWheel(testkit.RezVersionNewer))
	writeWheel(t, wh, testkit.LibWheel("fake_lib", "2.0"))
	got, args := installLock(t, v, opts)
	if want := []string{"fake-lib 1.0", "foo 1.0", "rez " + testkit.RezVersion}; !slices.Equal(got, want) {
		t.Fatalf("installed %q, want %q", got, want)
	}
	if !slices.Contains(args, "--no-deps") || !slices.Contains(args, "--require-hashes") {
		t.Fatalf("args = %q, want --no-deps and --require-hashes", args)
	}

	// A locked hash that no file has any more is refused: the rebuild of
	// a key can never install other bytes than the lock's.
	rebuilt := testkit.RezWheel(testkit.RezVersion)
	rebuilt.Files["rez/patched.py"] = "PATCHED = True\n"
	writeWheel(t, wh, rebuilt)
	venv := venvWithoutPip(t)
	cmd := exec.Command(testkit.Python(t), append(append([]string{"-m", "pip", "--python", filepath.Join(venv, "bin", "python"),
		"install", "--no-input"}, opts...), args...)...)
	cmd.Env = pipEnv(t)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "HASHES") {
		t.Fatalf("pip installed a rebuilt wheel against the lock's hash (err %v):\n%s", err, out)
	}
}

// Each source kind round-trips through pip: resolved, then installed from
// InstallArgs by real pip.
func TestSourceKinds(t *testing.T) {
	t.Parallel()
	testkit.RequireTool(t, "git")
	wh := t.TempDir()
	whl := writeWheel(t, wh, testkit.RezWheel(testkit.RezVersion))
	src := t.TempDir()
	dirProj, err := testkit.SourceProject(src, "dir-proj", "1.1", nil)
	if err != nil {
		t.Fatal(err)
	}
	editProj, err := testkit.SourceProject(src, "edit-proj", "1.2", nil)
	if err != nil {
		t.Fatal(err)
	}
	vcsProj, err := testkit.SourceProject(src, "vcs-proj", "1.3", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"}} {
		if out, err := exec.Command("git", append([]string{"-C", vcsProj}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %q: %v\n%s", args, err, out)
		}
	}
	head, err := exec.Command("git", "-C", vcsProj, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	// Build isolation needs no index: the projects' backend has no build
	// requirements.
	opts := []string{"--no-index"}

	t.Run("file", func(t *testing.T) {
		v := mustResolve(t, opts, "rez @ file://"+filepath.ToSlash(whl))
		d := only(t, v, "rez")
		if d.Source.Kind != KindFile || d.Source.SHA256 != sha256File(t, whl) {
			t.Fatalf("source = %+v", d.Source)
		}
		got, args := installLock(t, v, opts)
		if !slices.Equal(got, []string{"rez " + testkit.RezVersion}) || !slices.Contains(args, "--require-hashes") {
			t.Fatalf("installed %q with %q", got, args)
		}
	})
	t.Run("dirs and vcs", func(t *testing.T) {
		v := mustResolve(t, opts, dirProj, "-e", editProj, "git+file://"+filepath.ToSlash(vcsProj)+"@master#egg=vcs-proj")
		dir, edit, vcs := only(t, v, "dir-proj"), only(t, v, "edit-proj"), only(t, v, "vcs-proj")
		if dir.Source.Kind != KindDir || dir.Source.Editable || dir.Source.Path != dirProj {
			t.Fatalf("dir source = %+v", dir.Source)
		}
		if edit.Source.Kind != KindDir || !edit.Source.Editable || edit.Source.Path != editProj {
			t.Fatalf("editable source = %+v", edit.Source)
		}
		tree, err := TreeHash(dirProj)
		if err != nil || dir.Source.TreeSHA256 != tree {
			t.Fatalf("dir tree hash %s, TreeHash %s (%v)", dir.Source.TreeSHA256, tree, err)
		}
		if vcs.Source.Kind != KindVCS || vcs.Source.VCS != "git" || vcs.Source.Commit != strings.TrimSpace(string(head)) ||
			vcs.Source.RequestedRevision != "master" {
			t.Fatalf("vcs source = %+v", vcs.Source)
		}
		got, args := installLock(t, v, opts)
		if want := []string{"dir-proj 1.1", "edit-proj 1.2", "vcs-proj 1.3"}; !slices.Equal(got, want) {
			t.Fatalf("installed %q, want %q", got, want)
		}
		if slices.Contains(args, "--require-hashes") {
			t.Fatalf("args = %q: dir and vcs sources have no hash pip can check", args)
		}
	})
}

func TestResolveErrors(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name    string
		options []string
		want    error
		text    string
	}{
		{"not found", []string{"--no-index", "--find-links", empty}, ErrNotFound, "Could not find a version"},
		// pip reports a refused connection only when it retries (a WARNING);
		// with --retries 0 it logs it at debug level, and the error is
		// ErrNotFound.
		{"no network", []string{"--index-url", "http://127.0.0.1:9/simple", "--retries", "1", "--timeout", "2"}, ErrNoNetwork, "rez"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveIn(t, tt.options, "rez>=2.83")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			// The message is the first line; pip's output follows it, for
			// the caller's excerpt.
			msg, output, _ := strings.Cut(err.Error(), "\n")
			if !strings.Contains(msg, tt.text) || !strings.HasPrefix(msg, "resolve rez: ") || !strings.Contains(output, "ERROR: ") {
				t.Fatalf("error is not a line naming the venv and pip's reason, then pip's output: %q", err)
			}
		})
	}
	if _, err := resolveIn(t, nil, "--no-such-pip-option"); err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoNetwork) ||
		!strings.Contains(err.Error(), "no such option") {
		t.Fatalf("bad option: err = %v", err)
	}

	// A build backend that raises: pip prints no ERROR line, only its
	// summary of the step and the backend's traceback.
	src := t.TempDir()
	for name, text := range map[string]string{
		"pyproject.toml": "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n",
		"backend.py":     "def _check():\n    raise RuntimeError('the build of badpkg is broken')\n\n\ndef get_requires_for_build_wheel(config_settings=None):\n    _check()\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := resolveIn(t, []string{"--no-index"}, src)
	var msg string
	if err != nil {
		msg, _, _ = strings.Cut(err.Error(), "\n")
	}
	if err == nil || !strings.Contains(msg, "RuntimeError: the build of badpkg is broken") ||
		strings.Contains(msg, "Traceback") || strings.Count(msg, "did not run successfully") != 1 {
		t.Fatalf("failed build backend: err = %v, want one line with pip's summary of the step and the exception", err)
	}
}
