package testkit_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/testkit"
)

// The layout is the Python rezup's, file by file.
func TestPythonRezupRevisionLayout(t *testing.T) {
	t.Parallel()
	testkit.SkipShort(t, "slow: a venv and a pip install, for the fixture of cmd/rezup's tests of Python-built revisions, which are out of the fast tier too")
	root := t.TempDir()
	made := time.Unix(1619780350, 588625000)
	dir := testkit.PythonRezupRevision(t, root, "legacy", made, "[rez]\nurl = \"rez\"\n", testkit.WheelHouse(t))
	if want := filepath.Join(root, "legacy", "revisions", "1619780350.588625"); dir != want {
		t.Fatalf("revision dir %s, want %s", dir, want)
	}
	b, err := os.ReadFile(filepath.Join(dir, "revision.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(string(b), "\n") || !strings.HasPrefix(string(b), "{\n    \"rezup_version\": ") {
		t.Errorf("revision.json is not json.dumps(indent=4):\n%s", b)
	}
	var meta map[string]any
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	if _, ok := meta["key"]; ok || meta["revision_path"] != dir || len(meta) != 5 {
		t.Errorf("revision.json: %v", meta)
	}
	venv := filepath.Join(dir, "venv", "rez")
	if fi, err := os.Lstat(filepath.Join(dir, "venv")); err != nil || !fi.IsDir() {
		t.Fatalf("venv is not a real directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(venv, "bin", "rez-env")); !os.IsNotExist(err) {
		t.Errorf("the venv's own rez-env was not deleted: %v", err)
	}
	marker, err := os.ReadFile(filepath.Join(venv, "bin", "rez", ".rez_production_install"))
	if err != nil || string(marker) != testkit.RezVersion {
		t.Errorf("production marker %q, %v", marker, err)
	}
	script := filepath.Join(venv, "bin", "rez", "rez-env")
	head, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(head), "\n"); first != "#!"+filepath.Join(venv, "bin", "python")+" -E" {
		t.Errorf("shebang %q", first)
	}
	out, err := exec.Command(script).Output()
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	var r testkit.RezReport
	if err := json.Unmarshal(out, &r); err != nil || !r.ProductionMarker || !r.IgnoreEnvironment || r.RezVersion != testkit.RezVersion {
		t.Errorf("report %+v, %v", r, err)
	}
}
