package pyresolve

import "testing"

func TestCompareVersions(t *testing.T) {
	// Each list is in strictly increasing order (PEP 440's examples and
	// the normalization rules).
	ordered := [][]string{
		{"1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456", "1.0b2",
			"1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5",
			"1.0+abc.7", "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1"},
		{"2.113.0", "2.114.0", "2.114.1", "2.200", "10.0", "1!0.1"},
		{"1.0", "1.0+local", "1.0+local.1", "1.0+local.1.a"},
		{"legacy-junk", "0.0.1"},
	}
	for _, list := range ordered {
		for i := range list {
			for j := range list {
				want := 0
				if i < j {
					want = -1
				} else if i > j {
					want = 1
				}
				if got := CompareVersions(list[i], list[j]); got != want {
					t.Errorf("CompareVersions(%q, %q) = %d, want %d", list[i], list[j], got, want)
				}
			}
		}
	}
	equal := [][2]string{
		{"1.0", "1.0.0"}, {"1.0", "v1.0"}, {"1.0a1", "1.0alpha1"}, {"1.0b1", "1.0-beta.1"}, {"1.0rc1", "1.0c1"},
		{"1.0rc1", "1.0pre1"}, {"1.0.post1", "1.0-1"}, {"1.0.post1", "1.0.rev1"}, {"1.0.post0", "1.0.post"},
		{"1.0.dev0", "1.0.dev"}, {"1.0a0", "1.0a"}, {"01.002", "1.2"}, {"1.0RC1", "1.0rc1"},
		{"99999999999999999999999.1", "99999999999999999999999.1.0"}, {"1.0+ABC", "1.0+abc"}, {"0!1.0", "1.0"},
	}
	for _, e := range equal {
		if got := CompareVersions(e[0], e[1]); got != 0 {
			t.Errorf("CompareVersions(%q, %q) = %d, want 0", e[0], e[1], got)
		}
	}
	if CompareVersions("99999999999999999999999", "99999999999999999999998") != 1 {
		t.Error("big release numbers compare wrong")
	}
}

func FuzzCompareVersions(f *testing.F) {
	for _, s := range []string{"1.0", "1.0a1.post2.dev3+x.1", "1!2", "junk", ""} {
		f.Add(s, "1.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if CompareVersions(a, b) != -CompareVersions(b, a) {
			t.Fatalf("not antisymmetric: %q %q", a, b)
		}
		if CompareVersions(a, a) != 0 {
			t.Fatalf("%q != itself", a)
		}
	})
}
