//go:build linux

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/materialize"
)

// plantTrojan does what an account that can write only the shared cache
// can: build the admin's recipe (its key is predictable), make rez write
// marker when it runs, and publish that tree, unsigned, as the key's
// entry. It returns the key and the planted archive's digest, and the
// bytes of the planted entry.json (to plant again).
func plantTrojan(t *testing.T, bin, recipeTOML, cacheDir, marker string) (cas.Key, cas.Digest, []byte) {
	t.Helper()
	attacker := testkit.NewSession(t, bin)
	attacker.WriteFile("rezup.prod.toml", recipeTOML)
	attacker.MustRun("add", "prod", "--skip-use")
	root := filepath.Join(attacker.Home, ".rezup")
	keys := storeEntries(t, root)
	if len(keys) != 1 {
		t.Fatalf("attacker's store: %v", keys)
	}
	k, err := cas.ParseKey(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(root, ".store", keys[0])
	mains, _ := filepath.Glob(filepath.Join(entry, "venv", "rez", "lib", "python*", "site-packages", "rez", "cli", "_main.py"))
	if len(mains) != 1 {
		t.Fatalf("rez's cli module in the attacker's build: %v", mains)
	}
	body, err := os.ReadFile(mains[0])
	if err != nil {
		t.Fatal(err)
	}
	trojan := "open(" + pyString(marker) + ", 'a').close()\n" + string(body)
	os.Chmod(mains[0], 0o644)
	if err := os.WriteFile(mains[0], []byte(trojan), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(filepath.Dir(mains[0]), "__pycache__"))

	m, err := materialize.New(materialize.Options{Root: materialize.Root{Dir: root}}).ReadManifest(k)
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.PackFile(t.TempDir(), entry, archive.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	sc, err := cache.Open(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	e := cache.Entry{Key: k, Prefix: entry, Interpreter: m.Interpreters[m.RezPython].ID, RezupVersion: "evil"}
	got, err := sc.Publish(context.Background(), e, a)
	if err != nil || got.Digest != a.Digest {
		t.Fatalf("plant: %+v, %v", got, err)
	}
	b, err := os.ReadFile(filepath.Join(cacheDir, k.String(), "entry.json"))
	if err != nil {
		t.Fatal(err)
	}
	return k, a.Digest, b
}

// remoteMeta reads a remote revision.json with its pin.
func remoteMeta(t *testing.T, dir string) (map[string]any, materialize.Meta) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "revision.json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	var meta materialize.Meta
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	return raw, meta
}

// The poisoning of issue 10: an account that can write only the cache
// plants a trojan for the predictable key of the admin's recipe. The
// admin's add --remote does not adopt it (it builds, and pins its own
// archive), and a node launching the published revision never runs it,
// with trusted keys configured and without. With trusted keys, an
// unsigned entry is a miss: a node following a revision that pins nothing
// builds. Without them, that node runs the trojan: the control that shows
// the trojan works.
func TestCacheWriterCannotPoison(t *testing.T) {
	t.Parallel()
	for _, signed := range []bool{false, true} {
		name := "unauthenticated"
		if signed {
			name = "trusted-keys"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFarm(t)
			recipeTOML := testkit.RecipeTOML(f.wheels, "")
			f.admin.WriteFile("rezup.prod.toml", recipeTOML)
			cacheDir := filepath.Join(f.remote, ".cache")
			marker := filepath.Join(t.TempDir(), "pwned")
			k, trojan, plantedEntry := plantTrojan(t, f.admin.Bin, recipeTOML, cacheDir, marker)

			trustEnv := map[string]string{}
			if signed {
				sk, pk, err := cache.GenerateKey("studio-1")
				if err != nil {
					t.Fatal(err)
				}
				keyFile := filepath.Join(t.TempDir(), "studio-1.secret")
				if err := os.WriteFile(keyFile, []byte(sk.String()+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				f.admin.Env["REZUP_SECRET_KEY_FILE"] = keyFile
				trustEnv["REZUP_TRUSTED_KEYS"] = pk.String()
			}
			for name, v := range trustEnv {
				f.admin.Env[name] = v
			}

			// The admin first adds the container locally: without trusted
			// keys that fetches the planted entry by key, as any
			// launch would; with them it is a miss and the admin builds.
			res := f.admin.MustRun("add", "prod", "--skip-use")
			if fetched := strings.Contains(res.Stderr, "fetched "+k.String()); fetched == signed {
				t.Fatalf("local add: fetched the planted entry = %v, want %v:\n%s", fetched, !signed, res.Stderr)
			}

			res = f.admin.MustRun("add", "prod", "--remote", "--skip-use")
			// With trusted keys, the local add built it: reused.
			want := map[bool]string{false: "built ", true: "reused "}[signed] + k.String()
			if strings.Contains(res.Stderr, "fetched "+k.String()) || !strings.Contains(res.Stderr, want) {
				t.Errorf("add --remote did not say %q:\n%s", want, res.Stderr)
			}
			if !signed && !strings.Contains(res.Stderr, "building it again to publish it") {
				t.Errorf("add --remote did not rebuild the entry fetched unverified:\n%s", res.Stderr)
			}
			revs := revisions(t, f.remote, "prod")
			if len(revs) != 1 {
				t.Fatalf("remote revisions: %v", revs)
			}
			revDir := filepath.Join(f.remote, "prod", "revisions", revs[0])
			raw, meta := remoteMeta(t, revDir)
			pin := meta.Archive
			if meta.Key != k || pin == nil || pin.Key != k || pin.Size <= 0 {
				t.Fatalf("the remote revision does not pin an archive of %s: %v", k, raw)
			}
			if pin.Digest == trojan {
				t.Fatalf("the remote revision pins the planted archive %s", trojan)
			}
			if _, err := os.Stat(filepath.Join(cacheDir, k.String(), pin.Digest.String()+".tar.zst")); err != nil {
				t.Fatalf("the pinned archive is not in the cache: %v", err)
			}
			if _, ok := raw["archive"].(map[string]any)["signatures"]; ok {
				t.Errorf("the pin carries signatures: %v", raw["archive"])
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the admin ran the trojan")
			}

			// Without trusted keys the planted entry.json stays (it is a
			// valid entry); with them the admin's signed entry replaced
			// it: plant it again.
			if signed {
				ej := filepath.Join(cacheDir, k.String(), "entry.json")
				os.Remove(ej)
				if err := os.WriteFile(ej, plantedEntry, 0o644); err != nil {
					t.Fatal(err)
				}
			}

			node := f.node(t, filepath.Join(t.TempDir(), "node"))
			for name, v := range trustEnv {
				node.Env[name] = v
			}
			res = node.MustRun("use", "prod", "--", "rez-env", "maya")
			rezReport(t, res.Stdout)
			if _, err := os.Stat(marker); err == nil {
				t.Fatalf("a node launching the pinned revision ran the trojan:\n%s", res.Stderr)
			}
			if !strings.Contains(res.Stderr, "fetched "+k.String()) {
				t.Errorf("the node did not fetch the pinned archive:\n%s", res.Stderr)
			}
			// The build removed from the node's store: its local mirror
			// keeps the pin, so the same archive is fetched again.
			nodeRoot := node.Env["REZUP_ROOT_LOCAL"]
			if err := os.RemoveAll(filepath.Join(nodeRoot, ".store", k.String())); err != nil {
				t.Fatal(err)
			}
			res = node.MustRun("use", "prod", "--", "rez-env", "maya")
			if _, err := os.Stat(marker); err == nil || !strings.Contains(res.Stderr, "fetched "+k.String()) {
				t.Fatalf("a node whose build was removed did not fetch the pinned archive again (trojan run: %v):\n%s", err == nil, res.Stderr)
			}
			// The daily stamp lives in the user's cache, which the
			// test's sessions share: this node's own is empty.
			node.Env["XDG_CACHE_HOME"] = t.TempDir()
			res = node.MustRun("pull", "prod")
			if got := strings.Count(res.Stderr, "is unauthenticated"); got != map[bool]int{false: 1, true: 0}[signed] {
				t.Errorf("pull warned %d times that the cache is unauthenticated:\n%s", got, res.Stderr)
			}

			// A newer remote revision of the same key that pins nothing
			// (as an older rezup wrote them): found by key.
			newer := filepath.Join(f.remote, "prod", "revisions", "9999999999.000000")
			if err := os.MkdirAll(newer, 0o755); err != nil {
				t.Fatal(err)
			}
			copyFile(t, filepath.Join(revDir, "rezup.toml"), filepath.Join(newer, "rezup.toml"), 0o644)
			// The lock too: the key is computed from it.
			copyFile(t, filepath.Join(revDir, "lock.json"), filepath.Join(newer, "lock.json"), 0o644)
			delete(raw, "archive")
			b, _ := json.Marshal(raw)
			if err := os.WriteFile(filepath.Join(newer, "revision.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			other := f.node(t, filepath.Join(t.TempDir(), "other"))
			for name, v := range trustEnv {
				other.Env[name] = v
			}
			res = other.MustRun("use", "prod", "--", "rez-env", "maya")
			_, err := os.Stat(marker)
			if signed {
				if err == nil {
					t.Fatalf("with trusted keys, a node ran the unsigned planted entry:\n%s", res.Stderr)
				}
				if strings.Contains(res.Stderr, "fetched "+k.String()) || !strings.Contains(res.Stderr, "built "+k.String()) {
					t.Errorf("with trusted keys, an unsigned entry is not a miss:\n%s", res.Stderr)
				}
			} else if err != nil {
				t.Fatalf("control: a node following an unpinned revision without trusted keys did not run the planted entry (the trojan does not work):\n%s", res.Stderr)
			}
		})
	}
}
