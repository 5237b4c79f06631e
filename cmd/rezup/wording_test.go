package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// Every command says a container that is not there the same way.
func TestNoContainerOneWording(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t)
	want := "rezup: error: no container nosuch in " + filepath.Join(s.Home, ".rezup")
	for _, args := range [][]string{{"gc", "nosuch"}, {"gc", "--dry-run", "nosuch"}, {"drop", "nosuch"}, {"status", "nosuch"}} {
		res := s.Run(args...)
		lines := errorLines(strings.Split(res.Stderr, "\n"))
		if res.Code != 1 || len(lines) != 1 || lines[0] != want {
			t.Errorf("%v: exit %d, want 1 and %q\n%s", args, res.Code, want, res.Stderr)
		}
	}
}
