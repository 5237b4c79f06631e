package objects

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/testkit"
)

// content is n pseudo-random bytes, the same for the same seed.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// newStore opens a store in a fresh temp dir.
func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// put stores data and returns its digest.
func put(t testing.TB, s *Store, data []byte, exec bool) cas.Digest {
	t.Helper()
	d := cas.DigestOf(data)
	if err := s.Put(d, exec, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	return d
}

// entries lists every name under dir, relative, with "/" for directories:
// what a test compares to say "nothing else was left".
func entries(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// temps lists the temps of dir by name, as a sweep would find them.
func tempNames(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for _, e := range entries(t, dir) {
		if strings.Contains(e, ".rezup-tmp") {
			out = append(out, e)
		}
	}
	return out
}

// mustRead reads a whole file.
func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// skipOrFail ends a test that cannot run here: in a -short run that is
// not strict (CI=true, REZUP_TEST_STRICT=1) it is skipped, saying why;
// everywhere else it fails, saying why, since a test never passes by not
// running.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if testing.Short() && !testkit.Strict() {
		t.Skipf("skipped in -short: "+format, args...)
	}
	t.Fatalf(format, args...)
}

// errReader fails after giving some bytes.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}
