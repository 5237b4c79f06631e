package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

// maxSecretKeyFile bounds what is read of a secret key file: a key is one
// line of under 250 bytes.
const maxSecretKeyFile = 4096

// resolveTrust returns the public keys whose cache entries this machine
// uses, and the secret key it signs what it publishes with (nil: none).
// $REZUP_TRUSTED_KEYS (keys separated by spaces or commas) wins over
// [cache] trusted-keys, and $REZUP_SECRET_KEY_FILE over [cache]
// secret-key-file; an empty variable counts as unset, so the environment
// can add trust but never switch a recipe's off. r is the user's own
// recipe (~/rezup[.NAME].toml), never a revision's frozen one: the secret
// key file must not come from a file others write. A relative
// secret-key-file is relative to the recipe's folder, as [init] script is.
func (a *app) resolveTrust(r *recipe.Recipe) ([]cache.PublicKey, *cache.SecretKey, error) {
	trusted, err := a.trustedKeys(r)
	if err != nil {
		return nil, nil, err
	}
	sk, err := a.secretKey(r)
	if err != nil {
		return nil, nil, err
	}
	return trusted, sk, nil
}

// revisionTrust is which remote revisions c's launches run: the trusted
// keys (as the cache's: see trustedKeys), and whether only revisions they
// signed are launched ($REZUP_REQUIRE_SIGNED, else [cache]
// require-signed of the user's own recipe). It reads no file but the
// recipe already read: it is on the launch path.
func (a *app) revisionTrust(c *container) (materialize.RevisionTrust, error) {
	keys, err := a.trustedKeys(c.recipe.Recipe)
	if err != nil {
		return materialize.RevisionTrust{}, err
	}
	require := c.recipe.Recipe.Cache.RequireSigned
	from := c.recipe.Path + ": [cache] require-signed"
	if v := strings.TrimSpace(a.getenv("REZUP_REQUIRE_SIGNED")); v != "" {
		from = "REZUP_REQUIRE_SIGNED"
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			require = true
		case "0", "false", "no", "off":
			require = false
		default:
			return materialize.RevisionTrust{}, withHint(&configError{fmt.Sprintf("REZUP_REQUIRE_SIGNED=%q is neither 1 nor 0", v)},
				"set it to 1 to launch only signed remote revisions, 0 not to, or unset it")
		}
	}
	if require && len(keys) == 0 {
		return materialize.RevisionTrust{}, withHint(&configError{fmt.Sprintf("%s asks for signed revisions, and no key is trusted", from)},
			"set [cache] trusted-keys or REZUP_TRUSTED_KEYS to the publisher's public key")
	}
	t := materialize.RevisionTrust{Keys: keys, Require: require}
	if home, err := a.home(); err == nil {
		if dir := a.userCacheDir(home); dir != "" {
			t.WarnStamp = filepath.Join(dir, "warned-unsigned")
		}
	}
	return t, nil
}

// trustedKeys is $REZUP_TRUSTED_KEYS, else [cache] trusted-keys of r. A
// value that is set but lists no key (",", or [""] in a recipe) is a
// configuration error, never "no keys": trust never weakens silently.
func (a *app) trustedKeys(r *recipe.Recipe) ([]cache.PublicKey, error) {
	from, list, set := "", []string(nil), false
	if env := a.getenv("REZUP_TRUSTED_KEYS"); strings.TrimSpace(env) != "" {
		from, set = "REZUP_TRUSTED_KEYS", true
		list = strings.FieldsFunc(env, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' })
	} else if r != nil && len(r.Cache.TrustedKeys) > 0 {
		from, set = r.File+": [cache] trusted-keys", true
		for _, k := range r.Cache.TrustedKeys {
			list = append(list, strings.FieldsFunc(k, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' || c == '\n' })...)
		}
	}
	const how = `list public keys such as "studio-1:<base64>", as rezup key generate prints them, separated by spaces or commas; or unset it to trust no key`
	if set && len(list) == 0 {
		return nil, withHint(&configError{fmt.Sprintf("%s lists no key (only separators)", from)}, how)
	}
	var keys []cache.PublicKey
	for _, s := range list {
		pk, err := cache.ParsePublicKey(s)
		if err != nil {
			return nil, withHint(&configError{fmt.Sprintf("%s: %v", from, err)}, how)
		}
		keys = append(keys, pk)
	}
	return keys, nil
}

func (a *app) secretKey(r *recipe.Recipe) (*cache.SecretKey, error) {
	home, _ := a.home() // only for "~": without a home, the path is taken as written
	path, from := a.getenv("REZUP_SECRET_KEY_FILE"), "REZUP_SECRET_KEY_FILE"
	switch {
	case path != "":
		path = a.expand(path, home)
	case r != nil && r.Cache.SecretKeyFile != "":
		from = r.File + ": [cache] secret-key-file"
		path = a.expand(r.Cache.SecretKeyFile, home)
		if !filepath.IsAbs(path) && r.File != "" {
			path = filepath.Join(filepath.Dir(r.File), path)
		}
	default:
		return nil, nil
	}
	sk, err := readSecretKey(path)
	var h *hinted
	switch {
	case errors.As(err, &h):
		return nil, withHint(fmt.Errorf("%s: %w", from, err), "%s", h.hint)
	case err != nil:
		return nil, withHint(fmt.Errorf("%s: %w", from, err),
			"point it at the file rezup key generate wrote, or unset it to publish unsigned")
	}
	return &sk, nil
}

// readSecretKey reads a secret key file: a regular file (a FIFO or a
// device would block or never end), private to its owner, holding one key.
func readSecretKey(path string) (cache.SecretKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return cache.SecretKey{}, fmt.Errorf("read secret key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return cache.SecretKey{}, fmt.Errorf("read secret key %s: not a regular file", path)
	}
	if err := checkPrivate(path, fi); err != nil {
		return cache.SecretKey{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return cache.SecretKey{}, fmt.Errorf("read secret key: %w", err)
	}
	defer f.Close() // read-only: a close error loses nothing
	b, err := io.ReadAll(io.LimitReader(f, maxSecretKeyFile+1))
	if err == nil && len(b) > maxSecretKeyFile {
		err = errors.New("over 4096 bytes: not a key file")
	}
	if err != nil {
		return cache.SecretKey{}, fmt.Errorf("read secret key %s: %w", path, err)
	}
	sk, err := cache.ParseSecretKey(string(b))
	if err != nil {
		return cache.SecretKey{}, fmt.Errorf("%s: %w", path, err)
	}
	return sk, nil
}
