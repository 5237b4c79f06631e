package recipe

import (
	"errors"
	"strings"
	"testing"
)

func TestValidContainerName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{".main", true},
		{"dev", true},
		{"Test_2.1-rc", true},
		{"9", true},
		{"", false},
		{".dev", false},
		{"-dev", false},
		{"_dev", false},
		{".store", false},
		{".storeX", false},
		{".tmp", false},
		{".main2", false},
		{"a..b", false},
		{"..", false},
		{"a/b", false},
		{`a\b`, false},
		{"/abs", false},
		{"a b", false},
		{"é", false},
		{strings.Repeat("a", 201), false},
	}
	for _, tt := range tests {
		err := ValidContainerName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidContainerName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("ValidContainerName(%q) = %v, not ErrBadName", tt.name, err)
		}
	}
	err := ValidContainerName("a/b")
	if want := `invalid container name "a/b": a container name is not a path; names use letters, digits, ".", "_" and "-", and start with a letter or digit (or are ".main")`; err.Error() != want {
		t.Errorf("message\n%s\nwant\n%s", err, want)
	}
}

func TestFileName(t *testing.T) {
	tests := []struct {
		container, file string
	}{
		{".main", "rezup.toml"},
		{"", "rezup.toml"},
		{"dev", "rezup.dev.toml"},
		{"a.b", "rezup.a.b.toml"},
	}
	for _, tt := range tests {
		if got := FileName(tt.container); got != tt.file {
			t.Errorf("FileName(%q) = %q, want %q", tt.container, got, tt.file)
		}
		want := tt.container
		if want == "" {
			want = DefaultContainer
		}
		if got, ok := ContainerOf(tt.file); !ok || got != want {
			t.Errorf("ContainerOf(%q) = %q, %v, want %q", tt.file, got, ok, want)
		}
	}
	for _, f := range []string{"rezup.tom", "rezup..toml", "rezup.toml.bak", "rezup..main.toml", "rezup..store.toml", "rezup.a..b.toml", "xrezup.dev.toml", "rezup.a b.toml", "rezup.toml~", "pyproject.toml"} {
		if got, ok := ContainerOf(f); ok {
			t.Errorf("ContainerOf(%q) = %q, true; want false", f, got)
		}
	}
}
