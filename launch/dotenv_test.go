package launch

import "testing"

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "a", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"${A}", "a"},
		{"x${A}y${A}z", "xayaz"},
		{"${MISSING}", ""},
		{"${MISSING:-dflt}", "dflt"},
		{"${A:-dflt}", "a"},
		{"${EMPTY:-dflt}", ""}, // python-dotenv: the default is for unset only
		{"$A", "$A"},           // no braces: literal
		{"${A", "${A"},
		{"${A:x}", "${A:x}"},
		{"$${A}", "$a"},
		{"${A:-${A}}", "a}"},
		{"${}", ""},
	}
	for _, tt := range tests {
		if got := expand(tt.in, lookup); got != tt.want {
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
