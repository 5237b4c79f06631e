package cas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

var (
	// ErrNotFound means the cache has no usable entry for a key: none was
	// published, or its entry.json is unreadable or names an archive that
	// is not there. Callers build instead.
	ErrNotFound = errors.New("not in the cache")

	// ErrUnsupported means a cache location names a backend this build of
	// rezup does not have (yet). It also matches errors.ErrUnsupported.
	ErrUnsupported = fmt.Errorf("cache backend not supported yet: %w", errors.ErrUnsupported)
)

// Interpreter identifies the base Python a build was made with: what
// relocation must find again on the machine that unpacks it.
type Interpreter struct {
	Implementation string `json:"implementation"` // sys.implementation.name, e.g. "cpython"
	Version        string `json:"version"`        // major.minor.micro, e.g. "3.11.9"
	Platform       string `json:"platform"`       // sysconfig.get_platform(), e.g. "linux-x86_64"
}

// Entry is a published build: the contents of <cache>/<key>/entry.json.
type Entry struct {
	Key          Key         `json:"key"`
	Digest       Digest      `json:"digest"` // BLAKE3-256 of the archive; names the file
	Size         int64       `json:"size"`   // archive bytes (compressed)
	Files        int64       `json:"files"`  // entries of any kind, as PackStats counts them
	Bytes        int64       `json:"bytes"`  // regular-file bytes once unpacked
	Prefix       string      `json:"prefix"` // the absolute path the tree was built at
	Interpreter  Interpreter `json:"interpreter"`
	Created      time.Time   `json:"created"`
	RezupVersion string      `json:"rezup_version"`
}

// Cache is a shared cache of archives, keyed by Key. Implementations are
// safe for concurrent use, by goroutines and by processes on different
// machines, without locks.
type Cache interface {
	// Lookup returns the entry published for key. A miss, including an
	// entry.json that cannot be read or parsed, wraps ErrNotFound and says
	// why.
	Lookup(ctx context.Context, key Key) (Entry, error)

	// Open returns the archive bytes of e, to pass to Unpack with
	// e.Digest.
	Open(ctx context.Context, e Entry) (io.ReadCloser, error)

	// Publish stores the archive that write produces under e.Key and then
	// commits e, with Digest and Size computed from the bytes written, as
	// the key's entry. When write packs with Pack directly onto the writer
	// it is given, Files and Bytes are taken from Pack's stats; otherwise
	// they are recorded as e carries them. A zero e.Created is set to the
	// time of publishing. It returns the entry as committed.
	Publish(ctx context.Context, e Entry, write func(io.Writer) error) (Entry, error)

	// Writable reports whether Publish can be expected to succeed.
	Writable() bool

	// Keys lists the keys the cache holds anything for, committed or not.
	Keys(ctx context.Context) ([]Key, error)

	// Remove deletes everything stored for key: the entry first, so that
	// readers miss before any archive goes.
	Remove(ctx context.Context, key Key) error

	// String names the cache for messages.
	String() string
}

// Open returns the Cache at location: a directory path or a file:// URL.
// http://, https:// and s3:// locations are recognised but not supported
// yet (ErrUnsupported).
func Open(location string) (Cache, error) {
	if location == "" {
		return nil, errors.New("open cache: empty location")
	}
	scheme, _, hasScheme := strings.Cut(location, "://")
	if strings.HasPrefix(strings.ToLower(location), "file:") {
		scheme, hasScheme = "file", true // file:/abs/path is a file URL too
	}
	if !hasScheme || strings.ContainsAny(scheme, `/\`) {
		dir, err := filepath.Abs(location)
		if err != nil {
			return nil, fmt.Errorf("open cache %s: %w", location, err)
		}
		return NewDirCache(dir), nil
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(location)
		if err != nil {
			return nil, fmt.Errorf("open cache %s: %w", location, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("open cache %s: file URL names host %q: mount it and give a path", location, u.Host)
		}
		if u.Path == "" || !filepath.IsAbs(filepath.FromSlash(u.Path)) {
			return nil, fmt.Errorf("open cache %s: file URL needs an absolute path", location)
		}
		return NewDirCache(filepath.FromSlash(u.Path)), nil
	case "http", "https", "s3":
		return nil, fmt.Errorf("open cache %s: %s: %w", location, scheme, ErrUnsupported)
	default:
		return nil, fmt.Errorf("open cache %s: unknown scheme %q: %w", location, scheme, ErrUnsupported)
	}
}
