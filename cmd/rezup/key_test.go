package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas/cache"
)

func keyApp(t *testing.T, env ...string) (*app, *bytes.Buffer, *bytes.Buffer, string) {
	t.Helper()
	home := t.TempDir()
	var out, errOut bytes.Buffer
	return newApp(append([]string{"HOME=" + home}, env...), &out, &errOut), &out, &errOut, home
}

// checkKeyFile checks that path holds a private secret key whose public
// key is pub.
func checkKeyFile(t *testing.T, path, pub string) cache.SecretKey {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", path, fi.Mode().Perm())
	}
	sk, err := readSecretKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if sk.Public().String() != pub {
		t.Errorf("printed %q, the file's public key is %q", pub, sk.Public())
	}
	return sk
}

func TestKeyGenerateWhere(t *testing.T) {
	xdg := t.TempDir()
	tests := []struct {
		name string
		env  []string
		out  string
		want func(home string) string
	}{
		{"default", nil, "", func(h string) string { return filepath.Join(h, ".config", "rezup", "signing.key") }},
		{"XDG_CONFIG_HOME", []string{"XDG_CONFIG_HOME=" + xdg}, "", func(string) string { return filepath.Join(xdg, "rezup", "signing.key") }},
		{"relative XDG_CONFIG_HOME is ignored", []string{"XDG_CONFIG_HOME=rel"}, "", func(h string) string { return filepath.Join(h, ".config", "rezup", "signing.key") }},
		{"--out", nil, "", nil},
		{"--out with ~", nil, "~/k.key", func(h string) string { return filepath.Join(h, "k.key") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, out, errOut, home := keyApp(t, tt.env...)
			o := keyGenerateOptions{name: "studio-1", out: tt.out}
			want := ""
			if tt.want != nil {
				want = tt.want(home)
			} else {
				want = filepath.Join(t.TempDir(), "admin.key")
				o.out = want
			}
			if err := a.runKeyGenerate(o); err != nil {
				t.Fatal(err)
			}
			pub := strings.TrimSuffix(out.String(), "\n")
			if strings.Count(out.String(), "\n") != 1 || !strings.HasPrefix(pub, "studio-1:") {
				t.Fatalf("stdout %q, want the public key line", out.String())
			}
			checkKeyFile(t, want, pub)
			if hint := errOut.String(); !strings.Contains(hint, want) || !strings.Contains(hint, "trusted-keys = [\""+pub+"\"]") || strings.Count(hint, "\n") != 1 {
				t.Errorf("stderr %q, want one line naming the file and how to trust the key", hint)
			}
			if o.out == "" {
				if fi, err := os.Stat(filepath.Dir(want)); err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("key folder: %v, %v", fi.Mode(), err)
				}
			}
		})
	}
}

func TestKeyGenerateKeepsAnExistingKey(t *testing.T) {
	a, out, _, _ := keyApp(t)
	path := filepath.Join(t.TempDir(), "signing.key")
	if err := a.runKeyGenerate(keyGenerateOptions{name: "studio-1", out: path}); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	firstPub := out.String()

	out.Reset()
	err := a.runKeyGenerate(keyGenerateOptions{name: "studio-2", out: path})
	if err == nil || !strings.Contains(err.Error(), "exists") || !strings.Contains(hintFor(err), "--force") || exitCode(err) != 1 {
		t.Fatalf("second generate: %v (hint %q)", err, hintFor(err))
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, first) || out.Len() != 0 {
		t.Fatalf("the existing key changed, or a key was printed: %q", out.String())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("leftovers beside the key: %v", entries)
	}

	if err := a.runKeyGenerate(keyGenerateOptions{name: "studio-2", out: path, force: true}); err != nil {
		t.Fatal(err)
	}
	sk := checkKeyFile(t, path, strings.TrimSpace(out.String()))
	if sk.Name() != "studio-2" || out.String() == firstPub {
		t.Fatalf("--force kept the old key: %s", sk.Public())
	}
}

func TestKeyGenerateRefuses(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		o    keyGenerateOptions
		code int
		why  string
		hint string
	}{
		{"name with a space", keyGenerateOptions{name: "studio 1", out: filepath.Join(dir, "a.key")}, 2, "key name", ""},
		{"name with a colon", keyGenerateOptions{name: "a:b", out: filepath.Join(dir, "b.key")}, 2, "key name", ""},
		{"empty name", keyGenerateOptions{name: "", out: filepath.Join(dir, "c.key")}, 2, "key name", ""},
		{"a directory", keyGenerateOptions{name: "studio-1", out: dir}, 2, "is a directory", ""},
		{"a missing folder", keyGenerateOptions{name: "studio-1", out: filepath.Join(dir, "no", "such", "k.key")}, 1, "no such file", "create the folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, out, _, _ := keyApp(t)
			err := a.runKeyGenerate(tt.o)
			if err == nil || exitCode(err) != tt.code || !strings.Contains(err.Error(), tt.why) || !strings.Contains(hintFor(err), tt.hint) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v (exit %d, hint %q), want exit %d saying %q", err, exitCode(err), hintFor(err), tt.code, tt.why)
			}
			if out.Len() != 0 {
				t.Errorf("printed %q", out.String())
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused runs left %v", entries)
	}
}

