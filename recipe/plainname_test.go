package recipe

import (
	"regexp"
	"testing"
)

// The hand-written checks say what the regexps they replaced said.
func TestPlainNameAndBareKey(t *testing.T) {
	plain := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	bare := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	for _, s := range []string{
		"", "a", "Z9", "rez", "my-ext_2.0", ".main", "-x", "_x", "x y", "é", "a/b", `a\b`, "a..b", "a.", "9", "A-",
		"a\x00", "a\n", "ab!", "key-1", "pip.env", "1.2.3",
	} {
		if got, want := isPlainName(s), plain.MatchString(s); got != want {
			t.Errorf("isPlainName(%q) = %v, want %v", s, got, want)
		}
		if got, want := isBareKey(s), bare.MatchString(s); got != want {
			t.Errorf("isBareKey(%q) = %v, want %v", s, got, want)
		}
	}
}
