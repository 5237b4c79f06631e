package materialize

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/recipe"
)

var signT0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// signRemote signs the remote revision name of container "c" in root as
// add --remote would (sk nil: leaves it unsigned), after edit changes its
// revision.json (nil: none).
func signRemote(t *testing.T, root *testkit.FakeRoot, name string, sk *cache.SecretKey) {
	t.Helper()
	rev, err := Root{Dir: root.Dir, Remote: true}.Revision("c", name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(rev.RecipePath())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := revisionStatement("c", name, *rev.Meta, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	meta := *rev.Meta
	meta.Signatures = cache.AddSignature(nil, *sk, msg)
	b, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rev.Dir, "revision.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signFixture is a remote root with two revisions of container "c", both
// builds ready on the node (fake entries: ready means a manifest), the
// older one signed by the admin's key.
type signFixture struct {
	local, remote *testkit.FakeRoot
	admin         cache.SecretKey
	pub           cache.PublicKey
	older, newer  string
	k1, k2        string
	rep           *countingReporter
	stamp         string
	now           time.Time
}

func newSignFixture(t *testing.T) *signFixture {
	base := t.TempDir()
	f := &signFixture{
		local:  testkit.NewFakeRoot(t, filepath.Join(base, "local")),
		remote: testkit.NewFakeRoot(t, filepath.Join(base, "remote")),
		k1:     testkit.FakeKey(1), k2: testkit.FakeKey(2),
		rep:   &countingReporter{},
		stamp: filepath.Join(base, "cache", "rezup", "warned-unsigned"),
		now:   signT0.Add(time.Hour),
	}
	var err error
	if f.admin, f.pub, err = cache.GenerateKey("studio-1"); err != nil {
		t.Fatal(err)
	}
	f.local.Entry(f.k1, 10, signT0)
	f.local.Entry(f.k2, 10, signT0)
	f.older = f.remote.Revision("c", signT0, f.k1)
	f.newer = f.remote.Revision("c", signT0.Add(time.Minute), f.k2)
	signRemote(t, f.remote, f.older, &f.admin)
	return f
}

func (f *signFixture) pick(t *testing.T, trust RevisionTrust) (*Target, error) {
	t.Helper()
	s := New(Options{Root: Root{Dir: f.local.Dir}, Reporter: f.rep, Version: "test", Now: func() time.Time { return f.now }})
	l := &Launcher{Store: s, Remote: &Root{Dir: f.remote.Dir, Remote: true}, Trust: trust,
		OpenCache: func(*recipe.Recipe) (*cache.Cache, error) { return nil, nil }}
	target, err := l.Pick(context.Background(), "c", false)
	if err == nil {
		t.Cleanup(func() { target.Close() })
	}
	return target, err
}

// A node that requires signed revisions passes over a newer revision that
// no trusted key signed (one a writer of the remote root added or
// rewrote) and launches the newest signed one, with a warning naming the
// unsigned one; with none signed, it fails in one line. A node that only
// trusts keys launches the newest, warning once a day. A signed revision
// whose pin or recipe was changed since does not verify.
func TestSignedRevisions(t *testing.T) {
	t.Run("require", func(t *testing.T) {
		f := newSignFixture(t)
		trust := RevisionTrust{Keys: []cache.PublicKey{f.pub}, Require: true}
		target, err := f.pick(t, trust)
		if err != nil {
			t.Fatal(err)
		}
		if target.Revision.Name != f.older || target.Key().String() != f.k1 {
			t.Errorf("launched %s (%s), want the signed %s", target.Revision.Name, target.Key(), f.older)
		}
		if f.rep.count("warning: remote revision "+f.newer+" of c is unsigned: passed over") != 1 {
			t.Errorf("warnings: %q", f.rep.lines)
		}
		// Signed as well now: it is the one launched.
		signRemote(t, f.remote, f.newer, &f.admin)
		target, err = f.pick(t, trust)
		if err != nil || target.Revision.Name != f.newer {
			t.Fatalf("after signing the newer: %v, %v", target, err)
		}
	})
	t.Run("changed after signing", func(t *testing.T) {
		f := newSignFixture(t)
		signRemote(t, f.remote, f.newer, &f.admin)
		// A group member repoints the signed revision at another archive.
		rev, _ := Root{Dir: f.remote.Dir, Remote: true}.Revision("c", f.newer)
		meta := *rev.Meta
		meta.Archive = &cache.Entry{Key: rev.Meta.Key, Digest: cas.DigestOf([]byte("trojan")), Size: 6}
		b, _ := json.Marshal(meta)
		if err := os.WriteFile(filepath.Join(rev.Dir, "revision.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		target, err := f.pick(t, RevisionTrust{Keys: []cache.PublicKey{f.pub}, Require: true})
		if err != nil || target.Revision.Name != f.older {
			t.Fatalf("a rewritten pin: launched %v (%v), want %s", target, err, f.older)
		}
		if f.rep.count("warning: remote revision "+f.newer+" of c: bad signature by studio-1: passed over") != 1 {
			t.Errorf("warnings: %q", f.rep.lines)
		}
	})
	t.Run("none signed", func(t *testing.T) {
		f := newSignFixture(t)
		other, _, _ := cache.GenerateKey("studio-1") // the same name, another key
		signRemote(t, f.remote, f.older, &other)
		_, err := f.pick(t, RevisionTrust{Keys: []cache.PublicKey{f.pub}, Require: true})
		if err == nil || !strings.Contains(err.Error(), "no remote revision of c is signed by a trusted key") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("no signed revision: %v, want one line", err)
		}
		if !errors.Is(err, cache.ErrUnsigned) {
			t.Errorf("the error does not say why the newest is refused: %v", err)
		}
	})
	t.Run("keys without require", func(t *testing.T) {
		f := newSignFixture(t)
		trust := RevisionTrust{Keys: []cache.PublicKey{f.pub}, WarnStamp: f.stamp}
		for i := range 3 {
			target, err := f.pick(t, trust)
			if err != nil || target.Revision.Name != f.newer {
				t.Fatalf("launch %d: %v, %v", i, target, err)
			}
		}
		if n := f.rep.count("warning: remote revision " + f.newer + " of c is unsigned: launched all the same"); n != 1 {
			t.Errorf("%d warnings in three launches, want 1: %q", n, f.rep.lines)
		}
		f.now = f.now.Add(25 * time.Hour) // the next day
		if _, err := f.pick(t, trust); err != nil {
			t.Fatal(err)
		}
		if n := f.rep.count("warning: remote revision " + f.newer + " of c is unsigned"); n != 2 {
			t.Errorf("%d warnings after a day, want 2", n)
		}
	})
}
