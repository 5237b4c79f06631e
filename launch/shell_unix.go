//go:build unix

package launch

import (
	"fmt"

	"github.com/rezup/rezup/internal/envlist"
)

func fallbackShell(environ []string) (string, error) {
	if s, _ := envlist.Lookup(environ, "SHELL"); s != "" {
		p, err := envlist.LookPath(s, environ)
		if err != nil {
			return "", fmt.Errorf("SHELL: %w", err)
		}
		return p, nil
	}
	return "/bin/sh", nil
}
