package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas/objects"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// The cache format is REZUP_CACHE_FORMAT, else the recipe's [cache]
// format, else archive; a bad variable is one error naming it, with a
// hint.
func TestCacheFormatResolution(t *testing.T) {
	t.Parallel()
	files := &recipe.Recipe{Cache: recipe.Cache{Format: "files"}}
	for _, tt := range []struct {
		env  string
		r    *recipe.Recipe
		want string // "": refused
	}{
		{"", nil, "archive"},
		{"", &recipe.Recipe{}, "archive"},
		{"", files, "files"},
		{"both", files, "both"},
		{" archive ", files, "archive"},
		{"delta", files, ""},
	} {
		a := newApp([]string{"REZUP_CACHE_FORMAT=" + tt.env}, &bytes.Buffer{}, &bytes.Buffer{})
		got, err := a.cacheFormat(tt.r)
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), "REZUP_CACHE_FORMAT") || hintFor(err) == "" {
				t.Errorf("REZUP_CACHE_FORMAT=%q: %q, %v; want an error naming the variable, with a hint", tt.env, got, err)
			}
			if _, err := a.storeFor(materialize.Root{Dir: t.TempDir()}, nil, tt.r); err == nil {
				t.Errorf("REZUP_CACHE_FORMAT=%q: a store opened", tt.env)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("REZUP_CACHE_FORMAT=%q, recipe %v: %q, %v; want %q", tt.env, tt.r, got, err, tt.want)
		}
	}
}

// REZUP_LINK_MODE is hardlink, clone or copy.
func TestLinkModeResolution(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  string
		want objects.LinkMode
		bad  bool
	}{{"", objects.Hardlink, false}, {"copy", objects.Copy, false}, {"clone", objects.Clone, false}, {"symlink", 0, true}} {
		a := newApp([]string{"REZUP_LINK_MODE=" + tt.env}, &bytes.Buffer{}, &bytes.Buffer{})
		got, err := a.linkMode()
		if tt.bad {
			if err == nil || !strings.Contains(err.Error(), "REZUP_LINK_MODE") || hintFor(err) == "" {
				t.Errorf("REZUP_LINK_MODE=%q: %v, %v; want an error naming the variable, with a hint", tt.env, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("REZUP_LINK_MODE=%q: %v, %v; want %v", tt.env, got, err, tt.want)
		}
	}
}
