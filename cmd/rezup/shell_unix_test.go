//go:build !windows

package main

import "testing"

func TestExecable(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]bool{
		"sleep 40":             true,
		"rez-env maya -- maya": true,
		"sleep 40 > /tmp/x":    true,
		"exit 5":               false,
		"cd /tmp":              false,
		"FOO=1 env":            false,
		"a; b":                 false,
		"a | b":                false,
		"a && b":               false,
		"echo $(date)":         false,
		"":                     false,
		"exec sleep 1":         false,
	} {
		if got := execable(line); got != want {
			t.Errorf("execable(%q) = %v, want %v", line, got, want)
		}
	}
}
