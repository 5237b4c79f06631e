//go:build unix

package materialize

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/internal/fsx"
)

// writable lists what under dir has a write bit (at most 10): nothing of
// a published build may.
func writable(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink == 0 && fi.Mode().Perm()&0o222 != 0 && len(out) < 10 {
			out = append(out, p+" "+fi.Mode().String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A build is read-only once published, built or fetched: no write bit on
// any of its files or directories, itself included, as a plain mkdir and
// cp under the umask would give it otherwise; and removing it (as gc and
// drop do) works.
func TestPublishedBuildsAreReadOnly(t *testing.T) {
	ctx := context.Background()
	sc := openCache(t, filepath.Join(t.TempDir(), "cache"))
	k := cas.KeyOf([]byte("read-only test"))
	admin := newStore(t, filepath.Join(t.TempDir(), "admin"), sc, nil)
	fakeEntry(t, admin, k) // through publish, as a build
	if _, err := admin.Publish(ctx, k); err != nil {
		t.Fatal(err)
	}
	// Fetched in every link mode: the unpack makes files read-only as it
	// writes them, and publish only its directories.
	stores := []*Store{admin}
	for _, mode := range []objects.LinkMode{objects.Hardlink, objects.Clone, objects.Copy} {
		node := newStore(t, filepath.Join(t.TempDir(), "node-"+mode.String()), sc, nil)
		node.opt.LinkMode = mode
		m, err := node.made(ctx, Request{Key: k})
		if err != nil {
			t.Fatal(err)
		}
		if m.Origin == nil || m.Origin.How != OriginFetched {
			t.Fatalf("origin %+v, want fetched", m.Origin)
		}
		stores = append(stores, node)
	}
	for _, s := range stores {
		entry := s.opt.Root.EntryDir(k)
		if w := writable(t, entry); len(w) > 0 {
			t.Errorf("%s is not read-only:\n%s", entry, strings.Join(w, "\n"))
		}
		fi, err := os.Stat(entry)
		if err != nil {
			t.Fatal(err)
		}
		if want := fs.ModeDir | fsx.Perm(0o555); fi.Mode() != want {
			t.Errorf("%s: %v, want %v", entry, fi.Mode(), want)
		}
		// Still readable, and runnable, by all the umask lets in.
		rez := filepath.Join(entry, "venv", "rez", "bin", "rez", "rez-env")
		if fi, err := os.Stat(rez); err != nil || fi.Mode().Perm() != fsx.Perm(0o555) {
			t.Errorf("%s: %v (%v), want %v", rez, fi.Mode(), err, fsx.Perm(0o555))
		}
	}
	for _, s := range stores {
		if err := s.RemoveEntry(k, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(s.opt.Root.EntryDir(k)); err == nil {
			t.Errorf("%s is still there", s.opt.Root.EntryDir(k))
		}
	}
}
