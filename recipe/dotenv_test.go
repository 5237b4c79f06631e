package recipe

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseDotenv(t *testing.T) {
	kv := func(k, v string, line int) KV { return KV{Key: k, Value: v, Line: line} }
	bare := func(k string, line int) KV { return KV{Key: k, Line: line, NoValue: true} }
	tests := []struct {
		name string
		in   string
		want []KV
	}{
		{"plain", "A=1\nB=two\n", []KV{kv("A", "1", 1), kv("B", "two", 2)}},
		{"no final newline", "A=1", []KV{kv("A", "1", 1)}},
		{"crlf and cr", "A=1\r\nB=2\rC=3", []KV{kv("A", "1", 1), kv("B", "2", 2), kv("C", "3", 3)}},
		{"export", "export A=1\nexport\tB = 2\n", []KV{kv("A", "1", 1), kv("B", "2", 2)}},
		{"export is a name too", "export=1\n", []KV{kv("export", "1", 1)}},
		{"spaces around", "  A  =   spaced value   \n", []KV{kv("A", "spaced value", 1)}},
		{"blank lines and comments", "\n# a comment\n\n  # indented\nA=1\n\n", []KV{kv("A", "1", 5)}},
		// python-dotenv: a '#' after white space starts a comment; the
		// blanks after '=' are not part of the value, so `D= # x` is "# x".
		{"inline comment", "A=value # comment\nB=va#lue\nC=#notacomment\nD= # only a comment\nE=a\t#tab\n", []KV{
			kv("A", "value", 1), kv("B", "va#lue", 2), kv("C", "#notacomment", 3), kv("D", "# only a comment", 4), kv("E", "a", 5)}},
		{"python white space", "A=\u00a0x\u00a0#c\u00a0\nB=y\x1f\n", []KV{kv("A", "x", 1), kv("B", "y", 2)}},
		{"empty values", "A=\nB=''\nC=\"\"\nD=", []KV{kv("A", "", 1), kv("B", "", 2), kv("C", "", 3), kv("D", "", 4)}},
		{"bare name", "A\nB=1\nC # comment\n", []KV{bare("A", 1), kv("B", "1", 2), bare("C", 3)}},
		{"single quoted keeps its text", `A='${HOME} \n $x # not a comment'`, []KV{kv("A", `${HOME} \n $x # not a comment`, 1)}},
		{"single quoted escapes", `A='it\'s a \\ b'`, []KV{kv("A", `it's a \ b`, 1)}},
		{"double quoted escapes", `A="a\nb\tc \"q\" \\ \$ \x"`, []KV{kv("A", "a\nb\tc \"q\" \\ \\$ \\x", 1)}},
		{"double quoted keeps spaces and #", `A="  x # y  "  # comment`, []KV{kv("A", "  x # y  ", 1)}},
		{"multi-line double", "A=\"one\ntwo\"\nB=3\n", []KV{kv("A", "one\ntwo", 1), kv("B", "3", 3)}},
		{"multi-line single", "A='one\r\ntwo'\nB=3\n", []KV{kv("A", "one\r\ntwo", 1), kv("B", "3", 3)}},
		{"quoted name", "'my key'=v\n", []KV{kv("my key", "v", 1)}},
		{"unquoted keeps inner quotes", `A=a"b'c`, []KV{kv("A", `a"b'c`, 1)}},
		// python-dotenv's regex backtracks to the last \" when no quote
		// closes the value: a trailing backslash at the end of the file.
		{"trailing backslash at end of file", `A="C:\dir\"` + "\n", []KV{kv("A", `C:\dir\`, 1)}},
		{"byte order mark", "\ufeffA=1", []KV{kv("A", "1", 1)}},
		{"later duplicate kept in order", "A=1\nA=2\n", []KV{kv("A", "1", 1), kv("A", "2", 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDotenv(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseDotenv(%q)\n got %#v\nwant %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDotenvSyntaxErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		msg  string
	}{
		{"unterminated double", "A=1\nB=\"open\nC=2\n", 2, "unterminated double-quoted value"},
		{"unterminated single", "A=1\n\n  B='open\n", 3, "unterminated single-quoted value"},
		{"text after closing quote", "A=\"x\"y\n", 1, "unexpected text after the closing quote of A"},
		{"name without =", "A=1\nKEY VALUE\n", 2, "expected '=' after KEY"},
		{"missing name", "=value\n", 1, "missing name before '='"},
		{"unterminated quoted name", "'A=1\n", 1, "unterminated or empty quoted name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDotenv(strings.NewReader(tt.in))
			var se *DotenvError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *DotenvError", err)
			}
			if se.Line != tt.line || se.Msg != tt.msg {
				t.Errorf("got line %d %q, want line %d %q", se.Line, se.Msg, tt.line, tt.msg)
			}
		})
	}
}

func FuzzParseDotenv(f *testing.F) {
	for _, s := range []string{
		"A=1\n", "export A='x'\n", "A=\"a\\\"b\"\n", "A='", "A=\"\n\n", "# c\nB=${A:-x} # y\n",
		"'k'=v", "A=\"C:\\d\\\"", "\ufeffA=\r\n", "A B\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kvs, err := ParseDotenv(strings.NewReader(s))
		var se *DotenvError
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("err = %v, want *DotenvError", err)
		}
		lines := strings.Count(s, "\n") + strings.Count(s, "\r") + 1
		for _, kv := range kvs {
			if kv.Key == "" || kv.Line < 1 || kv.Line > lines {
				t.Fatalf("bad binding %#v from %q", kv, s)
			}
		}
	})
}
