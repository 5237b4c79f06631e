package recipe

import (
	"slices"
	"testing"
)

func TestFlattenTOML(t *testing.T) {
	got, err := flattenTOML([]byte(`description = "x"
[rez]
url = "rez"
flags = []
[pip.env]
"A.B" = "1"
[[extension]]
name = "foo"
[[extension]]
name = "bar"
isolation = true
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"description": `"x"`, "rez.url": `"rez"`, "rez.flags": "[]", `pip.env."A.B"`: `"1"`,
		"extension[0].name": `"foo"`, "extension[1].name": `"bar"`, "extension[1].isolation": "true",
	}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
	for k, v := range want {
		if tomlValue(got[k]) != v {
			t.Errorf("%s = %s, want %s", k, tomlValue(got[k]), v)
		}
	}
	if _, err := flattenTOML([]byte("[rez")); err == nil {
		t.Error("a broken document flattened")
	}
}

// Keys that are defaults on both sides are no change: a revision the
// Python rezup froze (its defaults written out) and one of this rezup.
func TestDiffIgnoresDefaults(t *testing.T) {
	python := []byte(`description = "default container revision recipe"
schema = "rezup-recipe:2.0"
[root]
local = ""
remote = ""
[dotenv]
[env]
[pip]
options = ["--disable-pip-version-check"]
[pip.env]
[rez]
name = "rez"
url = "rez>=2.83"
`)
	ours := []byte("[rez]\nurl = \"rez>=2.83\"\n[root]\nlocal = false\n")
	changes, err := Diff(python, ours)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Errorf("changes between default-valued recipes: %v", changes)
	}
	changes, err = Diff(python, []byte("[rez]\nurl = \"rez==3.4\"\n[root]\nlocal = \"/studio\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range changes {
		keys = append(keys, c.Key+" "+c.Change)
	}
	if want := []string{"rez.url changed", "root.local changed"}; !slices.Equal(keys, want) {
		t.Errorf("changes %q, want %q", keys, want)
	}
}
