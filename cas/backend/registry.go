package backend

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rezup/rezup/internal/fsx"
)

// ErrUnsupported means a cache location names a scheme the registry has
// no backend for. It also matches errors.ErrUnsupported.
var ErrUnsupported = fsx.Sentinel("cache backend not supported", errors.ErrUnsupported)

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

// StackOptions configure Stack. The zero value is the defaults.
type StackOptions struct {
	// Transfers is how many transfers run at once (< 1:
	// DefaultTransfers).
	Transfers int
	// IdleTimeout is how long a read may go without a byte (<= 0:
	// DefaultIdleTimeout).
	IdleTimeout time.Duration
	// Retry says how transient errors are retried.
	Retry RetryOptions
}

// Stack wraps b, from the outside in, as
//
//	Retry(LimitTransfers(IdleTimeout(b)))
//
// IdleTimeout is innermost so that every try, and every resumed read, is
// bounded on its own, and a stall is an error Retry sees. LimitTransfers
// is inside Retry, not around it, so that each try holds a transfer slot
// only while it transfers: a download waiting to resume, or a Put waiting
// to be tried again, gives its slot to another transfer instead of
// holding it through the backoff (a resumed download may then wait its
// turn for a slot, as a new one would).
func Stack(b Backend, o StackOptions) Backend {
	if o.Transfers < 1 {
		o.Transfers = DefaultTransfers
	}
	return Retry(LimitTransfers(IdleTimeout(b, o.IdleTimeout), o.Transfers), o.Retry)
}
