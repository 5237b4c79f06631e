//go:build windows

package launch

import "strings"

// envKey is the identity of an environment variable name: Windows ignores
// case, so PATH and Path are one variable.
func envKey(k string) string { return strings.ToUpper(k) }
