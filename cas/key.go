package cas

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// ErrBadKey means a string is not a key: keys are exactly 32 lowercase hex
// characters.
var ErrBadKey = errors.New("not a rezup key (want 32 lowercase hex characters)")

// Key names a build: the first 128 bits of the BLAKE3-256 hash of the
// canonical build-input bytes (package recipe produces those). It is short
// on purpose, because it becomes part of paths and so of shebangs.
type Key [16]byte

// KeyOf hashes canonical build-input bytes into a Key. Changing what it
// returns for the same input is a breaking change: golden tests pin it.
func KeyOf(buildInputs []byte) Key {
	sum := blake3.Sum256(buildInputs)
	var k Key
	copy(k[:], sum[:len(k)])
	return k
}

// ParseKey parses the 32 lowercase hex characters String produces.
func ParseKey(s string) (Key, error) {
	var k Key
	if err := parseHex(k[:], s); err != nil {
		return Key{}, fmt.Errorf("parse key %q: %w", s, ErrBadKey)
	}
	return k, nil
}

// String returns the key as 32 lowercase hex characters.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k is the zero Key, which names no build: it is
// what a JSON field without a key decodes to, and `omitzero` leaves it out.
func (k Key) IsZero() bool { return k == Key{} }

// MarshalText implements encoding.TextMarshaler.
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Key) UnmarshalText(b []byte) error {
	p, err := ParseKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// parseHex decodes exactly 2*len(dst) lowercase hex characters. Uppercase
// is refused so that a key or digest has exactly one spelling, on disk and
// in JSON.
// Decoded here rather than by encoding/hex, which takes a []byte: a
// copy of s for each of the thousands of digests an index holds.
func parseHex(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return errors.New("wrong length")
	}
	for i := range dst {
		hi, ok1 := fromHex(s[2*i])
		lo, ok2 := fromHex(s[2*i+1])
		if !ok1 || !ok2 {
			return errors.New("not lowercase hex")
		}
		dst[i] = hi<<4 | lo
	}
	return nil
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
