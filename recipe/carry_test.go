package recipe

import (
	"slices"
	"strings"
	"testing"
)

// A new container's default recipe carries over what ~/rezup.toml says of
// where packages come from and how builds are shared, and parses to it.
func TestDefaultFrom(t *testing.T) {
	main := []byte(`[pip]
options = ["--no-index", "--find-links", "/studio/wheels \"q\""]
[pip.env]
PIP_INDEX_URL = "https://pypi.studio/simple"
"A.B" = "1"
[rez]
url = "rez==3.4"
python = "3.11"
[cache]
url = "/studio/cache"
trusted-keys = ["studio-1:AAAA"]
require-signed = true
format = "both"
[env]
X = "not carried"
`)
	data, carried := DefaultFrom("rezup.toml", main)
	if want := []string{"pip.options", "pip.env", "rez.python", "cache"}; !slices.Equal(carried, want) {
		t.Errorf("carried %q, want %q", carried, want)
	}
	r, warns, err := ParseFrozen("rezup.dev.toml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	for _, w := range warns {
		if !strings.Contains(w.String(), "trusted-keys") { // a fake key is the recipe's own problem
			t.Errorf("warning: %v", w)
		}
	}
	if !slices.Equal(r.Pip.Options, []string{"--no-index", "--find-links", `/studio/wheels "q"`}) || r.Pip.Env["PIP_INDEX_URL"] != "https://pypi.studio/simple" || r.Pip.Env["A.B"] != "1" {
		t.Errorf("[pip]: %+v", r.Pip)
	}
	if r.Rez.Python != "3.11" || r.Rez.URL != "rez>=2.83" || r.Cache.URL != "/studio/cache" || !r.Cache.RequireSigned || r.Cache.Format != "both" || len(r.Env) != 0 {
		t.Errorf("rez %+v, cache %+v, env %v", r.Rez, r.Cache, r.Env)
	}
	if !strings.Contains(string(data), "# Extra options for every `pip install`.") {
		t.Error("the comments of the default recipe are gone")
	}
	if data, carried := DefaultFrom("rezup.toml", []byte("[rez]\nurl = \"rez\"\n")); carried != nil || string(data) != string(DefaultTOML()) {
		t.Errorf("nothing to carry: %q", carried)
	}
	if data, carried := DefaultFrom("rezup.toml", []byte("[pip\n")); carried != nil || string(data) != string(DefaultTOML()) {
		t.Errorf("a broken main recipe: %q", carried)
	}
}
