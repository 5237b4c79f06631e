//go:build unix

package testkit

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// OtherFilesystem returns a new directory, removed when t ends, on another
// filesystem than dir: /dev/shm (a tmpfs) on Linux, or whichever of the
// usual temp dirs and the home is not where dir is (TMPDIR may itself be
// a tmpfs). It ends t, saying why, when there is none: a skip in the fast
// tier, a failure in the full one.
func OtherFilesystem(t testing.TB, dir string) string {
	t.Helper()
	dev, err := devOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	candidates := []string{"/dev/shm", os.TempDir(), "/tmp", "/var/tmp", "/run/shm"}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, home)
	}
	var tried []string
	for _, c := range candidates {
		if d, err := devOf(c); err != nil || d == dev {
			continue
		}
		tried = append(tried, c)
		other, err := os.MkdirTemp(c, "rezup-otherfs-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { _ = writable(other); os.RemoveAll(other) }) // its files may be read-only
		return other
	}
	if Fast() {
		t.Skipf("skipped in -short: no writable directory on another filesystem than %s (tried %v): /dev/shm, a tmpfs, is one on Linux", dir, tried)
	}
	t.Fatalf("no writable directory on another filesystem than %s (tried %v): /dev/shm, a tmpfs, is one on Linux", dir, tried)
	return ""
}

func devOf(p string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, err
	}
	return uint64(st.Dev), nil //nolint:unconvert // Dev is not uint64 everywhere
}
