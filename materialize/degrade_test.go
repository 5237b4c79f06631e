package materialize

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/recipe"
)

// brokenBackend is a shared cache that fails every operation as an
// unreachable server does.
type brokenBackend struct{ backend.Backend }

var errUnreachable = errors.New("dial tcp 127.0.0.1:9: connection refused")

func (brokenBackend) Stat(context.Context, string) (backend.ObjectInfo, error) {
	return backend.ObjectInfo{}, errUnreachable
}
func (brokenBackend) Open(context.Context, string, int64, int64) (io.ReadCloser, error) {
	return nil, errUnreachable
}
func (brokenBackend) Put(context.Context, string, backend.Source) error { return errUnreachable }
func (brokenBackend) List(context.Context, string, func(backend.ObjectInfo) error) error {
	return errUnreachable
}
func (brokenBackend) Delete(context.Context, string) error { return errUnreachable }
func (brokenBackend) String() string                       { return "http://127.0.0.1:9/cache" }

// A node that launches a remote revision (pinned or not) whose build the
// shared cache cannot give, because the cache fails, builds it here from
// the revision's recipe and lock, warns once naming the cache and the
// cause, and launches. When the build fails too, the error names both.
func TestLaunchBuildsWhenTheCacheFails(t *testing.T) {
	t.Parallel()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	admin := newAddFixture(t, sc)
	remote := &Root{Dir: filepath.Join(t.TempDir(), "remote"), Remote: true}
	pinned := admin.mustAdd(t, func(r *AddRequest) { r.Remote = remote })
	if pinned.Pin == nil {
		t.Fatal("the admin's remote revision pins nothing")
	}

	broken := cache.NewCache(brokenBackend{})
	for _, tc := range []struct {
		name  string
		unpin bool
	}{{"pinned", false}, {"unpinned", true}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.unpin {
				// As an older rezup or the Python rezup wrote it: no pin.
				rev, err := remote.Latest("lk")
				if err != nil {
					t.Fatal(err)
				}
				meta := *rev.Meta
				meta.Archive = nil
				if _, err := remote.writeRevisionAt("lk", RevisionName(rev.Time.Add(1e9)), mustRead(t, rev.RecipePath()), mustRead(t, rev.ResolutionPath()), meta); err != nil {
					t.Fatal(err)
				}
			}
			rep := &countingReporter{}
			nodeRoot := filepath.Join(t.TempDir(), "node")
			testkit.WritableAtEnd(t, nodeRoot) // its build is read-only
			node := New(Options{Root: Root{Dir: nodeRoot}, Environ: os.Environ(), Reporter: rep, Version: "test",
				PipCache: testkit.PipCache(t)})
			l := &Launcher{Store: node, Remote: remote, OpenCache: func(*recipe.Recipe) (*cache.Cache, error) { return broken, nil }}
			target, err := l.Pick(context.Background(), "lk", false)
			if err != nil {
				t.Fatalf("launch with the cache down: %v", err)
			}
			defer target.Close()
			if target.Key() != pinned.Manifest.Key {
				t.Errorf("built %s, the admin's key is %s", target.Key(), pinned.Manifest.Key)
			}
			if n := rep.count("warning: "); n != 1 || !strings.Contains(rep.lines[0], " in http://127.0.0.1:9/cache: dial tcp 127.0.0.1:9: connection refused; building remote revision ") {
				t.Errorf("%d warnings naming the cache, want 1: %q", n, rep.lines)
			}
			if n := rep.count("built "); n != 1 {
				t.Errorf("%d builds, want 1: %q", n, rep.lines)
			}
		})
	}

	// The index is gone as well: one error naming both causes.
	if err := os.RemoveAll(admin.wheels); err != nil {
		t.Fatal(err)
	}
	node := New(Options{Root: Root{Dir: filepath.Join(t.TempDir(), "node")}, Environ: os.Environ(), Version: "test", PipCache: testkit.PipCache(t)})
	l := &Launcher{Store: node, Remote: remote, OpenCache: func(*recipe.Recipe) (*cache.Cache, error) { return broken, nil }}
	_, err := l.Pick(context.Background(), "lk", false)
	first, _, _ := strings.Cut(fmt.Sprint(err), "\n") // pip's words follow, for the error printer's excerpt
	if err == nil || !strings.Contains(first, "http://127.0.0.1:9/cache: dial tcp 127.0.0.1:9: connection refused, and building here failed too: ") {
		t.Fatalf("cache and index down: %v; want a first line naming both", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return b
}
