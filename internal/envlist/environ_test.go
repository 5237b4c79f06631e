package envlist

import (
	"runtime"
	"testing"
)

func TestLookup(t *testing.T) {
	env := []string{"A=1", "=C:=C:\\dir", "B=x=y", "A=2", "EMPTY=", "noequals"}
	tests := []struct {
		key    string
		want   string
		wantOK bool
	}{
		{"A", "2", true}, // the last entry wins
		{"B", "x=y", true},
		{"EMPTY", "", true},
		{"=C:", "C:\\dir", true},
		{"noequals", "", false},
		{"MISSING", "", false},
	}
	for _, tt := range tests {
		got, ok := Lookup(env, tt.key)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
		if g := Get(env, tt.key); g != tt.want {
			t.Errorf("Get(%q) = %q; want %q", tt.key, g, tt.want)
		}
	}
}

func TestLookupCase(t *testing.T) {
	env := []string{"Path=/win"}
	got, ok := Lookup(env, "PATH")
	if runtime.GOOS == "windows" {
		if !ok || got != "/win" {
			t.Errorf("Lookup(PATH) on windows = %q, %v; want Path's value", got, ok)
		}
		return
	}
	if ok {
		t.Errorf("Lookup(PATH) = %q; names are case-sensitive outside Windows", got)
	}
}

func TestSplit(t *testing.T) {
	for _, tt := range []struct {
		kv, k, v string
		ok       bool
	}{
		{"K=V", "K", "V", true},
		{"=D:=D:\\", "=D:", "D:\\", true},
		{"", "", "", false},
		{"K", "", "", false},
	} {
		k, v, ok := Split(tt.kv)
		if k != tt.k || v != tt.v || ok != tt.ok {
			t.Errorf("Split(%q) = %q, %q, %v", tt.kv, k, v, ok)
		}
	}
}
