package testkit

import (
	"os"
	"strconv"
	"testing"
)

// The two tiers of the tests, decided here and nowhere else.
//
// The full tier (CI's) runs everything: a missing tool, server or
// privilege fails the test that needs it, naming it. The fast tier is
// `go test -short` outside strict mode: an ordinary user without servers
// runs it in a minute or two, and each test it leaves out says why in
// one line. Strict mode (CI=true, or REZUP_TEST_STRICT=1) is the full
// tier even with -short: nothing skips.
//
// The shared helpers call these (the server starters, the multi-account
// site, the helpers that build revisions through the binary), so that a
// test inherits its tier from what it uses.

// Strict reports whether no test may skip: CI or REZUP_TEST_STRICT is
// set true ("true", "1"), as CI sets it.
func Strict() bool {
	return envTrue("CI") || envTrue("REZUP_TEST_STRICT")
}

func envTrue(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}

// Fast reports whether this is the fast tier: -short, not strict.
func Fast() bool { return testing.Short() && !Strict() }

// SkipShort skips t in the fast tier, with why (one line, what the test
// needs or does) and how to run it; in the full tier it does nothing.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if Fast() {
		t.Skip(why + "; run without -short, as CI does")
	}
}

// SlowBuild marks a test that builds revisions with python and pip
// through the rezup binary (or as the Python rezup did): seconds of venvs
// and pip a build, minutes for a test. The fast tier leaves building,
// fetching and the add workflow to the library tests, which cover them
// without the binary (materialize's add, materialize and launcher tests,
// internal/pyenv, gc).
func SlowBuild(t testing.TB) {
	t.Helper()
	SkipShort(t, "slow: builds revisions with pip through the binary (materialize's tests cover building)")
}

// NeedsRoot ends t unless it runs as root: why says what root is for
// (switching to a second account, mounting). The fast tier skips t;
// the full tier fails it.
func NeedsRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	SkipShort(t, "needs root: "+why)
	t.Fatalf("this test needs root: %s; run it as root, as CI does", why)
}

// NeedsServer ends t, which needs a server that is not installed: err
// is the error starting it returned (it wraps testsrv.ErrNotInstalled,
// and names the server, where it was looked for and how to install it).
// The fast tier skips t; the full tier fails it with err.
func NeedsServer(t testing.TB, err error) {
	t.Helper()
	SkipShort(t, err.Error())
	t.Fatalf("testkit: %v", err)
}
