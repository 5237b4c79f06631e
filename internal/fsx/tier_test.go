package fsx

import "testing"

// NeedsRoot is testkit.NeedsRoot, for the tests of this package that
// switch accounts: they cannot import testkit, which imports fsx, so the
// external test package hands it over (tier_ext_test.go).
var NeedsRoot func(t testing.TB, why string)
