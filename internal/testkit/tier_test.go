package testkit_test

import (
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// Strict mode wins over -short: with CI=true or REZUP_TEST_STRICT=1
// nothing skips. Only -short outside it skips, and never without -short.
func TestTiers(t *testing.T) {
	for _, tt := range []struct {
		ci, strict string
		wantStrict bool
	}{
		{"", "", false},
		{"true", "", true},
		{"1", "", true},
		{"false", "", false},
		{"", "1", true},
		{"", "0", false},
		{"false", "true", true},
	} {
		t.Run("CI="+tt.ci+",REZUP_TEST_STRICT="+tt.strict, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			t.Setenv("REZUP_TEST_STRICT", tt.strict)
			if got := testkit.Strict(); got != tt.wantStrict {
				t.Fatalf("Strict() = %v, want %v", got, tt.wantStrict)
			}
			wantSkip := testing.Short() && !tt.wantStrict
			if got := testkit.Fast(); got != wantSkip {
				t.Errorf("Fast() = %v, want %v (-short %v)", got, wantSkip, testing.Short())
			}
			ran := false
			t.Run("SkipShort", func(t *testing.T) {
				testkit.SkipShort(t, "the test of SkipShort")
				ran = true
			})
			if ran == wantSkip {
				t.Errorf("SkipShort: the test ran = %v, want %v", ran, !wantSkip)
			}
		})
	}
}
