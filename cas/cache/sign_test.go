package cache

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/internal/treetest"
	"github.com/rezup/rezup/internal/fsx"
)

// seededKey is a fixed key pair, so that golden bytes stay golden.
func seededKey(t testing.TB, name string, fill byte) SecretKey {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = fill + byte(i)
	}
	sk, err := ParseSecretKey(name + ":" + encodeB64(ed25519.NewKeyFromSeed(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

func encodeB64(b []byte) string {
	s, _ := json.Marshal(b) // encoding/json spells []byte as standard base64
	return strings.Trim(string(s), `"`)
}

func goldenEntry() Entry {
	e := testEntry(cas.KeyOf([]byte("golden")))
	e.Digest = cas.DigestOf([]byte("archive"))
	e.Size = 12345
	return e
}

// The key format is Nix's: the key pair of the NixOS wiki's "Signing store
// paths" page, written by `nix key generate-secret`, reads as that page's
// public key says.
func TestKeysReadAsNixWritesThem(t *testing.T) {
	sk, err := ParseSecretKey("cache.example.org-1:MKk58wILGij4+VKU5xXESsU+MnslTUKfCjX/9OEXq6c6lhrq8lbOw9UpHeAC46rkpXf7/jJ0KmhnjIXcpVrT0Q==\n")
	if err != nil {
		t.Fatal(err)
	}
	const wantPub = "cache.example.org-1:OpYa6vJWzsPVKR3gAuOq5KV3+/4ydCpoZ4yF3KVa09E="
	if got := sk.Public().String(); got != wantPub {
		t.Fatalf("public key %s, want %s", got, wantPub)
	}
	pk, err := ParsePublicKey(wantPub)
	if err != nil || pk != sk.Public() || pk.Name() != "cache.example.org-1" {
		t.Fatalf("ParsePublicKey = %v, %v", pk, err)
	}
}

// Changing the statement or the signature's spelling makes every signed
// entry in every cache a miss: these bytes are golden.
func TestStatementAndSignatureGolden(t *testing.T) {
	sk := seededKey(t, "studio-1", 0)
	if got, want := sk.String(), "studio-1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8DoQe/884Qvh1w3RjnS8CZZ+TWMJulDV8d3IZkElUxuA=="; got != want {
		t.Errorf("secret key %s, want %s", got, want)
	}
	if got, want := sk.Public().String(), "studio-1:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="; got != want {
		t.Errorf("public key %s, want %s", got, want)
	}
	e := goldenEntry()
	st, err := Statement(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = "rezup-entry/1\n" +
		"68ca9baf17c67ef7b4560a4455bacf8d\n" +
		"1ff28929422717d74e648482a67b31b423e83858609e2ae1aef3ab9f77066c5b\n" +
		"12345\n" +
		"/home/td/.rezup/.store/68ca9baf17c67ef7b4560a4455bacf8d\n" +
		"cpython\n3.11.9\nlinux-x86_64\n"
	if string(st) != want {
		t.Errorf("statement\n%q\nwant\n%q", st, want)
	}
	signed, err := Sign(e, sk)
	if err != nil {
		t.Fatal(err)
	}
	wantSigs := []string{"studio-1:VGl68u/Qi3+LmQOSD/7EhxFmZsWIfZ6o3IJ0Uw/BnjNI6BIKtQN/MsCr8dunGR97z759oV3H3fmvsgaijRyWDA=="}
	if !reflect.DeepEqual(signed.Signatures, wantSigs) {
		t.Errorf("signatures %q, want %q", signed.Signatures, wantSigs)
	}
	if e.Signatures != nil {
		t.Errorf("Sign changed its argument: %q", e.Signatures)
	}
}

func TestParseKeys(t *testing.T) {
	good := seededKey(t, "studio-1", 0)
	pub := good.Public().String()
	_, b64, _ := strings.Cut(pub, ":")
	_, secret64, _ := strings.Cut(good.String(), ":")
	damaged := []byte(good.String())
	damaged[len(damaged)-4] ^= 1 // flips a bit of the public half
	tests := []struct {
		in, why string
		secret  bool
	}{
		{in: "", why: "want <name>:<base64>"},
		{in: b64, why: "want <name>:<base64>"},
		{in: ":" + b64, why: `key name ""`},
		{in: "-x:" + b64, why: "starting with a letter or digit"},
		{in: "stu dio:" + b64, why: "letters, digits"},
		{in: "a,b:" + b64, why: "letters, digits"},
		{in: strings.Repeat("a", 129) + ":" + b64, why: "up to 128"},
		{in: "studio-1:" + b64[:len(b64)-1], why: "not base64"},
		{in: "studio-1:" + strings.TrimRight(b64, "="), why: "not base64"},
		{in: "studio-1:" + secret64, why: "it is a secret key"},
		{in: "studio-1:" + b64 + "\n", why: "not base64"},
		{in: "studio-1:" + b64[:8] + "\n" + b64[8:], why: "not base64"},
		{in: pub, why: "32 bytes", secret: true},
		{in: string(damaged), why: "two halves do not match", secret: true},
		{in: "studio 1:" + secret64, why: "letters, digits", secret: true},
	}
	for _, tt := range tests {
		var err error
		if tt.secret {
			_, err = ParseSecretKey(tt.in)
		} else {
			_, err = ParsePublicKey(tt.in)
		}
		if err != nil && strings.Contains(err.Error(), secret64[:20]) {
			t.Errorf("parse %q: the error quotes the secret: %v", short(tt.in), err)
		}
		if !errors.Is(err, ErrBadSigningKey) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("parse %q: %v, want an error saying %q", short(tt.in), err, tt.why)
		}
	}
	for _, s := range []string{pub, "a:" + b64, "cache.example.org_2-1:" + b64} {
		pk, err := ParsePublicKey(s)
		if err != nil || pk.String() != s {
			t.Errorf("ParsePublicKey(%q) = %v, %v", s, pk, err)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	sk, pk, err := GenerateKey("node-7")
	if err != nil {
		t.Fatal(err)
	}
	if sk.Public() != pk || pk.Name() != "node-7" {
		t.Fatalf("pair %v / %v", sk.Public(), pk)
	}
	back, err := ParseSecretKey(sk.String())
	if err != nil || back != sk {
		t.Fatalf("round trip: %v", err)
	}
	other, _, err := GenerateKey("node-7")
	if err != nil || other == sk {
		t.Fatalf("two keys generated alike (%v)", err)
	}
	if _, _, err := GenerateKey("node 7"); !errors.Is(err, ErrBadSigningKey) {
		t.Fatalf("GenerateKey(%q): %v", "node 7", err)
	}
}

func TestVerify(t *testing.T) {
	admin := seededKey(t, "studio-1", 0)
	node := seededKey(t, "node-3", 100)
	impostor := seededKey(t, "studio-1", 200) // another key under the admin's name
	sign := func(e Entry, keys ...SecretKey) Entry {
		for _, k := range keys {
			var err error
			if e, err = Sign(e, k); err != nil {
				t.Fatal(err)
			}
		}
		return e
	}
	change := func(f func(*Entry)) Entry {
		e := sign(goldenEntry(), admin)
		f(&e)
		return e
	}
	trusted := []PublicKey{node.Public(), admin.Public()}
	tests := []struct {
		name    string
		e       Entry
		trusted []PublicKey
		want    error // nil: verifies
		why     string
	}{
		{"signed by a trusted key", sign(goldenEntry(), admin), trusted, nil, ""},
		{"one of two signatures trusted", sign(goldenEntry(), node, admin), []PublicKey{admin.Public()}, nil, ""},
		{"created and version are not covered", change(func(e *Entry) { e.Created = treetest.At(3); e.RezupVersion = "9"; e.Files = 7 }), trusted, nil, ""},
		{"unsigned", goldenEntry(), trusted, ErrUnsigned, "unsigned"},
		{"signed by another key", sign(goldenEntry(), node), []PublicKey{admin.Public()}, ErrUntrustedSigner, "signed by node-3"},
		{"no trusted key at all", sign(goldenEntry(), admin), nil, ErrUntrustedSigner, "studio-1"},
		{"another key under a trusted name", sign(goldenEntry(), impostor), trusted, ErrBadSignature, "bad signature by studio-1"},
		{"digest changed", change(func(e *Entry) { e.Digest = cas.DigestOf([]byte("trojan")) }), trusted, ErrBadSignature, "studio-1"},
		{"size changed", change(func(e *Entry) { e.Size++ }), trusted, ErrBadSignature, ""},
		{"key changed", change(func(e *Entry) { e.Key = cas.KeyOf([]byte("other")) }), trusted, ErrBadSignature, ""},
		{"prefix changed", change(func(e *Entry) { e.Prefix += "x" }), trusted, ErrBadSignature, ""},
		{"implementation changed", change(func(e *Entry) { e.Interpreter.Implementation = "pypy" }), trusted, ErrBadSignature, ""},
		{"version changed", change(func(e *Entry) { e.Interpreter.Version = "3.11.8" }), trusted, ErrBadSignature, ""},
		{"platform changed", change(func(e *Entry) { e.Interpreter.Platform = "linux-aarch64" }), trusted, ErrBadSignature, ""},
		{"a line break moves fields", change(func(e *Entry) {
			e.Prefix, e.Interpreter.Implementation = e.Prefix+"\ncpython", "3.11.9\nlinux-x86_64"
			e.Interpreter.Version, e.Interpreter.Platform = "", ""
		}), trusted, ErrBadSignature, "line break"},
		{"signature not base64", change(func(e *Entry) { e.Signatures = []string{"studio-1:%%%"} }), trusted, ErrBadSignature, ""},
		{"signature truncated", change(func(e *Entry) { e.Signatures[0] = e.Signatures[0][:40] }), trusted, ErrBadSignature, ""},
		{"signature without a colon", change(func(e *Entry) { e.Signatures = []string{"garbage"} }), trusted, ErrUntrustedSigner, "signed by garbage"},
		{"signature of a name no key can have", change(func(e *Entry) { e.Signatures = []string{"bad name:AAAA"} }), trusted, ErrUntrustedSigner, `"bad name"`},
		{"bad signature wins over untrusted", change(func(e *Entry) {
			e.Signatures = append([]string{"studio-1:AAAA"}, sign(goldenEntry(), node).Signatures...)
		}), trusted[1:], ErrBadSignature, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.e, tt.trusted)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.why) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("Verify = %v, want %v saying %q", err, tt.want, tt.why)
			}
		})
	}
}

func TestSignReplacesItsOwnName(t *testing.T) {
	admin, node, impostor := seededKey(t, "studio-1", 0), seededKey(t, "node-3", 100), seededKey(t, "studio-1", 200)
	e, _ := Sign(goldenEntry(), impostor)
	e, _ = Sign(e, node)
	e, _ = Sign(e, admin)
	e, _ = Sign(e, admin)
	if len(e.Signatures) != 2 || !strings.HasPrefix(e.Signatures[0], "node-3:") {
		t.Fatalf("signatures %q, want node-3's then one of studio-1", e.Signatures)
	}
	if err := Verify(e, []PublicKey{admin.Public()}); err != nil {
		t.Fatal(err)
	}
	bad := goldenEntry()
	bad.Prefix = "/a\n/b"
	if _, err := Sign(bad, admin); err == nil || !strings.Contains(err.Error(), "line break") {
		t.Fatalf("Sign of a prefix with a newline: %v", err)
	}
}

// An entry.json written before signatures parses, and an unsigned entry
// is written without the field.
func TestEntryJSONSignatures(t *testing.T) {
	old := `{"key":"68ca9baf17c67ef7b4560a4455bacf8d","digest":"1ff28929422717d74e648482a67b31b423e83858609e2ae1aef3ab9f77066c5b","size":12345,"files":1,"bytes":1,"prefix":"/p","interpreter":{"implementation":"cpython","version":"3.11.9","platform":"linux-x86_64"},"created":"2025-11-25T10:00:00Z","rezup_version":"0.1.0"}`
	var e Entry
	if err := json.Unmarshal([]byte(old), &e); err != nil || e.Signatures != nil || e.Size != 12345 {
		t.Fatalf("old entry: %+v, %v", e, err)
	}
	b, _ := json.Marshal(e)
	if strings.Contains(string(b), "signatures") {
		t.Errorf("unsigned entry written with signatures: %s", b)
	}
	signed, _ := Sign(e, seededKey(t, "studio-1", 0))
	b, _ = json.Marshal(signed)
	var back Entry
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, signed) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestTrustedLookup(t *testing.T) {
	ctx := context.Background()
	admin, node := seededKey(t, "studio-1", 0), seededKey(t, "node-3", 100)
	key := cas.KeyOf([]byte("trusted lookup"))
	publish := func(t *testing.T, c *Cache) Entry {
		e, err := c.Publish(ctx, testEntry(key), archiveOf(t, []byte("archive of "+c.String()), 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tests := []struct {
		name    string
		publish func(c *Cache) *Cache // the publisher's configuration
		edit    func(e *Entry)        // a writer of the cache changes entry.json
		trusted []PublicKey
		hit     bool
		why     string
	}{
		{"unsigned, no trusted keys: today's behaviour", nil, nil, nil, true, ""},
		{"signed, no trusted keys", func(c *Cache) *Cache { return c.WithSigner(node) }, nil, nil, true, ""},
		{"unsigned is a miss", nil, nil, []PublicKey{admin.Public()}, false, "unsigned"},
		{"another key is a miss", func(c *Cache) *Cache { return c.WithSigner(node) }, nil, []PublicKey{admin.Public()}, false, "signed by node-3"},
		{"a trusted key is a hit", func(c *Cache) *Cache { return c.WithSigner(admin) }, nil, []PublicKey{node.Public(), admin.Public()}, true, ""},
		{"a changed prefix is a miss", func(c *Cache) *Cache { return c.WithSigner(admin) }, func(e *Entry) { e.Prefix = "/elsewhere" }, []PublicKey{admin.Public()}, false, "bad signature"},
		{"another archive is a miss", func(c *Cache) *Cache { return c.WithSigner(admin) }, func(e *Entry) {
			e.Digest = cas.DigestOf([]byte("trojan"))
		}, []PublicKey{admin.Public()}, false, "bad signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := newTestCache(t)
			pub := base
			if tt.publish != nil {
				pub = tt.publish(base)
			}
			e := publish(t, pub)
			if tt.edit != nil {
				tt.edit(&e)
				// The trojan's archive is there too: only the signature
				// tells the entries apart. (When the digest is unchanged,
				// the write fails on the read-only archive, which is fine.)
				_ = os.WriteFile(filepath.Join(base.String(), key.String(), e.Digest.String()+".tar.zst"), make([]byte, e.Size), 0o444)
				b, _ := json.Marshal(e)
				if err := fsx.WriteFile(filepath.Join(base.String(), key.String(), "entry.json"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			reader := base.WithTrustedKeys(tt.trusted...)
			got, err := reader.Lookup(ctx, key)
			if tt.hit {
				if err != nil || !reflect.DeepEqual(got, e) {
					t.Fatalf("Lookup = %+v, %v; want %+v", got, err, e)
				}
				return
			}
			var miss *MissError
			if !errors.As(err, &miss) || miss.Reason != MissUntrusted || !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("Lookup = %+v, %v; want a miss %q saying %q", got, err, MissUntrusted, tt.why)
			}
			if string(miss.Reason) != "not signed by a trusted key" {
				t.Errorf("reason %q", miss.Reason)
			}
		})
	}
}

// With trusted keys, a publisher replaces an untrusted entry only with one
// that verifies; without, an existing valid entry stays as it always did.
func TestPublishOverUntrustedEntry(t *testing.T) {
	ctx := context.Background()
	admin, node := seededKey(t, "studio-1", 0), seededKey(t, "node-3", 100)
	key := cas.KeyOf([]byte("planted"))
	trust := []PublicKey{admin.Public()}
	tests := []struct {
		name      string
		publisher func(c *Cache) *Cache
		replaced  bool
		why       string
	}{
		{"no trusted keys: the planted entry stays", func(c *Cache) *Cache { return c.WithSigner(admin) }, false, ""},
		{"a trusted signer replaces it", func(c *Cache) *Cache { return c.WithTrustedKeys(trust...).WithSigner(admin) }, true, ""},
		{"an untrusted signer may not", func(c *Cache) *Cache { return c.WithTrustedKeys(trust...).WithSigner(node) }, false, "sign with a trusted key"},
		{"nor may an unsigned publisher", func(c *Cache) *Cache { return c.WithTrustedKeys(trust...) }, false, "sign with a trusted key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCache(t)
			planted, err := c.Publish(ctx, testEntry(key), archiveOf(t, []byte("trojan"), 1, 1))
			if err != nil {
				t.Fatal(err)
			}
			a := archiveOf(t, []byte("genuine build"), 2, 2)
			got, err := tt.publisher(c).Publish(ctx, testEntry(key), a)
			if tt.why != "" {
				if !errors.Is(err, ErrUntrustedSigner) || !strings.Contains(err.Error(), tt.why) {
					t.Fatalf("Publish = %v, want an error saying %q", err, tt.why)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			// The publisher's archive is stored either way, under its
			// own digest: a revision can pin it.
			if fi, err := os.Stat(filepath.Join(c.String(), key.String(), a.Digest.String()+".tar.zst")); err != nil || fi.Size() != a.Size {
				t.Errorf("the publisher's archive: %v", err)
			}
			committed, err := c.Lookup(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]cas.Digest{false: planted.Digest, true: a.Digest}[tt.replaced]; committed.Digest != want {
				t.Fatalf("committed digest %s, want %s", committed.Digest, want)
			}
			if tt.replaced && (Verify(committed, trust) != nil || !reflect.DeepEqual(got, committed)) {
				t.Fatalf("Publish returned %+v, the cache holds %+v", got, committed)
			}
		})
	}
}

func TestWithOptionsLeaveTheOriginal(t *testing.T) {
	c := newTestCache(t)
	admin := seededKey(t, "studio-1", 0)
	signed := c.WithSigner(admin).WithTrustedKeys(admin.Public())
	if len(c.TrustedKeys()) != 0 || c.signer != nil {
		t.Fatal("WithSigner or WithTrustedKeys changed the cache it was called on")
	}
	if got := signed.TrustedKeys(); len(got) != 1 || got[0] != admin.Public() || signed.String() != c.String() {
		t.Fatalf("trusted keys %v", got)
	}
	e, err := signed.Publish(context.Background(), testEntry(cas.KeyOf(nil)), archiveOf(t, []byte("x"), 1, 1))
	if err != nil || len(e.Signatures) != 1 {
		t.Fatalf("signed publish: %+v, %v", e, err)
	}
	e.Key, e.Signatures = cas.KeyOf([]byte("second")), []string{"stale:AAAA"}
	if e, err = signed.Publish(context.Background(), e, archiveOf(t, []byte("y"), 1, 1)); err != nil || len(e.Signatures) != 1 || !strings.HasPrefix(e.Signatures[0], "studio-1:") {
		t.Fatalf("Publish kept a stale signature: %q, %v", e.Signatures, err)
	}
}

func TestValidKeyName(t *testing.T) {
	for name, want := range map[string]bool{
		"studio-1": true, "a": true, "A.b_c-9": true, strings.Repeat("k", 128): true,
		"": false, "-a": false, ".a": false, "_a": false, "a:b": false, "a b": false, "a,b": false,
		"é": false, strings.Repeat("k", 129): false, "a/b": false,
	} {
		if got := validKeyName(name); got != want {
			t.Errorf("validKeyName(%q) = %v, want %v", name, got, want)
		}
	}
}
