package recipe

import (
	"strings"
	"testing"
)

func TestWithSalt(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"no build table", "[rez]\nurl = \"rez\"\n"},
		{"no trailing newline", "[rez]\nurl = \"rez\""},
		{"empty build table", "[build]\n\n[rez]\nurl = \"rez\"\n"},
		{"existing salt", "[build]\nsalt = \"old\" # mine\n[rez]\nurl = \"rez\"\n"},
		{"build last with comment", "# top\n[rez]\nurl = \"rez\" # keep me\n[build]\nsalt=\"x\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := WithSalt("rezup.toml", []byte(tt.in), "abc123")
			if err != nil {
				t.Fatalf("WithSalt: %v\n%s", err, out)
			}
			r, _, err := Parse("rezup.toml", out)
			if err != nil {
				t.Fatal(err)
			}
			if r.Build.Salt != "abc123" {
				t.Fatalf("salt = %q\n%s", r.Build.Salt, out)
			}
			if r.Rez.URL != "rez" {
				t.Fatalf("rez url lost: %q\n%s", r.Rez.URL, out)
			}
			if strings.Contains(tt.in, "keep me") && !strings.Contains(string(out), "keep me") {
				t.Fatalf("comment lost:\n%s", out)
			}
		})
	}
}
