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
	a.Env = append(a.Env, EnvVar{"X", "1"})
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

// The commented [cache] section is what a user uncomments: with a real key
// in place of the placeholder, it parses to what it says.
func TestDefaultTOMLCacheSectionUncommented(t *testing.T) {
	text := string(DefaultTOML())
	start := strings.Index(text, "# [cache]\n")
	if start < 0 {
		t.Fatal("no commented [cache] section")
	}
	var b strings.Builder
	for _, line := range strings.Split(text[start:], "\n") {
		if k, ok := strings.CutPrefix(line, "# "); ok && (strings.HasPrefix(k, "[") || strings.Contains(k, " = ")) {
			b.WriteString(k + "\n")
		}
	}
	const key = "studio-1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
	src := strings.Replace(b.String(), "studio-1:<base64>", key, 1)
	r, _, err := Parse("rezup.toml", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	want := Cache{URL: "/studio/rezup-cache", TrustedKeys: []string{key}, SecretKeyFile: "~/.config/rezup/signing.key", Format: "archive"}
	if !reflect.DeepEqual(r.Cache, want) {
		t.Fatalf("[cache] = %+v, want %+v", r.Cache, want)
	}
}

// The default recipe's comments say what rezup does today: the init
// script is a .py or a .sh script, and a cache is a directory, an HTTP(S)
// server or an S3 bucket.
func TestDefaultTOMLComments(t *testing.T) {
	text := string(DefaultTOML())
	comment := func(before string) string {
		t.Helper()
		end := strings.Index(text, before)
		if end < 0 {
			t.Fatalf("default recipe has no %q", before)
		}
		start := strings.LastIndex(text[:end], "\n\n")
		return text[start:end]
	}
	for _, tc := range []struct {
		before string
		says   []string
	}{
		{"script = \"\"", []string{".py", ".sh", "~/rezup.toml"}},
		{"# [cache]\n", []string{"file://", "https://", "s3://", "$REZUP_CACHE"}},
	} {
		c := comment(tc.before)
		for _, s := range tc.says {
			if !strings.Contains(c, s) {
				t.Errorf("the comment above %q does not say %q:\n%s", tc.before, s, c)
			}
		}
	}
	if strings.Contains(text, "A Python script") {
		t.Error(`[init] script is called "A Python script"; it may be a .sh script too`)
	}
}
