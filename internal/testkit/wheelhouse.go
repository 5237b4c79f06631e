package testkit

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The wheel house contents. Tests name these versions in recipes, so they
// are constants rather than literals scattered over test files.
const (
	RezVersion      = "2.113.0" // what RecipeTOML installs
	RezVersionNewer = "2.114.0" // for upgrade tests
)

// WheelHouseWheels is what WheelHouse and WheelHouseAt write: rez at
// RezVersion and RezVersionNewer, extensions foo and bar, and libraries
// toml_fake and fake_lib (two versions).
func WheelHouseWheels() []Wheel {
	return []Wheel{
		RezWheel(RezVersion),
		RezWheel(RezVersionNewer),
		ExtensionWheel("foo", "1.0"),
		ExtensionWheel("bar", "1.0"),
		LibWheel("toml_fake", "0.10.2"),
		LibWheel("fake_lib", "1.0"),
		LibWheel("fake_lib", "2.0"),
	}
}

// WheelHouseAt writes WheelHouseWheels into dir, creating it if needed.
func WheelHouseAt(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("wheel house: %w", err)
	}
	for _, w := range WheelHouseWheels() {
		if _, err := WriteWheel(dir, w); err != nil {
			return fmt.Errorf("wheel house: %w", err)
		}
	}
	return nil
}

var wheelHouse struct {
	once sync.Once
	dir  string
	err  error
}

// WheelHouse returns a find-links directory holding WheelHouseWheels,
// written once per test process into the process temp dir (see Main).
// Treat it as read-only: other tests share it.
func WheelHouse(t testing.TB) string {
	t.Helper()
	wheelHouse.once.Do(func() {
		root, err := processDir()
		if err != nil {
			wheelHouse.err = err
			return
		}
		wheelHouse.dir = filepath.Join(root, "wheelhouse")
		wheelHouse.err = WheelHouseAt(wheelHouse.dir)
	})
	if wheelHouse.err != nil {
		t.Fatalf("testkit: %v", wheelHouse.err)
	}
	return wheelHouse.dir
}

var procDir struct {
	once sync.Once
	dir  string
	err  error
}

// processDir is the one temporary directory that holds process-wide
// fixtures. It lives outside any test's TempDir, since the first test to
// ask for a fixture must not take it with it when it ends.
func processDir() (string, error) {
	procDir.once.Do(func() {
		procDir.dir, procDir.err = os.MkdirTemp("", "rezup-testkit-")
		if procDir.err != nil {
			procDir.err = fmt.Errorf("process temp dir: %w", procDir.err)
		}
	})
	return procDir.dir, procDir.err
}

// Main runs the tests and then removes the process-wide fixtures (the
// wheel house and built binaries). Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.Main(m)) }
//
// Without it those fixtures stay in the system temp dir.
//
// First, when python3 on PATH is a script (a version manager's shim, as
// pyenv's), it puts the directory of the interpreter the shim runs
// first on the process's PATH, which sessions and every child inherit:
// each start of a pyenv shim runs bash scripts for about half a second of
// CPU, paid by every python the tests start. rezup's handling of shims is
// tested on its own (internal/pyenv's fake shims).
func Main(m *testing.M) int {
	unshimPython()
	code := m.Run()
	if procDir.dir != "" {
		// Best effort: a leftover temp dir costs disk space, not correctness.
		_ = os.RemoveAll(procDir.dir)
	}
	return code
}

// unshimPython puts the real interpreter behind a python3 shim first on
// PATH (see Main). Best effort: anything unexpected leaves PATH as it is.
func unshimPython() {
	shim, err := exec.LookPath("python3")
	if err != nil {
		return
	}
	head := make([]byte, 2)
	f, err := os.Open(shim)
	if err != nil {
		return
	}
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil || string(head) != "#!" {
		return // an executable, not a script
	}
	out, err := exec.Command(shim, "-c", "import sys; print(sys.executable)").Output()
	real := strings.TrimSpace(string(out))
	if err != nil || !filepath.IsAbs(real) || filepath.Dir(real) == filepath.Dir(shim) {
		return
	}
	if fi, err := os.Stat(filepath.Join(filepath.Dir(real), "python3")); err != nil || fi.IsDir() {
		return // the directory has no python3 to find first
	}
	os.Setenv("PATH", filepath.Dir(real)+string(os.PathListSeparator)+os.Getenv("PATH"))
}
