// Package envlist reads environment lists ("KEY=VALUE" strings, as
// os.Environ returns them) the way the operating system does: the last
// entry of a name wins, and on Windows names ignore case, so PATH and
// Path are one variable.
//
// It is the one place rezup looks a variable up in a list, and a command
// up in a list's PATH (LookPath): cmd/rezup reads its own environment
// through it, and the packages below look up what their callers passed
// them. It never reads the process environment.
package envlist

import "strings"

// Split splits "KEY=VALUE". The search for '=' starts at 1 because
// Windows keeps per-drive directories in entries such as "=C:=C:\dir".
func Split(kv string) (key, value string, ok bool) {
	if len(kv) == 0 {
		return "", "", false
	}
	i := strings.IndexByte(kv[1:], '=')
	if i < 0 {
		return "", "", false
	}
	return kv[:i+1], kv[i+2:], true
}

// Lookup finds key in env; the last entry wins, as in getenv.
func Lookup(env []string, key string) (string, bool) {
	want := Key(key)
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := Split(env[i]); ok && Key(k) == want {
			return v, true
		}
	}
	return "", false
}

// Get is Lookup without the second result: "" when key is not set.
func Get(env []string, key string) string {
	v, _ := Lookup(env, key)
	return v
}
