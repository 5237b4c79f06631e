package cas

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// ErrUnsupported means a cache location names a scheme the registry has
// no backend for. It also matches errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("cache backend not supported: %w", errors.ErrUnsupported)

// Opener opens the backend at a location of its scheme. Each backend
// parses its own locations: the registry only picks the opener.
type Opener func(location string) (Backend, error)

// Registry maps location schemes ("file", "s3") to their backends.
type Registry struct {
	openers map[string]Opener
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{openers: map[string]Opener{}} }

// Register makes open the opener of scheme (lowercase, without "://"). A
// scheme can be registered once: a second registration is a programming
// error and panics.
func (r *Registry) Register(scheme string, open Opener) {
	if scheme == "" || scheme != strings.ToLower(scheme) || r.openers[scheme] != nil {
		panic(fmt.Sprintf("cas: bad or duplicate backend scheme %q", scheme))
	}
	r.openers[scheme] = open
}

// Open opens the backend for location. A location with no scheme is a
// path, opened by the "file" scheme's opener; so is "file:/abs/path".
func (r *Registry) Open(location string) (Backend, error) {
	if location == "" {
		return nil, errors.New("open cache: empty location")
	}
	scheme, _, hasScheme := strings.Cut(location, "://")
	if strings.HasPrefix(strings.ToLower(location), "file:") {
		scheme, hasScheme = "file", true
	}
	if !hasScheme || strings.ContainsAny(scheme, `/\`) {
		scheme = "file"
	}
	open := r.openers[strings.ToLower(scheme)]
	if open == nil {
		return nil, fmt.Errorf("open cache %s: unknown scheme %q: %w", location, scheme, ErrUnsupported)
	}
	b, err := open(location)
	if err != nil {
		return nil, fmt.Errorf("open cache %s: %w", location, err)
	}
	return b, nil
}

// Schemes returns a registry with the directory backend: "file", and plain
// paths. The network backends live in packages of their own
// (cas/httpbackend, cas/s3backend), which import cas: whoever opens caches
// registers them (cmd/rezup does, with its environment).
func Schemes() *Registry {
	r := NewRegistry()
	r.Register("file", openDir)
	return r
}

// openDir opens a directory backend laid out as the cache's: a path, or a
// file URL naming a local (or mounted) absolute path.
func openDir(location string) (Backend, error) {
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
	return NewDirBackend(dir, DirOptions{ReadOnly: isArchiveName}), nil
}
