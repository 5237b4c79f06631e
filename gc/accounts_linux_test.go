//go:build linux

package gc_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

// gcAccountsNow is the clock of TestGCInAGroupSharedRoot's collector.
var gcAccountsNow = at(10 * day)

// In a group-shared root, a member's gc removes what that member owns,
// read-only builds included, and whatever modes its leftovers have; what
// another member owns it keeps and says whose it is, in the plan
// (other-account) or, found deeper when it comes to it, as skipped. It
// exits without an error: nothing it may remove failed.
func TestGCInAGroupSharedRoot(t *testing.T) {
	if arg, ok := testkit.Child(t); ok {
		store := materialize.New(materialize.Options{Root: materialize.Root{Dir: arg}, Now: func() time.Time { return gcAccountsNow }})
		in := input(store, gcAccountsNow)
		in.Keep = 1
		s := plan(t, in)
		res, err := s.Execute(context.Background())
		if err != nil {
			t.Fatalf("execute: %v", err)
		}
		var lines []string
		for _, it := range s.Kept {
			if it.Reason == gc.ReasonOtherAccount {
				lines = append(lines, "kept "+it.Title()+": "+it.Detail)
			}
		}
		for _, it := range res.Skipped {
			lines = append(lines, "skipped "+it.Title()+" "+string(it.Reason)+": "+it.Detail)
		}
		for _, it := range res.Removed {
			lines = append(lines, "removed "+string(it.Kind)+" "+it.Title())
		}
		slices.Sort(lines)
		// The parent checks what is left on disk; the lines say why.
		t.Log("\n" + strings.Join(lines, "\n"))
		for _, want := range []string{
			"kept c2/" + testkit.FakeRevisionName(at(0)) + ": " + filepath.Join(arg, "c2", "revisions", testkit.FakeRevisionName(at(0))) + " belongs to another account (uid 64102): only it, or root, removes it",
			"kept trash-member2: ",
			"removed entry " + key(1),
			"removed revision c1/" + testkit.FakeRevisionName(at(0)),
			"removed staging " + key(5) + "-closed",
			"removed trash trash-member1",
			"skipped trash-mixed other-account: " + filepath.Join(arg, ".tmp", "trash-mixed", "venv", "theirs") + " belongs to another account (uid 64102)",
		} {
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, want) }) {
				t.Errorf("no line starts with %q", want)
			}
		}
		return
	}

	base := testkit.SharedDir(t)
	f := testkit.NewFakeRoot(t, filepath.Join(base, "root"))
	m1, m2 := testkit.Member1, testkit.Member2
	// Two containers, each with an old revision whose build nothing else
	// uses, and a latest one.
	f.Entry(key(1), 10, at(0))
	f.Entry(key(2), 10, at(0))
	f.Entry(key(3), 10, at(0))
	f.Entry(key(4), 10, at(0))
	f.Revision("c1", at(0), key(1))
	f.Revision("c1", at(day), key(2))
	f.Revision("c2", at(0), key(3))
	f.Revision("c2", at(day), key(4))
	f.Trash("member1", at(0))
	f.Trash("member2", at(0))
	mixed := f.Trash("mixed", at(0))
	theirs := filepath.Join(mixed, "venv", "theirs")
	if err := os.WriteFile(theirs, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A fetch of an older rezup, killed: directories nobody can enter.
	closed := f.Staging(key(5), "closed", at(0))

	owner := map[string]testkit.Account{
		filepath.Join(f.Dir, "c1"): m1, filepath.Join(f.Dir, ".store", key(1)): m1, filepath.Join(f.Dir, ".store", key(2)): m1,
		filepath.Join(f.Dir, "c2"): m2, filepath.Join(f.Dir, ".store", key(3)): m2, filepath.Join(f.Dir, ".store", key(4)): m2,
		filepath.Join(f.Dir, ".tmp", "trash-member1"): m1, filepath.Join(f.Dir, ".tmp", "trash-member2"): m2,
		mixed: m1, closed: m1,
	}
	for top, a := range owner {
		err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			a.Chown(t, p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	m2.Chown(t, theirs)
	for n, a := range map[int]testkit.Account{1: m1, 2: m1, 3: m2, 4: m2, 5: m1} {
		a.Chown(t, f.LockPath(key(n)))
		if err := os.Chmod(f.LockPath(key(n)), 0o664); err != nil {
			t.Fatal(err)
		}
	}
	// Published builds are read-only; the root is the group's, and its
	// shared directories are sticky, as rezup makes them there.
	for n := 1; n <= 4; n++ {
		entry := filepath.Join(f.Dir, ".store", key(n))
		if err := fsx.MakeReadOnly(entry); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(entry, 0o555); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{filepath.Join(closed, "venv"), closed} {
		if err := os.Chmod(d, 0o000); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{f.Dir, filepath.Join(f.Dir, ".store"), filepath.Join(f.Dir, ".tmp"),
		filepath.Join(f.Dir, "c1", "revisions"), filepath.Join(f.Dir, "c2", "revisions")} {
		if err := os.Chown(d, 0, testkit.Team); err != nil {
			t.Fatal(err)
		}
		mode := fs.ModeSticky | 0o775
		if d == f.Dir {
			mode = fs.ModeSetgid | 0o775
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}

	m1.RunAs(t, f.Dir)

	for p, want := range map[string]bool{
		filepath.Join(f.Dir, ".store", key(1)): false,
		f.LockPath(key(1)):                     false,
		filepath.Join(f.Dir, "c1", "revisions", testkit.FakeRevisionName(at(0))): false,
		filepath.Join(f.Dir, ".tmp", "trash-member1"):                            false,
		closed:                                 false,
		filepath.Join(f.Dir, ".store", key(2)): true,
		filepath.Join(f.Dir, ".store", key(3)): true,
		filepath.Join(f.Dir, "c2", "revisions", testkit.FakeRevisionName(at(0))): true,
		filepath.Join(f.Dir, ".tmp", "trash-member2"):                            true,
		theirs: true,
	} {
		_, err := os.Lstat(p)
		if there := !errors.Is(err, fs.ErrNotExist); there != want {
			t.Errorf("%s: there=%v, want %v (%v)", p, there, want, err)
		}
	}
}

// A gc of a root this account cannot write (another account's, a
// read-only mount) takes the gc lock through a read-only descriptor, which
// still keeps a second gc out; with no lock file there, it takes none.
func TestLockOfARootThisAccountCannotWrite(t *testing.T) {
	if arg, ok := testkit.Child(t); ok {
		ctx := context.Background()
		withFile, without := filepath.Join(arg, "with-lock-file"), filepath.Join(arg, "without")
		l, err := gc.Lock(ctx, materialize.Root{Dir: withFile}, false)
		if err != nil || l == nil {
			t.Fatalf("lock of a root with a lock file this account may only read: %v, %v; want a lock", l, err)
		}
		defer l.Close()
		if l2, err := gc.Lock(ctx, materialize.Root{Dir: withFile}, false); !errors.Is(err, gc.ErrRunning) {
			t.Errorf("a second gc while the first holds the read-only lock: %v, %v; want ErrRunning", l2, err)
		}
		if l, err := gc.Lock(ctx, materialize.Root{Dir: without}, false); err != nil || l != nil {
			t.Errorf("lock of a root with no lock file, not writable: %v, %v; want none, and no error", l, err)
		}
		return
	}
	base := testkit.SharedDir(t)
	for _, d := range []string{"with-lock-file", "without"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "with-lock-file", ".gc.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Member1.RunAs(t, base)
}
