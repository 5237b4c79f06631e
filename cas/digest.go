package cas

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// ErrBadDigest means a string is not a digest: digests are exactly 64
// lowercase hex characters.
var ErrBadDigest = errors.New("not an archive digest (want 64 lowercase hex characters)")

// Digest is the BLAKE3-256 hash of an archive's bytes. It names the archive
// file in the cache and is checked on every Unpack.
type Digest [32]byte

// DigestOf hashes b. Archives are hashed while they stream (Publish,
// Unpack); this is for small inputs and tests.
func DigestOf(b []byte) Digest { return Digest(blake3.Sum256(b)) }

// ParseDigest parses the 64 lowercase hex characters String produces.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if err := parseHex(d[:], s); err != nil {
		return Digest{}, fmt.Errorf("parse digest %q: %w", s, ErrBadDigest)
	}
	return d, nil
}

// String returns the digest as 64 lowercase hex characters.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// MarshalText implements encoding.TextMarshaler.
func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}