// The binary, as an admin types it.
func TestKeyGenerateCommand(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t)
	res := s.MustRun("key", "generate", "studio-1")
	pub := strings.TrimSpace(res.Stdout)
	path := filepath.Join(s.Home, ".config", "rezup", "signing.key")
	sk := checkKeyFile(t, path, pub)
	if !strings.Contains(res.Stderr, "trusted-keys") || !strings.Contains(res.Stderr, "REZUP_TRUSTED_KEYS") {
		t.Errorf("no hint on how to trust the key:\n%s", res.Stderr)
	}
	if strings.Contains(res.Stdout+res.Stderr, sk.String()) {
		t.Error("the secret key was printed")
	}

	again := s.Run("key", "generate", "studio-1")
	if again.Code != 1 || !strings.Contains(again.Stderr, "rezup: error: key generate: "+path+" exists") || !strings.Contains(again.Stderr, "rezup: hint:") || again.Stdout != "" {
		t.Fatalf("second generate: exit %d\nstdout %q\nstderr %s", again.Code, again.Stdout, again.Stderr)
	}
	if got := checkKeyFile(t, path, pub); got != sk {
		t.Fatal("the key changed")
	}

	for _, args := range [][]string{{"key", "generate"}, {"key", "generate", "a b"}, {"key"}, {"key", "make", "x"}} {
		if res := s.Run(args...); res.Code != 2 || !strings.HasPrefix(res.Stderr, "rezup: error: ") {
			t.Errorf("rezup %q: exit %d\n%s", args, res.Code, res.Stderr)
		}
	}

	// What it wrote is what a publisher reads.
	a := newApp([]string{"HOME=" + s.Home, "REZUP_SECRET_KEY_FILE=~/.config/rezup/signing.key", "REZUP_TRUSTED_KEYS=" + pub}, &bytes.Buffer{}, &bytes.Buffer{})
	trusted, got, err := a.resolveTrust(nil)
	if err != nil || got == nil || *got != sk || len(trusted) != 1 || trusted[0] != sk.Public() {
		t.Fatalf("resolveTrust = %v, %v, %v", trusted, got, err)
	}
}

func TestKeyGenerateNeedsNoHome(t *testing.T) {
	// --out with an absolute path works with no HOME at all (a service).
	var out bytes.Buffer
	a := newApp(nil, &out, &bytes.Buffer{})
	path := filepath.Join(t.TempDir(), "k")
	if err := a.runKeyGenerate(keyGenerateOptions{name: "svc", out: path}); err != nil {
		t.Fatal(err)
	}
	checkKeyFile(t, path, strings.TrimSpace(out.String()))
}

// `rezup key public` prints the public key `key generate` printed: of the
// default key, of one the environment or ~/rezup.toml names, or of FILE.
func TestKeyPublic(t *testing.T) {
	a, out, _, home := keyApp(t)
	if err := a.runKeyGenerate(keyGenerateOptions{name: "studio-1"}); err != nil {
		t.Fatal(err)
	}
	pub := out.String()
	other := filepath.Join(t.TempDir(), "node.key")
	if err := a.runKeyGenerate(keyGenerateOptions{name: "node-7", out: other}); err != nil {
		t.Fatal(err)
	}
	nodePub := strings.TrimPrefix(out.String(), pub)
	for _, tc := range []struct {
		name, file string
		env        []string
		recipe     string
		want       string
	}{
		{"the default key", "", nil, "", pub},
		{"FILE", other, nil, "", nodePub},
		{"REZUP_SECRET_KEY_FILE", "", []string{"REZUP_SECRET_KEY_FILE=" + other}, "", nodePub},
		{"[cache] secret-key-file", "", nil, "[cache]\nsecret-key-file = \"" + other + "\"\n", nodePub},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.recipe != "" {
				writeTestFile(t, filepath.Join(home, "rezup.toml"), tc.recipe)
				defer os.Remove(filepath.Join(home, "rezup.toml"))
			}
			var got bytes.Buffer
			b := newApp(append([]string{"HOME=" + home}, tc.env...), &got, &bytes.Buffer{})
			if err := b.runKeyPublic(tc.file); err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Errorf("key public: %q, want %q", got.String(), tc.want)
			}
		})
	}
	if err := a.runKeyPublic(filepath.Join(home, "missing.key")); err == nil || !strings.Contains(hintFor(err), "rezup key generate") {
		t.Errorf("a missing file: %v", err)
	}
}
