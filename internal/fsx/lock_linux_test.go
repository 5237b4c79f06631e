//go:build linux

package fsx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lockChildEnv makes the test binary the child of
// TestSharedLockWithoutWriteAccess: it runs lockChild on the lock file the
// variable names, as another account or inside a read-only mount.
const lockChildEnv = "REZUP_FSX_LOCK_CHILD"

// touchChildEnv makes the test binary the child of
// TestTouchByAWriterWhoIsNotTheOwner: it touches the file it names.
const touchChildEnv = "REZUP_FSX_TOUCH_CHILD"

// removeChildEnv makes the test binary the child of the removal tests
// (tree_linux_test.go): it removes what the variable names (see
// removeChild) and prints what came of it.
const removeChildEnv = "REZUP_FSX_REMOVE_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(removeChildEnv); spec != "" {
		fmt.Println("child:", removeChild(spec))
		os.Exit(0)
	}
	if p := os.Getenv(touchChildEnv); p != "" {
		if err := Touch(p, time.Unix(1e9, 0)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		fmt.Println("child: ok")
		os.Exit(0)
	}
	if p := os.Getenv(lockChildEnv); p != "" {
		if err := lockChild(p, os.Getenv(lockChildEnv+"_HELD") != ""); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		fmt.Println("child: ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lockChild checks, where it cannot write p, that Held tells whether the
// parent holds it, that a shared lock is taken through a read-only
// descriptor (or meets the parent's exclusive lock, when held), and that
// an exclusive one fails as CannotWrite.
func lockChild(p string, held bool) error {
	if f, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
		f.Close()
		return fmt.Errorf("%s is writable here: the test setup is wrong", p)
	}
	// A collector probes it without writing: held or not.
	if busy, err := Held(p); err != nil || busy != held {
		return fmt.Errorf("Held where it cannot write: %v, %v; want %v", busy, err, held)
	}
	l, err := TryShared(p)
	if held {
		if !errors.Is(err, ErrLocked) {
			return fmt.Errorf("shared lock under the parent's exclusive one: %v, want ErrLocked", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("shared lock: %w", err)
	}
	defer l.Close()
	if busy, err := Held(p); err != nil || !busy {
		return fmt.Errorf("Held under a shared lock: %v, %v; want held", busy, err)
	}
	flags, err := unix.FcntlInt(l.File().Fd(), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if flags&unix.O_ACCMODE != unix.O_RDONLY {
		return fmt.Errorf("shared lock opened with flags %#o, want read-only", flags)
	}
	if _, err := TryExclusive(p); err == nil || !CannotWrite(err) {
		return fmt.Errorf("exclusive lock: %v, want a cannot-write error", err)
	}
	return nil
}

// A shared lock works on a lock file the caller cannot write: another
// account's (0444 in a 0555 directory, as nobody) and one on a read-only
// bind mount (EROFS, as root). Both need root, as CI has.
func TestSharedLockWithoutWriteAccess(t *testing.T) {
	NeedsRoot(t, "it switches to nobody (setpriv) and mounts read-only (unshare -m)")
	for _, tool := range []string{"setpriv", "unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("required tool %q not found on PATH (%v): install util-linux", tool, err)
		}
	}
	base, exe := nobodyCanRun(t)

	for _, tc := range []struct {
		name string
		argv func(dir string) []string
		prep func(t *testing.T, dir, lock string)
	}{
		{
			name: "another account",
			argv: func(string) []string {
				return []string{"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", exe}
			},
			prep: func(t *testing.T, dir, lock string) {
				for p, m := range map[string]os.FileMode{lock: 0o444, dir: 0o555} {
					if err := os.Chmod(p, m); err != nil {
						t.Fatal(err)
					}
				}
			},
		},
		{
			name: "read-only mount",
			argv: func(dir string) []string {
				return []string{"unshare", "-m", "sh", "-c",
					`mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && exec "$2"`, "sh", dir, exe}
			},
			prep: func(*testing.T, string, string) {},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			lock := filepath.Join(dir, "k.lock")
			lk, err := TryShared(lock) // creates it
			if err != nil {
				t.Fatal(err)
			}
			lk.Close()
			tc.prep(t, dir, lock)
			t.Cleanup(func() { os.Chmod(dir, 0o755) }) // so that TempDir can remove it

			run := func(held bool) {
				t.Helper()
				argv := tc.argv(dir)
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Env = append(os.Environ(), lockChildEnv+"="+lock)
				if held {
					cmd.Env = append(cmd.Env, lockChildEnv+"_HELD=1")
				}
				out, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(out), "child: ok") {
					t.Fatalf("%s (held=%v): %v\n%s", strings.Join(argv, " "), held, err, out)
				}
			}
			run(false)
			// The read-only descriptor takes part in locking: it meets a
			// builder's exclusive lock.
			ex, err := TryExclusive(lock)
			if err != nil {
				t.Fatal(err)
			}
			defer ex.Close()
			run(true)
		})
	}
}

// A use-stamp refreshed by a user who may write the lock file but does
// not own it (a group-shared root): Chtimes to a given time is refused,
// and the stamp becomes the current time instead.
func TestTouchByAWriterWhoIsNotTheOwner(t *testing.T) {
	NeedsRoot(t, "it switches to nobody (setpriv)")
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("required tool \"setpriv\" not found on PATH (%v): install util-linux", err)
	}
	base, exe := nobodyCanRun(t)
	p := filepath.Join(base, "k.lock")
	if err := os.WriteFile(p, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o666); err != nil { // whatever the umask
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Second)
	cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", exe)
	cmd.Env = append(os.Environ(), touchChildEnv+"="+p)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "child: ok") {
		t.Fatalf("Touch as nobody: %v\n%s", err, out)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.ModTime().Before(start) {
		t.Errorf("mtime %v, want the time of the touch (after %v)", fi.ModTime(), start)
	}
}

// nobodyCanRun copies the test binary into a fresh directory everyone
// can enter, and returns both.
func nobodyCanRun(t *testing.T) (dir, exe string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe = filepath.Join(dir, "fsx.test")
	copyExecutable(t, exe)
	return dir, exe
}

func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	src, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
