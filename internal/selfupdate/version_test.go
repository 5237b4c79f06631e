package selfupdate

import "testing"

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0},
		{"v1.0.0", "1.0.0", 0},
		{"1.0", "1.0.0", 0},
		{"1", "1.0.0", 0},
		{"1.0.0", "1.1.0", -1},
		{"1.10.0", "1.9.0", 1},
		{"2.0.0", "1.99.99", 1},
		{"1.2.3-dev", "1.2.3", -1},
		{"1.2.3", "1.2.3-dev", 1},
		{"1.2.3-dev", "1.2.2", 1},
		{"1.2.3-rc.2", "1.2.3-rc.10", -1},
		{"1.2.3-rc.1", "1.2.3-rc", 1},
		{"1.2.3-1", "1.2.3-alpha", -1},
		{"1.2.3-alpha", "1.2.3-beta", -1},
		{"1.2.3+build.7", "1.2.3", 0},
		{"0.1.0-dev", "0.1.0", -1},
	}
	for _, tt := range tests {
		a, err := ParseVersion(tt.a)
		if err != nil {
			t.Fatalf("ParseVersion(%q): %v", tt.a, err)
		}
		b, err := ParseVersion(tt.b)
		if err != nil {
			t.Fatalf("ParseVersion(%q): %v", tt.b, err)
		}
		if got := Compare(a, b); got != tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Compare(b, a); got != -tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestParseVersionRejects(t *testing.T) {
	for _, s := range []string{"", "v", "latest", "1.2.3.4", "1.x", "1..2", "1.2.3-", "-1.2", "1.+2"} {
		if v, err := ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) = %v, want an error", s, v)
		}
	}
}
