//go:build windows

package launch

import (
	"fmt"

	"github.com/rezup/rezup/internal/envlist"
)

// fallbackShell ignores $SHELL: on Windows it is set by MSYS or Cygwin
// shells, as a path only they understand.
func fallbackShell(environ []string) (string, error) {
	if s, _ := envlist.Lookup(environ, "COMSPEC"); s != "" {
		p, err := envlist.LookPath(s, environ)
		if err != nil {
			return "", fmt.Errorf("COMSPEC: %w", err)
		}
		return p, nil
	}
	return envlist.LookPath("cmd.exe", environ)
}
