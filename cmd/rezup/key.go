package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/recipe"
)

// keyGenerateOptions are the arguments and flags of `rezup key generate`.
type keyGenerateOptions struct {
	name  string
	out   string // "" means defaultSecretKeyFile
	force bool
}

// keyCommand is `rezup key`; its generate subcommand runs runF (nil: the
// real runKeyGenerate) with the options the command line gives.
func (a *app) keyCommand(runF func(context.Context, *keyGenerateOptions) error) *cobra.Command {
	if runF == nil {
		runF = func(_ context.Context, o *keyGenerateOptions) error { return a.runKeyGenerate(*o) }
	}
	key := &cobra.Command{
		Use:   "key",
		Short: "Make the keys that sign what is published to the shared cache",
		Long: `Signing keys, as Nix's binary caches use them. A publisher with a secret
key signs each build it publishes to the shared cache; a machine that
trusts the public key ([cache] trusted-keys, or $REZUP_TRUSTED_KEYS) uses
only entries signed by a key it trusts, and builds for itself otherwise.`,
		Example: `  rezup key generate studio-1                     # on the publisher
  rezup key generate node-42 --out /etc/rezup/node.key
  rezup key public                                # the public key of ~/.config/rezup/signing.key`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("rezup key needs a command: rezup key generate NAME, or rezup key public [FILE]")
		},
	}
	var o keyGenerateOptions
	gen := &cobra.Command{
		Use:   "generate NAME [--out FILE] [--force]",
		Short: "Write a new secret signing key and print its public key",
		Long: `Write a new ed25519 secret key named NAME to FILE (default
$XDG_CONFIG_HOME/rezup/signing.key, else ~/.config/rezup/signing.key),
readable by you only, and print its public key on stdout.

NAME says who signs: a site label numbered so that a key can be replaced,
such as studio-1. Letters, digits, ".", "_" and "-".

The secret key stays on the publisher (set [cache] secret-key-file or
$REZUP_SECRET_KEY_FILE to FILE). The public key goes to every machine
that should use what this key signs: [cache] trusted-keys in the recipe,
or $REZUP_TRUSTED_KEYS. An existing FILE is never replaced without
--force.`,
		Example: `  rezup key generate studio-1
  rezup key generate node-42 --out /etc/rezup/node.key
  rezup key generate studio-2 --out ./studio-2.key > studio-2.pub`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("key generate takes exactly one key name, such as studio-1")
			}
			o.name = args[0]
			return runF(cmd.Context(), &o)
		},
	}
	f := gen.Flags()
	f.StringVarP(&o.out, "out", "o", "", "the secret key file (default ~/.config/rezup/signing.key)")
	f.BoolVar(&o.force, "force", false, "replace an existing secret key file")
	key.AddCommand(gen)
	key.AddCommand(&cobra.Command{
		Use:   "public [FILE]",
		Short: "Print the public key of a secret key file",
		Long: `Print, on stdout, the public key ("name:base64") of the secret key in FILE:
the line to give every machine that should trust what it signs ([cache]
trusted-keys, or $REZUP_TRUSTED_KEYS). FILE defaults to the key this
machine signs with: $REZUP_SECRET_KEY_FILE, else [cache] secret-key-file
of ~/rezup.toml, else ~/.config/rezup/signing.key. The secret key is
read as the signing key is (a private regular file), and never printed.`,
		Example: `  rezup key public
  rezup key public /etc/rezup/node.key >> trusted-keys.txt`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("key public takes at most one secret key file")
			}
			file := ""
			if len(args) == 1 {
				file = args[0]
			}
			return a.runKeyPublic(file)
		},
	})
	return key
}

// runKeyPublic prints the public key of the secret key in file ("": the
// one this machine signs with).
func (a *app) runKeyPublic(file string) error {
	var sk *cache.SecretKey
	var err error
	if file != "" {
		home, _ := a.home() // only for "~": without a home, the path is taken as written
		var k cache.SecretKey
		k, err = readSecretKey(a.expand(file, home))
		sk = &k
	} else {
		cr, rerr := a.readRecipe(recipe.DefaultContainer)
		if rerr != nil {
			return rerr
		}
		if sk, err = a.secretKey(cr.Recipe); err == nil && sk == nil {
			p, derr := a.defaultSecretKeyFile()
			if derr != nil {
				return derr
			}
			var k cache.SecretKey
			k, err = readSecretKey(p)
			sk = &k
		}
	}
	if err != nil {
		return withHint(fmt.Errorf("key public: %w", err), "name a secret key file that `rezup key generate` wrote")
	}
	fmt.Fprintln(a.stdout, sk.Public())
	return nil
}

// runKeyGenerate writes a new secret key to o.out and prints its public
// key. The file is created 0600 through a temp file, so a failed run
// leaves nothing, and an existing key is kept unless o.force: a lost
// secret key cannot be made again, and every machine trusting it would
// have to be told.
func (a *app) runKeyGenerate(o keyGenerateOptions) error {
	if err := cache.ValidKeyName(o.name); err != nil {
		return usagef("key generate: %v", err)
	}
	path := o.out
	if path == "" {
		p, err := a.defaultSecretKeyFile()
		if err != nil {
			return err
		}
		path = p
	} else {
		home, _ := a.home() // only for "~": without a home, the path is taken as written
		path = a.expand(path, home)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("key generate: %w", err)
	}
	path = abs
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return usagef("key generate: %s is a directory; --out names the key file", path)
	}
	sk, pk, err := cache.GenerateKey(o.name)
	if err != nil {
		return err
	}
	if o.out == "" {
		// The default folder holds secrets: private from its creation.
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("key generate: %w", err)
		}
	}
	data := []byte(sk.String() + "\n")
	write := func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
	if o.force {
		err = fsx.WriteFileFunc(path, 0o600, write)
	} else {
		err = fsx.CreateExclusive(path, 0o600, write)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		return withHint(fmt.Errorf("key generate: %s exists; it was left as it is", path),
			"keep using it, pass --out with another file, or --force to replace it (machines that trust its public key must then trust the new one)")
	case errors.Is(err, fs.ErrNotExist):
		return withHint(fmt.Errorf("key generate: %w", err), "create the folder of %s first", path)
	case err != nil:
		return fmt.Errorf("key generate: %w", err)
	}
	fmt.Fprintln(a.stdout, pk)
	a.infof("wrote the secret key %s to %s; keep it private. Trust it elsewhere with [cache] trusted-keys = [%q] or REZUP_TRUSTED_KEYS", pk.Name(), path, pk.String())
	return nil
}

// defaultSecretKeyFile is where `key generate` writes by default: rezup's
// folder in the user's configuration directory (XDG_CONFIG_HOME, else
// ~/.config). A publisher signs only with a key it is told about
// (resolveTrust); a key file found there is not used by itself.
func (a *app) defaultSecretKeyFile() (string, error) {
	if dir := a.getenv("XDG_CONFIG_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "rezup", "signing.key"), nil
	}
	home, err := a.home()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".config", "rezup", "signing.key"), nil
}
