//go:build unix

package launch

// envKey is the identity of an environment variable name: exact on Unix.
func envKey(k string) string { return k }
