package httpbackend

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseNetrc(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []netrcEntry
		err      string
	}{
		{"empty", "", nil, ""},
		{"one line", "machine h login u password p", []netrcEntry{{"h", "u", "p"}}, ""},
		{"lines and comments", "# mine\nmachine h # the cache\n\tlogin u\n\tpassword p\n", []netrcEntry{{"h", "u", "p"}}, ""},
		{"default", "machine a login x password y\ndefault login d password e", []netrcEntry{{"a", "x", "y"}, {"", "d", "e"}}, ""},
		{"account ignored", "machine h login u account acc password p", []netrcEntry{{"h", "u", "p"}}, ""},
		{"quoted", `machine h login "a b" password "q\"uo\\te"`, []netrcEntry{{"h", "a b", `q"uo\te`}}, ""},
		{"macdef skipped", "machine a login x\nmacdef init\ncd /\nlogin z\n\nmachine b login y", []netrcEntry{{"a", "x", ""}, {"b", "y", ""}}, ""},
		{"macdef at the end", "machine a login x\nmacdef init\ncd /\n", []netrcEntry{{"a", "x", ""}}, ""},
		{"login first", "login u", nil, "line 1: login before any machine"},
		{"no value", "machine h\nlogin", nil, "line 2: login without a value"},
		{"unknown", "machine h\nuser u", nil, `line 2: unknown keyword "user"`},
		{"unterminated", `machine h password "abc`, nil, "unterminated"},
	} {
		got, err := parseNetrc(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err == "" && !slices.Equal(got, tt.want):
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestLookupNetrc(t *testing.T) {
	es := []netrcEntry{{"", "d", "e"}, {"h", "u", "p"}}
	if e, ok := lookupNetrc(es, "h"); !ok || e.login != "u" {
		t.Errorf("h: %+v %v", e, ok)
	}
	if e, ok := lookupNetrc(es, "other"); !ok || e.login != "d" {
		t.Errorf("other: %+v %v, want the default", e, ok)
	}
	if _, ok := lookupNetrc(es[1:], "other"); ok {
		t.Error("found an entry for a host with none and no default")
	}
}

func TestReadNetrc(t *testing.T) {
	dir := t.TempDir()
	if es, err := readNetrc(filepath.Join(dir, "none")); err != nil || es != nil {
		t.Fatalf("missing file: %v %v, want no entries", es, err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("machine h\nuser u\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readNetrc(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("malformed file: %v, want an error naming it", err)
	}
	if _, err := New("https://h/", Options{Netrc: bad}); err == nil {
		t.Fatal("New with a malformed netrc succeeded")
	}
}
