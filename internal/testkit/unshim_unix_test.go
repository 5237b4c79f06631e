//go:build unix

package testkit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A python3 on PATH that is a script (a shim) is resolved once: the
// directory of the interpreter it runs comes first on PATH. A python3
// that is no script leaves PATH as it was.
func TestUnshimPython(t *testing.T) {
	real := Python(t)
	out, err := exec.Command(real, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatal(err)
	}
	exe := strings.TrimSpace(string(out))
	shims := t.TempDir()
	shim := "#!/bin/sh\nexec " + exe + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(shims, "python3"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	rest := "/usr/bin:/bin"
	t.Setenv("PATH", shims+":"+rest)
	unshimPython()
	if got, want := os.Getenv("PATH"), filepath.Dir(exe)+":"+shims+":"+rest; got != want {
		t.Errorf("PATH after a shim: %q, want %q", got, want)
	}

	// An interpreter itself (a link to it is no script): PATH stays.
	direct := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(direct, "python3")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", direct+":"+rest)
	unshimPython()
	if got := os.Getenv("PATH"); got != direct+":"+rest {
		t.Errorf("PATH after a python3 that is no script: %q", got)
	}
}
