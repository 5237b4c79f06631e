package recipe

import "testing"

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
