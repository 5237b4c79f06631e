package cache

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/rezup/rezup/cas/backend"
)

// Schemes returns a registry with the directory backend: "file", and plain
// paths. The network backends live in packages of their own
// (cas/backend/httpbackend, cas/backend/s3backend): whoever opens caches
// registers them (cmd/rezup registers clients of rezup-net, which serves
// them from another process, with rezup's environment).
func Schemes() *backend.Registry {
	r := backend.NewRegistry()
	r.Register("file", openDir)
	return r
}

// openDir opens a directory backend laid out as the cache's: a path, or a
// file URL naming a local (or mounted) absolute path.
func openDir(location string) (backend.Backend, error) {
	dir := location
	if strings.HasPrefix(strings.ToLower(location), "file:") {
		u, err := url.Parse(location)
		if err != nil {
			return nil, err
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("file URL names host %q: mount it and give a path", u.Host)
		}
		if u.Path == "" || !filepath.IsAbs(filepath.FromSlash(u.Path)) {
			return nil, errors.New("file URL needs an absolute path")
		}
		dir = filepath.FromSlash(u.Path)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return backend.NewDirBackend(dir, backend.DirOptions{ReadOnly: isImmutableName}), nil
}
