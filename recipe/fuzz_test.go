package recipe

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// FuzzParse checks that no recipe text crashes Parse or ParseFrozen, that
// every failure is a *Error, that every recipe either accepts has build
// inputs, and that the frozen parse fails only on text that is not TOML,
// reads a recipe the strict parse accepts the same, and keeps nothing the
// strict parse would refuse.
func FuzzParse(f *testing.F) {
	f.Add(DefaultTOML())
	samples, _ := filepath.Glob(filepath.Join("..", "testdata", "recipe", "*.toml"))
	for _, s := range samples {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(golden))
	f.Add([]byte("[rez]\npython = 3.10\nflags = []\n[[extension]]\n[[extension]]\nname = \"a\"\nisolation = true\npython = 2.7\n"))
	f.Add([]byte("[env]\nlib = [\"a\", 1, true]\nx = 1e16\n[rez]\nverison = 1\nname = \"../r\"\n[[extension]]\nname = \"e\"\n[[extension]]\nname = \"E\"\nflags = [\"x\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		newLocator(string(data)) // must stop on text toml.Decode refuses, too
		checkFrozen(t, data)
		r, warns, err := Parse("fuzz.toml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("%T is not *Error: %v", err, err)
			}
			if e.File != "fuzz.toml" || r != nil || warns != nil {
				t.Fatalf("bad failure: %#v, recipe %v, warnings %v", e, r, warns)
			}
			return
		}
		a, err := BuildInputs(r, fakeInterpreters(r))
		if err != nil {
			t.Fatal(err)
		}
		b, err := BuildInputs(r, fakeInterpreters(r))
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("build inputs are not stable: %v", err)
		}
	})
}

func checkFrozen(t *testing.T, data []byte) {
	strict, sw, serr := Parse("fuzz.toml", data)
	r, warns, err := ParseFrozen("fuzz.toml", data)
	if _, _, derr := decode("fuzz.toml", data); derr != nil {
		if err == nil || err.Error() != derr.Error() || r != nil || warns != nil {
			t.Fatalf("frozen parse of text that is not TOML: %v, %v, %v; want %v", r, warns, err, derr)
		}
		return
	}
	if err != nil {
		t.Fatalf("frozen parse failed on TOML: %v", err)
	}
	if serr == nil && (!reflect.DeepEqual(strict, r) || !reflect.DeepEqual(sw, warns)) {
		t.Fatalf("frozen parse differs from the strict one: %+v %v, strict %+v %v", r, warns, strict, sw)
	}
	if serr != nil && len(warns) == 0 {
		t.Fatalf("strict error %v is no frozen warning", serr)
	}
	// What the strict parse refuses must not be kept.
	for _, tool := range append([]Tool{r.Rez}, r.Extensions...) {
		if !isPlainName(tool.Name) || tool.URL == "" {
			t.Fatalf("tool kept with name %q, url %q", tool.Name, tool.URL)
		}
		for _, f := range tool.Flags {
			if !strings.HasPrefix(f, "-") {
				t.Fatalf("flag %q kept", f)
			}
		}
		if slices.Contains(tool.Lib, "") {
			t.Fatalf("empty lib kept in %q", tool.Name)
		}
	}
	names := map[string]bool{}
	for _, e := range r.Extensions {
		if names[strings.ToLower(e.Name)] {
			t.Fatalf("duplicate extension %q kept", e.Name)
		}
		names[strings.ToLower(e.Name)] = true
	}
	if r.Shared != nil && !isPlainName(r.Shared.Name) {
		t.Fatalf("shared name %q kept", r.Shared.Name)
	}
	if _, err := BuildInputs(r, fakeInterpreters(r)); err != nil {
		t.Fatal(err)
	}
}
