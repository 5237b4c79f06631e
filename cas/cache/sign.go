package cache

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Keys and signatures are spelled as Nix spells those of its binary
// caches, "<name>:<base64>": a secret key holds the 64 bytes of an ed25519
// private key (seed, then public key), a public key its 32 bytes, and a
// signature the 64 bytes of an ed25519 signature. The name says which key
// signed, so that a verifier picks the right public key without trying
// them all, and so that a site can number its keys ("studio-1",
// "studio-2") to replace one that leaked.

// validKeyName says whether name is what a key may be called: no ":" (the separator), and nothing
// that a list of keys in an environment variable (space- or
// comma-separated) or a TOML string would need quoting for.
//
// It is the regexp ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, written out: Go
// compiles {0,127} into 127 copies of the class, which cost every rezup
// start (every launch) 1.5 ms at init.
func validKeyName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

const keyNameRule = `use up to 128 letters, digits, ".", "_" and "-", starting with a letter or digit, such as "studio-1"`

var (
	// ErrBadSigningKey means a string is not a key: "<name>:<base64>".
	ErrBadSigningKey = errors.New("not a rezup signing key")

	// ErrUnsigned means an entry carries no signature at all.
	ErrUnsigned = errors.New("unsigned")
	// ErrUntrustedSigner means an entry is signed, but by no trusted key.
	ErrUntrustedSigner = errors.New("signed by no trusted key")
	// ErrBadSignature means a signature that names a trusted key does not
	// verify: the entry was changed after it was signed, or forged.
	ErrBadSignature = errors.New("bad signature")
)

// PublicKey verifies entries: what a machine trusts.
type PublicKey struct {
	name string
	key  [ed25519.PublicKeySize]byte
}

// SecretKey signs entries: what a publisher keeps to itself.
type SecretKey struct {
	name string
	key  [ed25519.PrivateKeySize]byte
}

// GenerateKey makes a new key pair called name (see ValidKeyName).
func GenerateKey(name string) (SecretKey, PublicKey, error) {
	if err := ValidKeyName(name); err != nil {
		return SecretKey{}, PublicKey{}, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SecretKey{}, PublicKey{}, fmt.Errorf("generate key %s: %w", name, err)
	}
	sk, pk := SecretKey{name: name}, PublicKey{name: name}
	copy(sk.key[:], priv)
	copy(pk.key[:], pub)
	return sk, pk, nil
}

// ValidKeyName returns an error unless name can name a key.
func ValidKeyName(name string) error {
	if !validKeyName(name) {
		return fmt.Errorf("key name %q: %w: %s", name, ErrBadSigningKey, keyNameRule)
	}
	return nil
}

// Name is the key's name.
func (k PublicKey) Name() string { return k.name }

// String returns "<name>:<base64>", what ParsePublicKey reads.
func (k PublicKey) String() string {
	return k.name + ":" + base64.StdEncoding.EncodeToString(k.key[:])
}

// Name is the key's name.
func (k SecretKey) Name() string { return k.name }

// String returns "<name>:<base64>", what ParseSecretKey reads. It is the
// secret itself: write it only to a private file.
func (k SecretKey) String() string {
	return k.name + ":" + base64.StdEncoding.EncodeToString(k.key[:])
}

// Public returns the public half of k.
func (k SecretKey) Public() PublicKey {
	pk := PublicKey{name: k.name}
	copy(pk.key[:], ed25519.PrivateKey(k.key[:]).Public().(ed25519.PublicKey))
	return pk
}

// ParsePublicKey reads "<name>:<base64>" of a 32-byte ed25519 public key.
// A secret key given by mistake is refused without being quoted.
func ParsePublicKey(s string) (PublicKey, error) {
	name, b, err := parseNamed(s, ed25519.PublicKeySize)
	if _, _, serr := parseNamed(s, ed25519.PrivateKeySize); err != nil && serr == nil {
		// Not quoted: the message may end up in a log.
		return PublicKey{}, fmt.Errorf("parse public key %s: %w: it is a secret key, which must stay private; trust its public key instead", name, ErrBadSigningKey)
	}
	if err != nil {
		return PublicKey{}, fmt.Errorf("parse public key %q: %w", short(s), err)
	}
	pk := PublicKey{name: name}
	copy(pk.key[:], b)
	return pk, nil
}

