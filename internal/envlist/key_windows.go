//go:build windows

package envlist

import "strings"

// Key is the identity of a variable name: Windows ignores case, so PATH
// and Path are one variable.
func Key(k string) string { return strings.ToUpper(k) }
