//go:build windows

package launch

import "fmt"

// fallbackShell ignores $SHELL: on Windows it is set by MSYS or Cygwin
// shells, as a path only they understand.
func fallbackShell(environ []string) (string, error) {
	if s, _ := lookupEnv(environ, "COMSPEC"); s != "" {
		p, err := LookPath(s, environ)
		if err != nil {
			return "", fmt.Errorf("COMSPEC: %w", err)
		}
		return p, nil
	}
	return LookPath("cmd.exe", environ)
}
