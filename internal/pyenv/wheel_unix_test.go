//go:build unix

package pyenv

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// TestInstallWheelsAsPip installs the same wheels into two venvs, with
// pip and with InstallWheels, and compares the trees file by file: the
// same files with the same bytes (once each venv's own path is taken out
// of the scripts that name it), the same modes, and the same RECORD rows:
// a build must be byte-identical whichever way its lock was installed.
func TestInstallWheelsAsPip(t *testing.T) {
	t.Parallel()
	py := probedPython(t)
	ctx := context.Background()
	house := t.TempDir()
	var wheels []Wheel
	add := func(w testkit.Wheel, direct bool) {
		p, err := testkit.WriteWheel(house, w)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		wh := Wheel{Path: p, SHA256: hex.EncodeToString(sum[:])}
		if direct {
			wh.URL = "file://" + p
		}
		wheels = append(wheels, wh)
	}
	add(testkit.RezWheel(testkit.RezVersion), false)
	add(testkit.Wheel{
		Name: "Data.Lib", Version: "1.0",
		Files: map[string]string{
			"data_lib/__init__.py":                      "X = 1\n",
			"Data_Lib-1.0.data/scripts/tool":            "#!python\nprint('tool ran')\n",
			"Data_Lib-1.0.data/scripts/plain.sh":        "#!/bin/sh\necho plain\n",
			"Data_Lib-1.0.data/headers/data_lib.h":      "#define X 1\n",
			"Data_Lib-1.0.data/data/share/data_lib.txt": "data\n",
			"Data_Lib-1.0.data/purelib/data_extra.py":   "Y = 2\n",
		},
		ConsoleScripts: map[string]string{"data-lib": "data_lib:main"},
	}, true)

	venv := func(name string) Venv {
		dir := filepath.Join(t.TempDir(), name)
		if out, err := exec.Command(py.Executable, "-E", "-m", "venv", "--without-pip", dir).CombinedOutput(); err != nil {
			t.Fatalf("venv: %v\n%s", err, out)
		}
		return Venv{Dir: dir}
	}
	byPip, byUs := venv("pip"), venv("rezup")

	base, err := FindBasePip(ctx, py, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// As a lock installs them: an index (find-links) distribution by
	// name, a direct one by URL.
	args := append(base.Argv(byPip.Python())[1:], "install", "--no-deps", "--no-compile", "--no-index", "--find-links", house, "--disable-pip-version-check", "--quiet")
	for _, w := range wheels {
		if w.URL != "" {
			args = append(args, "data-lib @ "+w.URL+"#sha256="+w.SHA256)
		} else {
			args = append(args, "rez=="+testkit.RezVersion)
		}
	}
	if out, err := exec.Command(byPip.Python(), args...).CombinedOutput(); err != nil {
		t.Fatalf("pip install: %v\n%s", err, out)
	}

	site, ok := byUs.WheelSite(py)
	if !ok {
		t.Fatalf("no wheel site in %s", byUs.Dir)
	}
	installed, err := byUs.InstallWheels(site, py.Version, wheels)
	if err != nil {
		t.Fatal(err)
	}
	if len(installed) != 2 || installed[1].Name != "Data_Lib" || installed[1].Version != "1.0" ||
		len(installed[1].Console) != 1 || installed[1].Console[0].Name != "data-lib" {
		t.Errorf("installed %+v", installed)
	}
	if eps, ok := InstalledScripts("rez", installed); !ok || len(eps) == 0 {
		t.Errorf("rez's scripts %v %v", eps, ok)
	}
	in, err := byUs.InspectInstalled(site, "rez", installed)
	if err != nil || in.RezVersion != testkit.RezVersion || in.SitePackages != site {
		t.Errorf("inspect %+v: %v", in, err)
	}

	pipFiles, usFiles := tree(t, byPip.Dir), tree(t, byUs.Dir)
	if !slices.Equal(keys(pipFiles), keys(usFiles)) {
		t.Fatalf("files differ:\npip:   %q\nrezup: %q", keys(pipFiles), keys(usFiles))
	}
	for name, a := range pipFiles {
		b := usFiles[name]
		if a.mode != b.mode {
			t.Errorf("%s: mode %v by pip, %v by rezup", name, a.mode, b.mode)
		}
		switch {
		case strings.HasSuffix(name, "/RECORD"):
			ra, rb := recordRows(t, a.data), recordRows(t, b.data)
			if !slices.Equal(keys(ra), keys(rb)) {
				t.Errorf("%s: rows %q by pip, %q by rezup", name, keys(ra), keys(rb))
			}
			for p, row := range ra {
				if strings.HasPrefix(p, "../../../bin/") {
					continue // the scripts name each venv's python
				}
				if rb[p] != row {
					t.Errorf("%s: %s is %q by pip, %q by rezup", name, p, row, rb[p])
				}
			}
		default:
			da := strings.ReplaceAll(a.data, byPip.Dir, "VENV")
			db := strings.ReplaceAll(b.data, byUs.Dir, "VENV")
			if da != db {
				t.Errorf("%s differs:\npip:   %q\nrezup: %q", name, da, db)
			}
		}
	}
	// The one test this leaves: that "#!python" became the venv's python
	// (pip's files say VENV there too, so the comparison alone would
	// pass with both unchanged).
	if got := usFiles["bin/tool"].data; !strings.HasPrefix(got, "#!"+byUs.Python()+"\n") {
		t.Errorf("bin/tool starts %q, want the venv's python", got)
	}
}

type treeFile struct {
	mode fs.FileMode
	data string
}

// tree reads every regular file under dir (pyvenv.cfg aside: it names the
// venv), by slash path.
func tree(t *testing.T, dir string) map[string]treeFile {
	t.Helper()
	files := map[string]treeFile{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "pyvenv.cfg" || strings.HasPrefix(rel, "bin/activate") || strings.HasPrefix(rel, "bin/Activate") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = treeFile{mode: fi.Mode(), data: string(data)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func recordRows(t *testing.T, data string) map[string]string {
	t.Helper()
	if !strings.Contains(data, "\r\n") {
		t.Errorf("RECORD lines do not end in CRLF, as pip's do:\n%q", data)
	}
	rows, err := csv.NewReader(strings.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r[0]] = strings.Join(r[1:], ",")
	}
	return out
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestInstallWheelsRefuses: a wheel whose bytes are not the locked ones,
// a name that leaves the venv, and a zip that is no wheel are errors, and
// the first writes nothing.
func TestInstallWheelsRefuses(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "venv", "lib", "python3.11", "site-packages")
	if err := os.MkdirAll(site, 0o777); err != nil {
		t.Fatal(err)
	}
	v := Venv{Dir: filepath.Join(dir, "venv")}
	zipOf := func(name string, files map[string]string) Wheel {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, n := range keys(files) {
			w, err := zw.Create(n)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte(files[n])); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o666); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(buf.Bytes())
		return Wheel{Path: p, SHA256: hex.EncodeToString(sum[:])}
	}
	wheelFile := "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
	good := zipOf("a-1.0-py3-none-any.whl", map[string]string{"a/__init__.py": "", "a-1.0.dist-info/WHEEL": wheelFile, "a-1.0.dist-info/METADATA": "Name: a\n"})
	stale := good
	stale.SHA256 = strings.Repeat("0", 64)
	for _, tc := range []struct {
		name  string
		wheel Wheel
		want  string
	}{
		{"stale", stale, "the lock says"},
		{"escape", zipOf("b-1.0-py3-none-any.whl", map[string]string{"../evil.py": "", "b-1.0.dist-info/WHEEL": wheelFile}), "unsafe name"},
		{"no dist-info", zipOf("c-1.0-py3-none-any.whl", map[string]string{"c.py": ""}), "0 .dist-info"},
		{"wheel 2.0", zipOf("d-1.0-py3-none-any.whl", map[string]string{"d-1.0.dist-info/WHEEL": "Wheel-Version: 2.0\n"}), "Wheel-Version 2.0"},
		{"bad data dir", zipOf("e-1.0-py3-none-any.whl", map[string]string{"e-1.0.data/weird/x": "", "e-1.0.dist-info/WHEEL": wheelFile}), "unknown .data directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.InstallWheels(site, "3.11.2", []Wheel{tc.wheel})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(tc.wheel.Path)) {
				t.Fatalf("error %v, want one naming the wheel and %q", err, tc.want)
			}
		})
	}
	if ents, _ := os.ReadDir(site); len(ents) != 0 {
		t.Errorf("a refused wheel wrote into site-packages: %v", ents)
	}
	if _, err := os.Stat(filepath.Join(dir, "evil.py")); err == nil {
		t.Error("a name leaving the venv was written")
	}
	if _, err := v.InstallWheels(site, "3.11.2", []Wheel{good}); err != nil {
		t.Fatalf("the good wheel: %v", err)
	}
}
