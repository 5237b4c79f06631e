//go:build !windows

package envlist

// Key is the identity of a variable name: exact outside Windows.
func Key(k string) string { return k }
