package recipe

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultTOMLParsesToDefault(t *testing.T) {
	r, warns, err := Parse("rezup.toml", DefaultTOML())
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) > 0 {
		t.Errorf("warnings: %v", warns)
	}
	if r.File != "rezup.toml" {
		t.Errorf("File = %q", r.File)
	}
	r.File = ""
	if !reflect.DeepEqual(r, Default()) {
		t.Errorf("parsed default:\n%+v\nwant:\n%+v", r, Default())
	}
}

// The default text documents every table a user may write.
func TestDefaultTOMLShowsEveryTable(t *testing.T) {
	text := string(DefaultTOML())
	for _, k := range topKeys {
		var want string
		switch k {
		case "description", "schema":
			want = "\n" + k + " = "
		case "extension":
			want = "\n[[extension]]\n"
		default:
			want = "[" + k + "]\n"
		}
		if !strings.Contains(text, want) {
			t.Errorf("default recipe has no %q", want)
		}
	}
}

func TestDefaultsAreFresh(t *testing.T) {
	a := Default()
	a.Rez.Flags[0] = "-I"
	a.Env["X"] = "1"
	a.Dotenv.Platform["linux"]["1"] = "x"
	if b := Default(); b.Rez.Flags[0] != "-E" || len(b.Env) != 0 || len(b.Dotenv.Platform["linux"]) != 0 {
		t.Error("Default shares state between calls")
	}
	text := DefaultTOML()
	text[0] = '!'
	if bytes.Equal(text, DefaultTOML()) {
		t.Error("DefaultTOML shares its bytes")
	}
}
