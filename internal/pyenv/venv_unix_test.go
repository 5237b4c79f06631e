//go:build unix

package pyenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// runRez runs a fake-rez entry point and decodes the line it prints.
func runRez(t *testing.T, script string, env []string, args ...string) testkit.RezReport {
	t.Helper()
	cmd := exec.Command(script, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, stderr.Bytes())
	}
	var rep testkit.RezReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("%s printed %q: %v", script, out, err)
	}
	return rep
}

// TestVenv builds one real venv (slow, so every step shares it): create,
// pip install the fake rez offline, write production entry points, run
// them, then move the venv to a much longer path, relocate it and run
// them again.
func TestVenv(t *testing.T) {
	t.Parallel()
	py := probedPython(t)
	wheels := testkit.WheelHouse(t)
	ctx := context.Background()
	// PYTHONPATH pointing at nothing shows whether -E is in effect.
	env := append(os.Environ(), "PYTHONPATH=/nonexistent/pythonpath")

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // later steps build on this one
		}
	}
	step("probe", func(t *testing.T) {
		if !filepath.IsAbs(py.Executable) || strings.Contains(py.Executable, "/shims/") {
			t.Errorf("executable %q is not the real interpreter", py.Executable)
		}
		if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(py.Version) || py.Implementation != "cpython" || py.Platform == "" {
			t.Errorf("identity %+v", py)
		}
	})

	buildDir := filepath.Join(t.TempDir(), "venv", "rez")
	pipCache := t.TempDir()
	var v Venv
	step("create", func(t *testing.T) {
		var log bytes.Buffer
		var err error
		v, err = Create(ctx, py, buildDir, env, &log, CreateOptions{WithoutPip: true, PipCache: pipCache})
		if err != nil {
			t.Fatalf("%v\nlog:\n%s", err, log.Bytes())
		}
		if v.seed == nil {
			t.Fatalf("created with ensurepip; log:\n%s", log.Bytes())
		}
		// pip is copied in, compiled, from the unpacked bundled wheel.
		if pip, ok := v.CopiedPip(); !ok || !strings.HasPrefix(pip.Dir, pipCache+"/pip-") {
			t.Fatalf("pip not copied from the cache: %+v, %v", pip, ok)
		}
		out, err := exec.Command(v.Python(), "-m", "pip", "--version").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(v.Dir+"/")) {
			t.Fatalf("pip in the venv: %v\n%s", err, out)
		}
		if pc := v.PipCommand(); !slices.Equal(pc, []string{v.Python(), "-E", "-m", "pip"}) {
			t.Fatalf("pip command once pip is copied: %q", pc)
		}
		if _, err := os.Stat(v.Python()); err != nil {
			t.Fatal(err)
		}
		if err := CheckBase(ctx, v.Dir, Trust{PathEnv: os.Getenv("PATH")}, env); err != nil {
			t.Fatal(err)
		}
	})

	step("install", func(t *testing.T) {
		var log bytes.Buffer
		args := []string{"--no-index", "--find-links", wheels, "rez==" + testkit.RezVersion}
		if err := v.Install(ctx, args, env, &log); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(log.String(), "Successfully installed pip-") || !strings.Contains(log.String(), "rez-"+testkit.RezVersion) {
			t.Errorf("pip installed again, or pip output not logged:\n%s", log.Bytes())
		}
		// pip is in the venv now (rez-pip needs it), and runs from there.
		out, err := exec.Command(v.Python(), "-m", "pip", "--version").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(v.Dir+"/")) {
			t.Fatalf("pip in the venv: %v\n%s", err, out)
		}
		if pc := v.PipCommand(); !slices.Equal(pc, []string{v.Python(), "-E", "-m", "pip"}) {
			t.Fatalf("pip command once pip is installed: %q", pc)
		}
	})

	step("install failure", func(t *testing.T) {
		err := v.Install(ctx, []string{"--no-index", "--find-links", wheels, "no-such-dist"}, env, nil)
		if err == nil {
			t.Fatal("installing a missing distribution succeeded")
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "pip install --no-index --find-links "+wheels+" no-such-dist failed (exit 1):\n") ||
			!strings.Contains(msg, "No matching distribution found for no-such-dist") {
			t.Fatalf("error:\n%s", msg)
		}
	})

	var eps []EntryPoint
	step("introspect", func(t *testing.T) {
		var err error
		eps, err = v.ConsoleScripts(ctx, "rez", env)
		if err != nil {
			t.Fatal(err)
		}
		want := []EntryPoint{
			{"rez", "rez.cli._main", "run"},
			{"rez-env", "rez.cli._main", "run"},
			{"rez-python", "rez.cli._main", "run"},
		}
		if !slices.Equal(eps, want) {
			t.Fatalf("console scripts %v, want %v", eps, want)
		}
		if _, err := v.ConsoleScripts(ctx, "no-such-dist", env); !errors.Is(err, ErrNotInstalled) {
			t.Fatalf("missing distribution: %v", err)
		}
		ver, err := v.RezVersion(ctx, env)
		if err != nil || ver != testkit.RezVersion {
			t.Fatalf("rez version %q, %v", ver, err)
		}
		sp, err := v.SitePackages(ctx, env)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(sp, "rez", "utils", "_version.py")); err != nil || !strings.HasPrefix(sp, v.Dir+"/") {
			t.Fatalf("site-packages %s: %v", sp, err)
		}
		// Inspect asks the three at once.
		in, err := v.Inspect(ctx, "rez", env)
		if err != nil || !slices.Equal(in.Scripts, eps) || in.RezVersion != ver || in.SitePackages != sp {
			t.Fatalf("inspect: %+v, %v", in, err)
		}
		if _, err := v.Inspect(ctx, "no-such-dist", env); !errors.Is(err, ErrNotInstalled) {
			t.Fatalf("inspect a missing distribution: %v", err)
		}
	})

	step("production entry points", func(t *testing.T) {
		names := make([]string, len(eps))
		for i, ep := range eps {
			names[i] = ep.Name
		}
		// bin/rez the pip script must go before bin/rez the directory.
		if err := RemoveScripts(v.BinDir(), names); err != nil {
			t.Fatal(err)
		}
		if err := WriteEntryPoints(v.ProdBinDir(), v.Python(), []string{"-E"}, eps, ""); err != nil {
			t.Fatal(err)
		}
		if err := WriteProductionMarker(v.ProdBinDir(), testkit.RezVersion); err != nil {
			t.Fatal(err)
		}
		rep := runRez(t, filepath.Join(v.ProdBinDir(), "rez-env"), env, "a", "b")
		if !rep.IgnoreEnvironment || !rep.ProductionMarker || rep.Prefix != v.Dir || rep.Executable != v.Python() {
			t.Fatalf("report %+v", rep)
		}
		if !slices.Equal(rep.Argv[1:], []string{"a", "b"}) || rep.RezBinPath != nil {
			t.Fatalf("report %+v", rep)
		}
	})

	step("edit mode entry points", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "edit")
		if err := WriteEntryPoints(dir, v.Python(), []string{"-E"}, eps, v.ProdBinDir()); err != nil {
			t.Fatal(err)
		}
		if rep := runRez(t, filepath.Join(dir, "rez"), env); rep.RezBinPath != nil {
			t.Errorf("rez_bin_path set without REZUP_EDIT_IN_PRODUCTION: %q", *rep.RezBinPath)
		}
		rep := runRez(t, filepath.Join(dir, "rez"), append(env, "REZUP_EDIT_IN_PRODUCTION=1"))
		if rep.RezBinPath == nil || *rep.RezBinPath != v.ProdBinDir() {
			t.Errorf("rez_bin_path = %v, want %s", rep.RezBinPath, v.ProdBinDir())
		}
	})

	step("relocate", func(t *testing.T) {
		newDir := filepath.Join(t.TempDir(), strings.Repeat("relocated-far-away/", 5), "venv", "rez")
		if len(Shebang(filepath.Join(newDir, "bin", "python"), []string{"-E"})) <= maxShebang+20 {
			t.Fatal("test path too short to need the /bin/sh form")
		}
		if err := os.MkdirAll(filepath.Dir(newDir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(buildDir, newDir); err != nil {
			t.Fatal(err)
		}
		rep, err := Relocate(newDir, buildDir, newDir)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Rewritten < 5 || len(rep.Binary) != 0 {
			t.Errorf("report %+v", rep)
		}
		nv := Venv{Dir: newDir}
		script := filepath.Join(nv.ProdBinDir(), "rez-env")
		head, _ := os.ReadFile(script)
		if !bytes.HasPrefix(head, []byte("#!/bin/sh\n'''exec' \""+nv.Python()+"\" -E ")) {
			t.Fatalf("header not rebuilt:\n%s", head)
		}
		r := runRez(t, script, env, "a", "b")
		if !r.IgnoreEnvironment || !r.ProductionMarker || r.Prefix != newDir || r.Executable != nv.Python() ||
			!strings.HasPrefix(r.RezFile, newDir+"/") || !slices.Equal(r.Argv[1:], []string{"a", "b"}) {
			t.Fatalf("report %+v", r)
		}
		// pip's own script moved too, and pip still works there.
		out, err := exec.Command(filepath.Join(nv.BinDir(), "pip"), "--version").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(newDir)) {
			t.Fatalf("relocated pip: %v\n%s", err, out)
		}
		if err := CheckBase(ctx, newDir, Trust{PathEnv: os.Getenv("PATH")}, env); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCopiedPip checks pip as Create copies it into a venv: compiled with
// hash pycs that do not name the cache, listed by pip with a RECORD that
// matches every file, uninstalled whole by pip, and the same bytes in two
// venvs.
func TestCopiedPip(t *testing.T) {
	t.Parallel()
	py := probedPython(t)
	ctx := context.Background()
	pipCache := t.TempDir()
	venv := func(dir string, base *BasePip) (Venv, string) {
		v, err := Create(ctx, py, dir, nil, nil, CreateOptions{WithoutPip: true, PipCache: pipCache, BasePip: base})
		if err != nil {
			t.Fatal(err)
		}
		pip, ok := v.CopiedPip()
		if !ok {
			t.Fatal("pip not copied")
		}
		site, err := v.SitePackages(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if pip.Version == "" {
			t.Fatal("no pip version")
		}
		return v, site
	}
	v, site := venv(filepath.Join(t.TempDir(), "a"), nil)
	pip, _ := v.CopiedPip()

	pycs, err := filepath.Glob(filepath.Join(site, "pip", "__pycache__", "*.pyc"))
	if err != nil || len(pycs) == 0 {
		t.Fatalf("no pycs in the copied pip: %v", err)
	}
	for _, pyc := range pycs {
		data, err := os.ReadFile(pyc)
		if err != nil {
			t.Fatal(err)
		}
		// PEP 552 flags: 0b11 is checked-hash.
		if len(data) < 16 || data[4] != 3 {
			t.Fatalf("%s is not a checked-hash pyc: % x", pyc, data[:min(16, len(data))])
		}
		if bytes.Contains(data, []byte(pipCache)) {
			t.Fatalf("%s names the pip cache %s", pyc, pipCache)
		}
	}

	// pip lists itself as installed, and RECORD says every file as it is.
	out, err := exec.Command(filepath.Join(v.BinDir(), "pip"), "list", "--disable-pip-version-check", "--format", "json").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(`{"name": "pip", "version": "`+pip.Version+`"}`)) {
		t.Fatalf("pip list: %v\n%s", err, out)
	}
	recs, _ := filepath.Glob(filepath.Join(site, "pip-*.dist-info", "RECORD"))
	if len(recs) != 1 {
		t.Fatalf("RECORD files %q", recs)
	}
	before, err := os.ReadFile(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := RehashRecords(site, site); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(recs[0]); !bytes.Equal(before, after) {
		t.Fatal("RECORD does not match the files copied")
	}
	for _, want := range []string{"pip/__init__.py,sha256=", "../../../bin/pip,sha256=", "../../../bin/pip" + py.MajorMinor() + ",sha256=", "/INSTALLER,sha256="} {
		if !bytes.Contains(before, []byte(want)) {
			t.Errorf("RECORD has no %q:\n%.2000s", want, before)
		}
	}

	// A second venv gets the same bytes: nothing depends on the venv.
	// (Its base pip is the one found for the first: BasePip.)
	v2, site2 := venv(filepath.Join(t.TempDir(), "a"), &pip)
	for _, pyc := range pycs[:3] {
		a, _ := os.ReadFile(pyc)
		b, err := os.ReadFile(filepath.Join(site2, "pip", "__pycache__", filepath.Base(pyc)))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s differs between two venvs: %v", filepath.Base(pyc), err)
		}
	}

	// RECORD too, but for the scripts, whose shebang names the venv.
	rec2, err := os.ReadFile(filepath.Join(site2, filepath.Base(filepath.Dir(recs[0])), "RECORD"))
	if err != nil {
		t.Fatal(err)
	}
	notScripts := func(rec []byte) string {
		var rows []string
		for _, row := range strings.Split(string(rec), "\n") {
			if !strings.HasPrefix(row, "../") {
				rows = append(rows, row)
			}
		}
		return strings.Join(rows, "\n")
	}
	if notScripts(before) != notScripts(rec2) {
		t.Fatal("RECORD differs between two venvs")
	}

	// pip uninstalls itself entirely, scripts included.
	out, err = exec.Command(v2.Python(), "-m", "pip", "uninstall", "-y", "pip").CombinedOutput()
	if err != nil {
		t.Fatalf("pip uninstall: %v\n%s", err, out)
	}
	for _, gone := range []string{filepath.Join(site2, "pip"), filepath.Join(v2.BinDir(), "pip"), filepath.Join(v2.BinDir(), "pip3")} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after pip uninstall: %v", gone, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(site2, "pip-*")); len(left) != 0 {
		t.Errorf("left after pip uninstall: %q", left)
	}
}
