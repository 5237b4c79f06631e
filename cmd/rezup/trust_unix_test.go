//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/recipe"
)

// writeKey writes a new secret key file with mode perm and returns it.
func writeKey(t *testing.T, path, name string, perm os.FileMode) cache.SecretKey {
	t.Helper()
	sk, _, err := cache.GenerateKey(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(sk.String()+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return sk
}

func parseRecipe(t *testing.T, file, src string) *recipe.Recipe {
	t.Helper()
	r, _, err := recipe.Parse(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolveTrust(t *testing.T) {
	home := t.TempDir()
	envKey := writeKey(t, filepath.Join(home, "env.key"), "node-1", 0o600)
	recipeKey := writeKey(t, filepath.Join(home, "recipe.key"), "studio-1", 0o600)
	_, pubA, _ := cache.GenerateKey("studio-1")
	_, pubB, _ := cache.GenerateKey("studio-2")
	withKeys := parseRecipe(t, filepath.Join(home, "rezup.toml"), fmt.Sprintf("[cache]\ntrusted-keys = [%q]\nsecret-key-file = \"recipe.key\"\n", pubA))
	homeRelative := parseRecipe(t, filepath.Join(home, "rezup.toml"), "[cache]\nsecret-key-file = \"~/recipe.key\"\n")
	tests := []struct {
		name    string
		env     []string
		r       *recipe.Recipe
		trusted []cache.PublicKey
		signer  *cache.SecretKey
	}{
		{"nothing configured", nil, recipe.Default(), nil, nil},
		{"no recipe", nil, nil, nil, nil},
		{"from the recipe, relative to its folder", nil, withKeys, []cache.PublicKey{pubA}, &recipeKey},
		{"~ in the recipe", nil, homeRelative, nil, &recipeKey},
		{"the environment wins", []string{"REZUP_TRUSTED_KEYS=" + pubB.String(), "REZUP_SECRET_KEY_FILE=" + filepath.Join(home, "env.key")}, withKeys, []cache.PublicKey{pubB}, &envKey},
		{"spaces and commas", []string{"REZUP_TRUSTED_KEYS= " + pubA.String() + ", " + pubB.String() + "\t,"}, nil, []cache.PublicKey{pubA, pubB}, nil},
		{"an empty variable is unset", []string{"REZUP_TRUSTED_KEYS= ", "REZUP_SECRET_KEY_FILE="}, withKeys, []cache.PublicKey{pubA}, &recipeKey},
		{"~ in the environment", []string{"REZUP_SECRET_KEY_FILE=~/env.key"}, nil, nil, &envKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApp(append([]string{"HOME=" + home}, tt.env...), &bytes.Buffer{}, &bytes.Buffer{})
			trusted, signer, err := a.resolveTrust(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(trusted) != fmt.Sprint(tt.trusted) {
				t.Errorf("trusted %v, want %v", trusted, tt.trusted)
			}
			if (signer == nil) != (tt.signer == nil) || signer != nil && *signer != *tt.signer {
				t.Errorf("signer %v, want %v", signer, tt.signer)
			}
		})
	}
}

func TestResolveTrustErrors(t *testing.T) {
	home := t.TempDir()
	good := filepath.Join(home, "good.key")
	writeKey(t, good, "studio-1", 0o600)
	open := filepath.Join(home, "open.key")
	writeKey(t, open, "studio-1", 0o640)
	pub := filepath.Join(home, "pub.key")
	_, pk, _ := cache.GenerateKey("studio-1")
	os.WriteFile(pub, []byte(pk.String()+"\n"), 0o600)
	big := filepath.Join(home, "big.key")
	os.WriteFile(big, bytes.Repeat([]byte("a"), 5000), 0o600)
	fifo := filepath.Join(home, "fifo.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := parseRecipe(t, filepath.Join(home, "rezup.dev.toml"), "[cache]\nsecret-key-file = \"missing.key\"\n")
	tests := []struct {
		name string
		env  []string
		r    *recipe.Recipe
		why  string
		hint string
	}{
		{"not a key", []string{"REZUP_TRUSTED_KEYS=" + pk.String() + " studio-2"}, nil, `REZUP_TRUSTED_KEYS: parse public key "studio-2"`, "separated by spaces or commas"},
		{"only a comma", []string{"REZUP_TRUSTED_KEYS=,"}, nil, "REZUP_TRUSTED_KEYS lists no key", "unset it to trust no key"},
		{"separators", []string{"REZUP_TRUSTED_KEYS= , ,\t"}, nil, "REZUP_TRUSTED_KEYS lists no key", "unset it to trust no key"},
		{"a secret key as trusted", []string{"REZUP_TRUSTED_KEYS=" + strings.TrimSpace(mustRead(t, good))}, nil, "REZUP_TRUSTED_KEYS: parse public key", "rezup key generate"},
		{"missing file in the recipe", nil, rec, filepath.Join(home, "rezup.dev.toml") + ": [cache] secret-key-file: read secret key: stat " + filepath.Join(home, "missing.key"), "unset it to publish unsigned"},
		{"missing file in the environment", []string{"REZUP_SECRET_KEY_FILE=/no/such.key"}, nil, "REZUP_SECRET_KEY_FILE: read secret key: stat /no/such.key", "rezup key generate"},
		{"readable by others", []string{"REZUP_SECRET_KEY_FILE=" + open}, nil, "open to other accounts (mode 0640)", "chmod 600 " + open},
		{"a public key", []string{"REZUP_SECRET_KEY_FILE=" + pub}, nil, "32 bytes", "rezup key generate"},
		{"too big", []string{"REZUP_SECRET_KEY_FILE=" + big}, nil, "over 4096 bytes", ""},
		{"a fifo", []string{"REZUP_SECRET_KEY_FILE=" + fifo}, nil, "not a regular file", ""},
		{"a directory", []string{"REZUP_SECRET_KEY_FILE=" + home}, nil, "not a regular file", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApp(append([]string{"HOME=" + home}, tt.env...), &bytes.Buffer{}, &bytes.Buffer{})
			trusted, sk, err := a.resolveTrust(tt.r)
			if err == nil || !strings.Contains(err.Error(), tt.why) || !strings.Contains(hintFor(err), tt.hint) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("resolveTrust = %v, %v, %v (hint %q); want an error saying %q", trusted, sk, err, hintFor(err), tt.why)
			}
			if strings.HasPrefix(tt.why, "REZUP_TRUSTED_KEYS") && exitCode(err) != 2 {
				t.Errorf("exit code %d for a bad REZUP_TRUSTED_KEYS, want 2", exitCode(err))
			}
			if secret := strings.TrimSpace(mustRead(t, good)); strings.Contains(err.Error(), secret[strings.Index(secret, ":")+1:][:16]) {
				t.Errorf("the error quotes the secret key: %v", err)
			}
		})
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// recipe checks [cache] trusted-keys itself (it imports nothing of
// rezup's), so that a bad key names its line; it must accept exactly what
// cas.ParsePublicKey reads.
func TestRecipeAndCasAgreeOnPublicKeys(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	b64 := base64.StdEncoding.EncodeToString(pub)
	secret := base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	for _, s := range []string{
		"studio-1:" + b64, "a:" + b64, "A.b_c-9:" + b64, strings.Repeat("n", 128) + ":" + b64,
		strings.Repeat("n", 129) + ":" + b64, ":" + b64, "-a:" + b64, ".a:" + b64, "a b:" + b64, "a,b:" + b64, "é:" + b64,
		b64, "studio-1:", "studio-1:" + b64[:len(b64)-1], "studio-1:" + strings.TrimRight(b64, "="),
		"studio-1:" + b64[:10] + "\n" + b64[10:], "studio-1:" + b64 + " ", "studio-1:" + secret, "studio-1:" + b64 + ":x",
		"studio-1:AAAA", "studio-1:" + strings.ReplaceAll(b64, "+", "-"),
	} {
		_, casErr := cache.ParsePublicKey(s)
		_, _, recipeErr := recipe.Parse("rezup.toml", []byte("[cache]\ntrusted-keys = ["+strconv.Quote(s)+"]\n"))
		if (casErr == nil) != (recipeErr == nil) {
			t.Errorf("%q: cas says %v, recipe says %v", s, casErr, recipeErr)
		}
	}
}

// A home recipe that cannot be read at all names no trusted keys: the
// cache is then used for pinned archives only, never by key, unless
// REZUP_TRUSTED_KEYS says which keys to trust.
func TestUnreadableRecipeUsesPinsOnly(t *testing.T) {
	home := t.TempDir()
	writeTestFile(t, filepath.Join(home, "rezup.toml"), "[cache]\ntrusted-keys = [\n") // not TOML
	_, pk, err := cache.GenerateKey("studio-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		want cache.MissReason
	}{
		{"no keys anywhere", nil, cache.MissUntrusted},
		{"keys in the environment", []string{"REZUP_TRUSTED_KEYS=" + pk.String()}, cache.MissNoEntry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			a := newApp(append([]string{"HOME=" + home, "REZUP_CACHE=" + t.TempDir()}, tc.env...), &bytes.Buffer{}, &stderr)
			c, err := a.openContainer(recipe.DefaultContainer)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := a.cache(c)
			if err != nil {
				t.Fatal(err)
			}
			var miss *cache.MissError
			if _, err := sc.Lookup(context.Background(), cas.KeyOf([]byte("x"))); !errors.As(err, &miss) || miss.Reason != tc.want {
				t.Errorf("lookup: %v, want a miss for %q", err, tc.want)
			}
			if !strings.Contains(stderr.String(), "the shared cache only for pinned archives") {
				t.Errorf("no warning about the unreadable recipe:\n%s", stderr.String())
			}
		})
	}
}

// The unauthenticated-cache warning is said where a person decides
// (status, add --remote) every time, and on pull at most once a day per
// user: farm boot scripts pull on every node.
func TestUnauthenticatedWarningOnceADayOnPull(t *testing.T) {
	home := t.TempDir()
	env := []string{"HOME=" + home, "REZUP_CACHE=" + t.TempDir(), "XDG_CACHE_HOME=" + filepath.Join(home, ".cache")}
	warnings := func(daily bool) int {
		var stderr bytes.Buffer
		a := newApp(env, &bytes.Buffer{}, &stderr)
		c, err := a.openContainer(recipe.DefaultContainer)
		if err != nil {
			t.Fatal(err)
		}
		a.warnUnauthenticated(c, daily)
		a.warnUnauthenticated(c, daily) // a second container of the same run
		return strings.Count(stderr.String(), "is unauthenticated")
	}
	if got := []int{warnings(true), warnings(true), warnings(true)}; !slices.Equal(got, []int{1, 0, 0}) {
		t.Errorf("three pulls warned %v times, want once", got)
	}
	if got := warnings(false); got != 1 {
		t.Errorf("status warned %d times, want 1", got)
	}
	stamp := filepath.Join(home, ".cache", "rezup", "warned-unauthenticated")
	old := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(stamp, old, old); err != nil {
		t.Fatal(err)
	}
	if got := warnings(true); got != 1 {
		t.Errorf("a pull the next day warned %d times, want 1", got)
	}
}
