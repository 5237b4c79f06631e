//go:build !linux

package launch

// parentShell needs /proc; elsewhere the shell comes from the environment.
func parentShell([]string) (string, bool) { return "", false }