// ParseSecretKey reads "<name>:<base64>" of a 64-byte ed25519 private key,
// whose second half must be the public key of its first (a damaged key
// file is refused rather than signing what nobody can verify). Errors never
// quote s: it is a secret.
func ParseSecretKey(s string) (SecretKey, error) {
	name, b, err := parseNamed(strings.TrimSpace(s), ed25519.PrivateKeySize)
	if err != nil {
		return SecretKey{}, fmt.Errorf("parse secret key: %w", err)
	}
	derived := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
	if subtle.ConstantTimeCompare(derived, b) != 1 {
		return SecretKey{}, fmt.Errorf("parse secret key %s: %w: its two halves do not match", name, ErrBadSigningKey)
	}
	sk := SecretKey{name: name}
	copy(sk.key[:], b)
	return sk, nil
}

func parseNamed(s string, size int) (string, []byte, error) {
	name, enc, ok := strings.Cut(s, ":")
	if !ok {
		return "", nil, fmt.Errorf("%w: want <name>:<base64>", ErrBadSigningKey)
	}
	if err := ValidKeyName(name); err != nil {
		return "", nil, err
	}
	// The decoder skips line breaks; a key is one line.
	b, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil || strings.ContainsAny(enc, "\r\n") {
		return "", nil, fmt.Errorf("%w: the part after %q is not base64", ErrBadSigningKey, name+":")
	}
	if len(b) != size {
		return "", nil, fmt.Errorf("%w: %d bytes after %q, want %d", ErrBadSigningKey, len(b), name+":", size)
	}
	return name, b, nil
}

