//go:build windows

package envlist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

func lookPath(file, path string, environ []string) (string, error) {
	exts := []string{".com", ".exe", ".bat", ".cmd"}
	if pe, _ := Lookup(environ, "PATHEXT"); pe != "" {
		exts = exts[:0]
		for _, e := range strings.Split(strings.ToLower(pe), ";") {
			if e == "" {
				continue
			}
			if e[0] != '.' {
				e = "." + e
			}
			exts = append(exts, e)
		}
	}
	if strings.ContainsAny(file, `:\/`) {
		p, err := findExecutable(file, exts)
		switch {
		case err == nil:
			return p, nil
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("command %q %w", file, ErrNotFound)
		}
		return "", fmt.Errorf("command %q: %w", file, err)
	}
	for _, dir := range filepath.SplitList(path) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if p, err := findExecutable(filepath.Join(dir, file), exts); err == nil {
			return p, nil
		}
	}
	return "", notFound(file)
}

// findExecutable tries p as it is when it already has one of exts, then p
// with each of exts, as cmd.exe does.
func findExecutable(p string, exts []string) (string, error) {
	if ext := strings.ToLower(filepath.Ext(p)); ext != "" {
		for _, e := range exts {
			if e == ext {
				if err := isFile(p); err == nil {
					return p, nil
				}
			}
		}
	}
	for _, e := range exts {
		if err := isFile(p + e); err == nil {
			return p + e, nil
		}
	}
	return "", fs.ErrNotExist
}

func isFile(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return ErrNotExecutable
	}
	return nil
}
