package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas/objects"
)

// REZUP_LINK_MODE names a link mode (hardlink by default); anything else
// is a configuration error (exit 2) with a hint, before anything is built.
func TestLinkMode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  objects.LinkMode
		bad   bool
	}{
		{"", objects.Hardlink, false},
		{"hardlink", objects.Hardlink, false},
		{" clone ", objects.Clone, false},
		{"copy", objects.Copy, false},
		{"symlink", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			a := newApp([]string{"REZUP_LINK_MODE=" + tt.value}, &bytes.Buffer{}, &bytes.Buffer{})
			m, err := a.linkMode()
			if !tt.bad {
				if err != nil || m != tt.want {
					t.Fatalf("got %v, %v; want %v", m, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "REZUP_LINK_MODE") || hintFor(err) == "" || exitCode(err) != 2 {
				t.Fatalf("got %v, %v (hint %q, exit %d); want an error naming the variable, with a hint, exit 2", m, err, hintFor(err), exitCode(err))
			}
		})
	}
}
