//go:build unix

package envlist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func lookPath(file, path string, _ []string) (string, error) {
	if strings.Contains(file, "/") {
		err := executable(file)
		switch {
		case err == nil:
			return file, nil
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("command %q %w", file, ErrNotFound)
		case errors.Is(err, ErrNotExecutable):
			return "", fmt.Errorf("command %q %w", file, ErrNotExecutable)
		}
		return "", fmt.Errorf("command %q: %w", file, err)
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, file)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", notFound(file)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return ErrNotExecutable
	}
	return nil
}
