package backend_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/backend/backendtest"
)

func TestDirBackendSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return backend.NewDirBackend(filepath.Join(t.TempDir(), "cache"), backend.DirOptions{})
	})
}

// The limit wrapper is a backend like any other.
func TestLimitedSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return backend.LimitTransfers(backend.NewDirBackend(t.TempDir(), backend.DirOptions{}), 2)
	})
}

// So is the idle-timeout wrapper.
func TestIdleSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return backend.IdleTimeout(backend.NewDirBackend(t.TempDir(), backend.DirOptions{}), time.Minute)
	})
}

// An empty folder, which a crash can leave, is listed as a marker so that
// it can be aged and deleted; a non-empty one is not.
func TestDirBackendMarkers(t *testing.T) {
	dir := t.TempDir()
	b := backend.NewDirBackend(dir, backend.DirOptions{})
	os.MkdirAll(filepath.Join(dir, "k", "empty"), 0o755)
	os.MkdirAll(filepath.Join(dir, "full"), 0o755)
	os.WriteFile(filepath.Join(dir, "full", "f"), []byte("f"), 0o644)
	var names []string
	if err := b.List(context.Background(), "", func(o backend.ObjectInfo) error {
		names = append(names, o.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || !contains(names, "k/empty/") || !contains(names, "full/f") {
		t.Fatalf("listed %q, want the empty folder's marker and the file", names)
	}
	if err := b.Delete(context.Background(), "k/empty/"); err != nil {
		t.Fatal(err)
	}
	// Deleting the marker removed the folder and the parent it emptied.
	if _, err := os.Stat(filepath.Join(dir, "k")); !os.IsNotExist(err) {
		t.Fatalf("emptied parent still there: %v", err)
	}
	if err := b.Delete(context.Background(), "full/"); err == nil {
		t.Fatal("deleted a marker for a folder that is not empty")
	}
}

// Objects the options name are stored read-only; the rest world-readable.
func TestDirBackendModes(t *testing.T) {
	dir := t.TempDir()
	b := backend.NewDirBackend(dir, backend.DirOptions{ReadOnly: func(name string) bool { return name == "k/ro" }})
	for _, name := range []string{"k/ro", "k/rw"} {
		if err := b.Put(context.Background(), name, backend.BytesSource([]byte(name))); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]os.FileMode{"ro": 0o444, "rw": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, "k", name))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %v", name, fi.Mode(), err, want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// And so is the retry wrapper, with one try per call: the suite checks
// that a Put through a failing source fails, which a retry would mend.
// (Its reads still go through the resuming reader.)
func TestRetryingSuite(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return backend.Retry(backend.NewDirBackend(t.TempDir(), backend.DirOptions{}), backend.RetryOptions{Attempts: 1})
	})
}