// short keeps a bad public key readable in a message.
func short(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// statementVersion starts every signed statement. Changing what a
// statement holds, or how it is spelled, needs a new version: signatures
// made under the old one would no longer verify.
const statementVersion = "rezup-entry/1"

// statementVersionFiles starts the statement of an entry that says
// anything of the file-level format (a Format, an index).
const statementVersionFiles = "rezup-entry/2"

// Statement returns the bytes a signature of e covers: what a node relies
// on when it unpacks the archive (which build, which bytes, where it was
// built, with which interpreter), one field a line:
//
//	rezup-entry/1
//	<key>
//	<digest>
//	<size>
//	<prefix>
//	<implementation>
//	<version>
//	<platform>
//
// each line ending in "\n". Files, Bytes, Created and RezupVersion are not
// covered: they are for people and for gc, and the digest fixes the
// contents anyway. A field holding a newline could make two entries read
// as one statement, so it is an error.
//
// An entry with a Format or an index (the file-level format) is stated
// as rezup-entry/2, which covers them too:
//
//	rezup-entry/2
//	<key>
//	<format>
//	<digest>        (the archive's; 64 zeros when there is none)
//	<size>
//	<index>         (the index's digest)
//	<index size>
//	<prefix>
//	<implementation>
//	<version>
//	<platform>
//
// An archive-only entry keeps its rezup-entry/1 statement, so every
// signature made before still verifies.
func Statement(e Entry) ([]byte, error) {
	fields := []string{
		statementVersion,
		e.Key.String(),
		e.Digest.String(),
		strconv.FormatInt(e.Size, 10),
		e.Prefix,
		e.Interpreter.Implementation,
		e.Interpreter.Version,
		e.Interpreter.Platform,
	}
	if e.Format != "" || e.HasIndex() || e.IndexSize != 0 {
		fields = []string{
			statementVersionFiles,
			e.Key.String(),
			e.Format,
			e.Digest.String(),
			strconv.FormatInt(e.Size, 10),
			e.Index.String(),
			strconv.FormatInt(e.IndexSize, 10),
			e.Prefix,
			e.Interpreter.Implementation,
			e.Interpreter.Version,
			e.Interpreter.Platform,
		}
	}
	var b strings.Builder
	for _, f := range fields {
		if strings.ContainsAny(f, "\r\n") {
			return nil, fmt.Errorf("entry %s cannot be signed: %q holds a line break", e.Key, f)
		}
		b.WriteString(f)
		b.WriteByte('\n')
	}
	return []byte(b.String()), nil
}

// Sign returns e with a signature by sk added. A signature of another key
// with the same name is replaced: one key per name signs an entry.
//
// An entry that holds both an index and an archive gets two signatures
// by sk: one of its Statement, and one of the rezup-entry/1 statement of
// its archive alone, which is what a rezup that knows only archives
// verifies. Verify checks only the first kind: the second covers nothing
// of the index.
func Sign(e Entry, sk SecretKey) (Entry, error) {
	msg, err := Statement(e)
	if err != nil {
		return e, err
	}
	e.Signatures = AddSignature(e.Signatures, sk, msg)
	if old, ok := e.ArchiveOnly(); ok && e.HasIndex() {
		msg, err := Statement(old)
		if err != nil {
			return e, err
		}
		e.Signatures = append(e.Signatures, signature(sk, msg))
	}
	return e, nil
}

// AddSignature returns sigs with sk's signature of msg ("<name>:<base64>")
// added, in place of any signature of another key with the same name. It
// signs statements other than entries' (a remote revision's); each names
// what it is on its first line, so that one never verifies as another.
func AddSignature(sigs []string, sk SecretKey, msg []byte) []string {
	sig := signature(sk, msg)
	out := make([]string, 0, len(sigs)+1)
	for _, s := range sigs {
		if name, _, _ := strings.Cut(s, ":"); name != sk.name {
			out = append(out, s)
		}
	}
	return append(out, sig)
}

func signature(sk SecretKey, msg []byte) string {
	return sk.name + ":" + base64.StdEncoding.EncodeToString(ed25519.Sign(ed25519.PrivateKey(sk.key[:]), msg))
}

// Verify returns nil when a key of trusted signed exactly e's Statement.
// Otherwise its error wraps ErrBadSignature (a signature that names a
// trusted key does not verify, or the entry cannot be signed at all),
// ErrUntrustedSigner (every signature names another key) or ErrUnsigned.
// A bad signature wins: it means someone changed or forged the entry.
func Verify(e Entry, trusted []PublicKey) error {
	msg, err := Statement(e)
	if err != nil && len(e.Signatures) > 0 {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return VerifySignatures("entry "+e.Key.String(), msg, e.Signatures, trusted)
}

// VerifySignatures returns nil when one of sigs is a signature of msg by a
// key of trusted; otherwise an error about what (such as "entry <key>")
// wrapping ErrBadSignature, ErrUntrustedSigner or ErrUnsigned, as Verify's.
func VerifySignatures(what string, msg []byte, sigs []string, trusted []PublicKey) error {
	if len(sigs) == 0 {
		return fmt.Errorf("%s is %w", what, ErrUnsigned)
	}
	var others []string
	bad := ""
	for _, s := range sigs {
		name, enc, _ := strings.Cut(s, ":")
		named := false
		for _, pk := range trusted {
			if pk.name != name {
				continue
			}
			named = true
			sig, err := base64.StdEncoding.Strict().DecodeString(enc)
			if err == nil && len(sig) == ed25519.SignatureSize && ed25519.Verify(pk.key[:], msg, sig) {
				return nil
			}
		}
		switch {
		case named:
			bad = name
		case validKeyName(name):
			others = append(others, name)
		default:
			others = append(others, strconv.Quote(short(name)))
		}
	}
	if bad != "" {
		return fmt.Errorf("%s: %w by %s", what, ErrBadSignature, bad)
	}
	return fmt.Errorf("%s is %w: signed by %s", what, ErrUntrustedSigner, strings.Join(others, ", "))
}
