package recipe

import (
	"reflect"
	"strings"
	"testing"
)

// readEnvLine is python-dotenv reading `NAME = value`, the line the Python
// rezup writes for an [env] entry; ok false where it does not read it as
// that one entry.
func TestReadEnvLine(t *testing.T) {
	tests := []struct {
		name, value, want string
		ok                bool
	}{
		{"A", "plain", "plain", true},
		{"A", "", "", true},
		{"A", "x # y", "x", true},
		{"A", "x#y", "x#y", true},
		{"A", "# y", "# y", true},
		{"A", "x\t# y", "x", true},
		{"A", "x\u00a0# y", "x", true}, // Python's white space
		{"A", "  x  ", "x", true},
		{"A", "x\u3000", "x", true},
		{"A", `"x # y"`, "x # y", true},
		{"A", `"a\nb\"c"`, "a\nb\"c", true},
		{"A", `'a\nb'`, `a\nb`, true},
		{"A", `"x" # c`, "x", true},
		{"A", "${Z1}-a", "${Z1}-a", true},
		{"A", "50%", "50%", true}, // configparser refuses it before python-dotenv: see configparserRefuses
		{"A", `"a" b`, "", false},
		{"A", `"a`, "", false},
		{"A", `"a\"`, "", false}, // closed only by the escaped quote: the lines after it decide
		{"A", "a\nB=x", "", false},
		{"A", "a\rb", "", false},
		{"A B", "v", "", false},
		{"A#B", "v", "", false},
		{"'A'", "v", "", false},
		{"export", "v", "", false},
		{"export A", "v", "", false},
		{"#A", "v", "", false},
		{"A\u00a0", "v", "", false},
		{"[A]", "v", "v", true},
		{"a.b", "v", "v", true},
	}
	for _, tt := range tests {
		got, ok := readEnvLine(tt.name, tt.value)
		if got != tt.want || ok != tt.ok {
			t.Errorf("readEnvLine(%q, %q) = %q, %v; want %q, %v", tt.name, tt.value, got, ok, tt.want, tt.ok)
		}
	}
}

func TestConfigparserRefuses(t *testing.T) {
	for s, want := range map[string]bool{
		"": false, "50": false, "50%": true, "%": true, "100%%": false, "%(name)s": false,
		"%(name)": true, "%()s": true, "%%%": true, "a %(x)s %% b": false, "%s": true,
	} {
		if got := configparserRefuses(s); got != want {
			t.Errorf("configparserRefuses(%q) = %v, want %v", s, got, want)
		}
	}
}

// [env] keeps its file order, and each value is read as python-dotenv
// reads it; a value it changes without being quoted as a whole warns.
func TestParseEnvInFileOrder(t *testing.T) {
	src := "[env]\nZ1 = \"zval\"\nA1 = \"${Z1}-a\"\nC = \"x # y\"\nQ = '\"x # y\"'\nM = \"0 #\"\nL = [\"/a\", \"/b\"]\nNL = \"a\\nb\"\n"
	r, warns, err := ParseWith("rezup.toml", []byte(src), ParseOptions{ListSeparator: ":"})
	if err != nil {
		t.Fatal(err)
	}
	want := []EnvVar{{"Z1", "zval"}, {"A1", "${Z1}-a"}, {"C", "x"}, {"Q", "x # y"}, {"M", "0"}, {"L", "/a:/b"}, {"NL", "a\nb"}}
	if !reflect.DeepEqual(r.Env, want) {
		t.Errorf("env %q\nwant %q", r.Env, want)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	wantWarns := []string{
		`rezup.toml:4: [env] C = "x # y" sets C to "x", as the Python rezup reads it (python-dotenv: a # after white space starts a comment); to keep it whole, quote it inside: '"x # y"'`,
		`rezup.toml:6: [env] M = "0 #" sets M to "0", as the Python rezup reads it (python-dotenv: a # after white space starts a comment); to keep it whole, quote it inside: '"0 #"'`,
	}
	if !reflect.DeepEqual(got, wantWarns) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantWarns, "\n"))
	}
	// Inline tables and dotted keys keep their order too.
	r, _, err = Parse("rezup.toml", []byte("env = {B = \"1\", A = \"2\"}\n"))
	if err != nil || !reflect.DeepEqual(r.Env, []EnvVar{{"B", "1"}, {"A", "2"}}) {
		t.Errorf("inline table: %v, %q", err, r.Env)
	}
	r, _, err = Parse("rezup.toml", []byte("env.B = \"1\"\nenv.A = \"2\"\n"))
	if err != nil || !reflect.DeepEqual(r.Env, []EnvVar{{"B", "1"}, {"A", "2"}}) {
		t.Errorf("dotted keys: %v, %q", err, r.Env)
	}
}
