package recipe

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no recipe text crashes Parse, that every failure
// is a *Error, and that every recipe Parse accepts has build inputs.
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
	f.Fuzz(func(t *testing.T, data []byte) {
		newLocator(string(data)) // must stop on text toml.Decode refuses, too
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
