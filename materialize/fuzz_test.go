package materialize

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/pyenv"
)

// FuzzReadMeta feeds arbitrary bytes, as they could come from a shared
// cache, an archive or a remote root, to every metadata reader: as
// entry.json (cache.Cache.Lookup), manifest.json (ReadManifest), revision.json
// (readMeta) and pyvenv.cfg (pyenv.CheckBase, trusting nothing, so that it
// runs nothing). None may panic; every error is one line; and whatever is
// accepted names only venvs inside the entry. The seed corpus is in
// testdata/fuzz/FuzzReadMeta.
func FuzzReadMeta(f *testing.F) {
	k := cas.KeyOf([]byte("fuzz"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		oneLine := func(what string, err error) {
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Fatalf("%s: error is not one line: %q", what, err)
			}
		}
		inside := func(what string, venvs []string) {
			for _, v := range venvs {
				base := filepath.Join(dir, "venv")
				if p := filepath.Join(base, v); filepath.Dir(p) != base {
					t.Fatalf("%s: accepted venv %q, which is not a plain name", what, v)
				}
			}
		}

		// entry.json in a directory cache.
		cacheDir := filepath.Join(dir, "cache")
		if err := os.MkdirAll(filepath.Join(cacheDir, k.String()), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cacheDir, k.String(), "entry.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := cache.NewCache(backend.NewDirBackend(cacheDir, backend.DirOptions{})).Lookup(context.Background(), k)
		if err != nil && !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("entry.json: a bad entry must be a miss, got %v", err)
		}
		oneLine("entry.json", err)

		// manifest.json of a store entry.
		s := New(Options{Root: Root{Dir: filepath.Join(dir, "root")}})
		mp := s.opt.Root.manifestPath(k)
		if err := os.MkdirAll(filepath.Dir(mp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mp, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := s.ReadManifest(k)
		oneLine("manifest.json", err)
		if err == nil {
			inside("manifest.json", m.Venvs)
		}

		// revision.json.
		rev := filepath.Join(dir, "rev")
		if err := os.Mkdir(rev, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rev, "revision.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		meta, err := readMeta(rev)
		oneLine("revision.json", err)
		if err == nil {
			inside("revision.json", meta.Venvs)
		}

		// pyvenv.cfg: with nothing trusted, CheckBase may stat but never
		// run, so its answer is never success.
		venv := filepath.Join(dir, "venv")
		if err := os.Mkdir(venv, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(venv, "pyvenv.cfg"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		err = pyenv.CheckBase(context.Background(), venv, pyenv.Trust{}, nil)
		oneLine("pyvenv.cfg", err)
		if err == nil {
			t.Fatal("pyvenv.cfg: accepted a base interpreter with nothing trusted")
		}
		if len(data) > fsx.MaxPyvenvCfg && !errors.Is(err, fsx.ErrTooLarge) {
			t.Fatalf("pyvenv.cfg: %d bytes read past the limit: %v", len(data), err)
		}
	})
}
