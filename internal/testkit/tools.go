package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// aptPackages names the Debian/Ubuntu package for tools tests use.
var aptPackages = map[string]string{
	"python3": "python3",
	"go":      "golang-go",
	"git":     "git",
	"bash":    "bash",
	"zsh":     "zsh",
	"fish":    "fish",
	"tcsh":    "tcsh",
	"csh":     "csh",
	"zstd":    "zstd",
	"tar":     "tar",
	"flock":   "util-linux",
}

// RequireTool fails the test unless name is on PATH. Tests never skip for
// a missing tool: the environment is broken and the message says how to
// fix it.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("testkit: %s", missingTool(name, err))
	}
	return path
}

func missingTool(name string, err error) string {
	msg := fmt.Sprintf("required tool %q not found on PATH (%v)", name, err)
	if pkg, ok := aptPackages[name]; ok {
		msg += fmt.Sprintf(": install it (apt-get install -y %s)", pkg)
	} else {
		msg += ": install it and put it on PATH"
	}
	return msg
}

var python struct {
	once sync.Once
	path string
	err  error
}

// Python returns the path of python3 after checking, once per process,
// that it can create virtual environments with pip in them: the venv
// module runs and ensurepip is present (Debian splits both into
// python3-venv).
func Python(t testing.TB) string {
	t.Helper()
	python.once.Do(func() {
		path, err := exec.LookPath("python3")
		if err != nil {
			python.err = fmt.Errorf("%s", missingTool("python3", err))
			return
		}
		python.path = path
		dir, err := os.MkdirTemp("", "rezup-testkit-venv-")
		if err != nil {
			python.err = fmt.Errorf("python3 -m venv does not work (%v): install python3-venv (apt-get install -y python3-venv)", err)
			return
		}
		// Best effort: the probe venv is a few kilobytes in the temp dir.
		defer os.RemoveAll(dir)
		// --without-pip keeps the probe fast; ensurepip is checked on its
		// own, as it is the part distributions leave out.
		probes := [][]string{
			{"-m", "venv", "--without-pip", filepath.Join(dir, "venv")},
			{"-c", "import ensurepip; ensurepip.version()"},
		}
		for _, args := range probes {
			out, err := exec.Command(path, args...).CombinedOutput()
			if err != nil {
				python.err = fmt.Errorf("python3 -m venv does not work (%v: %s): install python3-venv (apt-get install -y python3-venv)",
					err, strings.TrimSpace(string(out)))
				return
			}
		}
	})
	if python.err != nil {
		t.Fatalf("testkit: %v", python.err)
	}
	return python.path
}
