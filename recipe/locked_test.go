package recipe

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The locked key counts the lock and the entry-point options, and leaves
// out the requirement strings and pip's settings: they count through the
// lock they resolve to.
func TestLockedBuildInputsChanges(t *testing.T) {
	replace := func(old, new string) func(string) string {
		return func(s string) string { return strings.Replace(s, old, new, 1) }
	}
	const lock = `{"version":1,"venvs":[{"name":"rez","dists":[{"name":"rez","version":"2.113.0"}]}]}`
	tests := []struct {
		name    string
		edit    func(string) string
		lock    string
		changes bool
	}{
		{"lock", nil, strings.Replace(lock, "2.113.0", "2.114.0", 1), true},
		{"rez flags", replace("[rez]\n", "[rez]\nflags = [\"-E\", \"-s\"]\n"), "", true},
		{"rez edit", replace("[rez]\n", "[rez]\nedit = true\n"), "", true},
		{"rez name", replace("[rez]\n", "[rez]\nname = \"rez-fork\"\n"), "", true},
		{"extension isolation", replace("edit = true\n", "edit = true\nisolation = true\n"), "", true},
		{"isolated extension python", replace("python = 2.7", `python = "3.12"`), "", true},
		{"salt", replace(`salt = ""`, `salt = "1763900000"`), "", true},
		{"shared name", replace(`name = "production"`, `name = "studio"`), "", true},

		{"rez url", replace(`url = "rez>=2.83"`, `url = "rez>=2.90"`), "", false},
		{"rez lib", replace(`lib = ["six"]`, `lib = ["six", "pyyaml"]`), "", false},
		{"extension url", replace(`url = "~/dev/foo"`, `url = "~/dev/foo2"`), "", false},
		{"pip options", replace(`, "--no-cache-dir"]`, `]`), "", false},
		{"pip env", replace("PIP_TIMEOUT = 30", "PIP_TIMEOUT = 60"), "", false},
		{"shared requires", replace(`requires = ["toml"]`, `requires = ["toml", "pyside2"]`), "", false},
		{"description", replace(`description = "golden"`, `description = "silver"`), "", false},
		{"lock layout", nil, "{\n  " + lock[1:], false},
	}
	inputs := func(t *testing.T, src, lock string) []byte {
		t.Helper()
		r, _, err := Parse("rezup.toml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		b, err := ResolvedBuildInputs(r, goldenInterpreters(), []byte(lock))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) || bytes.ContainsAny(b, "\n\t") || !bytes.Contains(b, []byte(KeySchemaResolved)) {
			t.Fatalf("not compact JSON of the locked schema: %s", b)
		}
		return b
	}
	base := inputs(t, golden, lock)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, l := golden, lock
			if tt.edit != nil {
				if src = tt.edit(golden); src == golden {
					t.Fatal("the edit did not apply")
				}
			}
			if tt.lock != "" {
				l = tt.lock
			}
			if got := inputs(t, src, l); !bytes.Equal(got, base) != tt.changes {
				t.Errorf("changed = %v, want %v:\n%s\n%s", !bytes.Equal(got, base), tt.changes, got, base)
			}
		})
	}
	r, _, err := Parse("rezup.toml", []byte(golden))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ResolvedBuildInputs(r, goldenInterpreters(), []byte("not json")); err == nil {
		t.Error("a lock that is not JSON: no error")
	}
	if _, err := ResolvedBuildInputs(r, nil, []byte(lock)); err == nil {
		t.Error("no interpreters: no error")
	}
}
