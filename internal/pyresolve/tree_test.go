package pyresolve

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTreeHash(t *testing.T) {
	root := t.TempDir()
	write := func(rel, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	hash := func() string {
		t.Helper()
		h, err := TreeHash(root)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	write("pyproject.toml", "[project]\n", 0o644)
	write("src/pkg/__init__.py", "X = 1\n", 0o644)
	base := hash()
	if hash() != base {
		t.Fatal("TreeHash is not stable")
	}

	// Build outputs and caches do not count.
	for _, rel := range []string{"src/pkg/__pycache__/x.cpython-311.pyc", "src/pkg/mod.pyc", ".git/HEAD",
		"build/lib/pkg/__init__.py", "dist/pkg-1.0.tar.gz", "src/pkg.egg-info/PKG-INFO", ".venv/bin/python"} {
		write(rel, "noise", 0o644)
	}
	if h := hash(); h != base {
		t.Fatal("ignored files change the hash")
	}
	// Nor does the umask: only the executable bit counts.
	if err := os.Chmod(filepath.Join(root, "src/pkg/__init__.py"), 0o600); err != nil {
		t.Fatal(err)
	}
	if h := hash(); h != base {
		t.Fatal("a permission other than the executable bit changes the hash")
	}

	changes := []struct {
		name string
		do   func()
	}{
		{"edited file", func() { write("src/pkg/__init__.py", "X = 2\n", 0o644) }},
		{"executable", func() { write("src/pkg/__init__.py", "X = 2\n", 0o755) }},
		{"new file", func() { write("src/pkg/new.py", "", 0o644) }},
		{"nested build dir counts", func() { write("src/pkg/build/x.py", "", 0o644) }},
		{"symlink", func() {
			if err := os.Symlink("new.py", filepath.Join(root, "src/pkg/link.py")); err != nil {
				t.Fatal(err)
			}
		}},
		{"renamed", func() {
			if err := os.Rename(filepath.Join(root, "src/pkg/new.py"), filepath.Join(root, "src/pkg/new2.py")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	prev := base
	for _, c := range changes {
		c.do()
		if h := hash(); h == prev {
			t.Fatalf("%s: the hash did not change", c.name)
		} else {
			prev = h
		}
	}

	if _, err := TreeHash(filepath.Join(root, "missing")); err == nil {
		t.Fatal("TreeHash of a missing directory succeeded")
	}
}
