package testkit

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Account is a Unix account a test runs part of itself as, for real: what
// one account may do to another's files is the kernel's to say, and root,
// which the tests run as, may do anything. Numbers need no entry in
// /etc/passwd; the kernel checks only numbers.
type Account struct {
	Name   string // for messages
	UID    int
	GID    int    // primary group
	Groups []int  // supplementary groups (none: cleared)
	Umask  string // what a login shell would set, in octal
}

// The accounts tests use. Nobody is the stranger: in no group of anyone
// else's, umask 022. Member1 and Member2 share the group Team (their
// primary group) and a umask of 002, as two artists of one studio group
// working in a group-shared root.
var (
	Nobody  = Account{Name: "nobody", UID: 65534, GID: 65534, Umask: "022"}
	Member1 = Account{Name: "member1", UID: 64101, GID: Team, Umask: "002"}
	Member2 = Account{Name: "member2", UID: 64102, GID: Team, Umask: "002"}
)

// Team is the group Member1 and Member2 share.
const Team = 64100

// Command is the command line that runs argv as a: setpriv with its uid,
// gid and groups, then a shell that sets its umask and execs argv.
func (a Account) Command(argv ...string) []string {
	args := []string{"setpriv", "--reuid=" + strconv.Itoa(a.UID), "--regid=" + strconv.Itoa(a.GID)}
	if len(a.Groups) == 0 {
		args = append(args, "--clear-groups")
	} else {
		gs := make([]string, len(a.Groups))
		for i, g := range a.Groups {
			gs[i] = strconv.Itoa(g)
		}
		args = append(args, "--groups="+strings.Join(gs, ","))
	}
	umask := a.Umask
	if umask == "" {
		umask = "022"
	}
	// Through sh: setpriv looks up what it runs while it is still root.
	return append(append(args, "/bin/sh", "-c", `umask `+umask+`; exec "$@"`, "sh"), argv...)
}

// Chown gives paths (not following symlinks) to a, with a's primary
// group.
func (a Account) Chown(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Lchown(p, a.UID, a.GID); err != nil {
			t.Fatal(err)
		}
	}
}

// childEnv names, in a child process RunAs started, the test it runs and
// the argument the parent passed.
const (
	childEnv    = "REZUP_TESTKIT_CHILD"
	childArgEnv = "REZUP_TESTKIT_CHILD_ARG"
)

// Child reports whether this process is the child RunAs started to run
// test t as another account, and returns the argument its parent passed.
// A test that runs part of itself as another account starts with it:
//
//	if arg, ok := testkit.Child(t); ok {
//		... what the other account does, with arg ...
//		return
//	}
//	... the setup, as root ...
//	testkit.Nobody.RunAs(t, arg)
//	... what root checks afterwards ...
//
// In the parent, everything after it is root's, so it ends t unless it
// runs as root (NeedsRoot: the fast tier skips t, the full tier fails it).
func Child(t testing.TB) (string, bool) {
	t.Helper()
	if os.Getenv(childEnv) != t.Name() {
		NeedsRoot(t, "it runs part of itself as another account (setpriv), whose permissions the kernel checks, as root's it does not")
		return "", false
	}
	return os.Getenv(childArgEnv), true
}

// RunAs runs test t again as account a, in a child process of the test
// binary under setpriv (-test.run naming t, exactly) and a's umask, with
// arg for Child;
// it fails t, with the child's output, when the child's part fails. It
// needs root, as CI has, and says so (NeedsRoot): setpriv switches
// accounts only for root. The child starts in "/", with the environment
// of the test.
func (a Account) RunAs(t testing.TB, arg string) {
	t.Helper()
	NeedsRoot(t, fmt.Sprintf("it runs part of itself as %s (setpriv --reuid=%d), whose permissions the kernel checks, as root's it does not", a.Name, a.UID))
	RequireTool(t, "setpriv")
	exe := sharedTestBinary(t)
	var pattern []string
	for _, part := range strings.Split(t.Name(), "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	argv := a.Command(exe, "-test.run="+strings.Join(pattern, "/"), "-test.count=1", "-test.v")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name(), childArgEnv+"="+arg)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("as %s (uid %d): %v\n%s", a.Name, a.UID, err, out)
	}
}

var sharedBinary struct {
	once sync.Once
	path string
	err  error
}

// sharedTestBinary is a copy of the running test binary that every
// account can run: go test builds it where only root may look.
func sharedTestBinary(t testing.TB) string {
	t.Helper()
	sharedBinary.once.Do(func() {
		sharedBinary.path, sharedBinary.err = copyTestBinary()
	})
	if sharedBinary.err != nil {
		t.Fatalf("testkit: %v", sharedBinary.err)
	}
	return sharedBinary.path
}

func copyTestBinary() (string, error) {
	src, err := os.Executable()
	if err != nil {
		return "", err
	}
	root, err := processDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "accounts")
	// Every account may enter the process dir (not list it) and run what
	// is in accounts/.
	for _, d := range []string{root, dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(root, 0o711); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, filepath.Base(src))
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close() // read-only
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return "", fmt.Errorf("copy the test binary: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close() // already failing
		return "", fmt.Errorf("copy the test binary: %w", err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("copy the test binary: %w", err)
	}
	return dst, nil
}

// SharedDir is a new directory under the system temp dir that every
// account can enter and write in (mode 1777, as /tmp), for a test whose
// accounts share files: t.TempDir is root's alone. It is removed, whatever
// its accounts left in it, when t ends.
func SharedDir(t testing.TB) string {
	t.Helper()
	return sharedTemp(t, "rezup-shared-", func(dir string, err error) {
		// As root: read-only builds are no obstacle.
		t.Errorf("testkit: remove %s: %v", dir, err)
	})
}

// sharedTemp makes a directory under the system temp dir, mode 1777 (as
// /tmp: every account can enter and write in it), removed when t ends;
// failed is told when it cannot be.
func sharedTemp(t testing.TB, prefix string, failed func(dir string, err error)) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			failed(dir, err)
		}
	})
	return dir
}
