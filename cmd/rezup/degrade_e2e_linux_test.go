//go:build linux

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/testkit"
)

// An account that can write only the directory cache moves the key's
// folder aside and plants, where the pinned archive was, a file of the
// pinned size that no one but root may read (chmod 000), beside a
// readable copy of entry.json. A node (a second account: root reads
// anything) launching the pinned revision, and an unpinned one found by
// key, warns once, within the bound, naming the cache and the cause,
// builds from the lock and exits 0.
func TestNodesBuildWhenThePlantedArchiveIsUnreadable(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.wheels = shareWheels(t, s)
	remote := filepath.Join(s.base, "remote")
	cacheDir := filepath.Join(s.base, "cache")
	admin := s.admin(t, "022")
	admin.Env["REZUP_ROOT_REMOTE"] = remote
	admin.Env["REZUP_CACHE"] = cacheDir
	admin.WriteFile("rezup.prod.toml", s.recipe())
	admin.mustRun("add", "prod", "--remote", "--skip-use")
	unpinnedCopy(t, remote, "prod", "loose")
	_, meta := remoteMeta(t, filepath.Join(remote, "prod", "revisions", revisions(t, remote, "prod")[0]))
	pin := meta.Archive

	keyDir := filepath.Join(cacheDir, pin.Key.String())
	if err := os.Rename(keyDir, keyDir+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(keyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(keyDir+".aside", "entry.json"), filepath.Join(keyDir, "entry.json"), 0o644)
	planted := filepath.Join(keyDir, pin.Digest.String()+".tar.zst")
	if err := os.WriteFile(planted, make([]byte, pin.Size), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(planted, 0); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"prod", "loose"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			local := filepath.Join(s.base, "node-"+name)
			if err := os.Mkdir(local, 0o755); err != nil {
				t.Fatal(err)
			}
			testkit.Nobody.Chown(t, local)
			node := s.nobody(t)
			node.Env["REZUP_ROOT_REMOTE"] = remote
			node.Env["REZUP_ROOT_LOCAL"] = local
			node.Env["REZUP_CACHE"] = cacheDir
			res := runTimed(t, node.Session, 3*time.Minute, append(slices.Clone(node.prefix), "use", name, "--", "rez-env", "maya")...)
			if res.Code != 0 {
				t.Fatalf("exit %d, want 0 (a build):\n%s", res.Code, res.Stderr)
			}
			rezReport(t, res.Stdout)
			warns := warningLines(res.Stderr)
			if len(warns) != 1 || !strings.Contains(warns[0], cacheDir) || !strings.Contains(warns[0], "permission denied") {
				t.Errorf("want one warning naming %s and \"permission denied\":\n%s", cacheDir, res.Stderr)
			}
			if !strings.Contains(res.Stderr, "built "+pin.Key.String()) {
				t.Errorf("the node did not build %s:\n%s", pin.Key, res.Stderr)
			}
			if res.warnedAt < 0 || res.warnedAt > warnBound {
				t.Errorf("the warning came %v after the start, want at most %v", res.warnedAt, warnBound)
			}
		})
	}
}

// plantForeign does what a member who can write the remote root and the
// cache can: from a copy of the build in entryDir, it makes one whose rez
// writes marker when it runs, packs it into cacheDir beside the real
// archive, and returns pin repointed at it.
func plantForeign(t *testing.T, entryDir, cacheDir, marker string, pin cache.Entry) cache.Entry {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "foreign")
	if out, err := exec.Command("cp", "-a", entryDir, tree).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	if out, err := exec.Command("chmod", "-R", "u+w", tree).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v\n%s", err, out)
	}
	mains, _ := filepath.Glob(filepath.Join(tree, "venv", "rez", "lib", "python*", "site-packages", "rez", "cli", "_main.py"))
	if len(mains) != 1 {
		t.Fatalf("rez's cli module in the build: %v", mains)
	}
	body, err := os.ReadFile(mains[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mains[0], []byte("open("+pyString(marker)+", 'a').close()\n"+string(body)), 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(filepath.Dir(mains[0]), "__pycache__"))
	a, err := archive.PackFile(t.TempDir(), tree, archive.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, a.Path, filepath.Join(cacheDir, pin.Key.String(), a.Digest.String()+".tar.zst"), 0o644)
	pin.Digest, pin.Size, pin.Files, pin.Bytes = a.Digest, a.Size, a.Files, a.Bytes
	pin.Signatures = nil
	return pin
}

// repin rewrites the remote revision in dir to pin e, keeping all else,
// its signatures too: what a member who can write the remote root does.
func repin(t *testing.T, dir string, e cache.Entry) {
	t.Helper()
	raw, _ := remoteMeta(t, dir)
	raw["archive"] = e
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "revision.json")
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Signed remote revisions, end to end. The admin publishes prod twice
// with add --remote and a key from `rezup key generate`: both revisions
// are signed. A member who can write the remote root and the cache
// repoints the newer one at a build of their own. A node that trusts the
// admin's key, without requiring signed revisions, runs it (the control:
// the attack works). One that requires them passes over it, with a
// warning naming it, and runs the older, signed one; once both are
// rewritten, it fails in one line and runs nothing. A node whose recipe
// trusts the admin's key, with REZUP_TRUSTED_KEYS="," in its
// environment, stops with exit 2 naming the variable.
func TestOnlySignedRevisionsRun(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	keyFile := filepath.Join(t.TempDir(), "studio-1.key")
	pub := strings.TrimSpace(f.admin.MustRun("key", "generate", "studio-1", "--out", keyFile).Stdout)
	f.admin.Env["REZUP_SECRET_KEY_FILE"] = keyFile
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	f.admin.MustRun("add", "prod", "--remote", "--frozen", "--skip-use")
	revs := revisions(t, f.remote, "prod")
	if len(revs) != 2 {
		t.Fatalf("remote revisions: %v", revs)
	}
	older := filepath.Join(f.remote, "prod", "revisions", revs[0])
	newer := filepath.Join(f.remote, "prod", "revisions", revs[1])
	for _, dir := range []string{older, newer} {
		if raw, _ := remoteMeta(t, dir); raw["signatures"] == nil {
			t.Fatalf("add --remote with a secret key did not sign %s: %v", dir, raw)
		}
	}
	_, meta := remoteMeta(t, newer)
	k := meta.Key
	cacheDir := filepath.Join(f.remote, ".cache")
	marker := filepath.Join(t.TempDir(), "pwned")
	foreign := plantForeign(t, filepath.Join(f.admin.Home, ".rezup", ".store", k.String()), cacheDir, marker, *meta.Archive)
	repin(t, newer, foreign)

	node := func(name string, env ...string) *testkit.Session {
		n := f.node(t, filepath.Join(t.TempDir(), name))
		n.Env["REZUP_TRUSTED_KEYS"] = pub
		for i := 0; i+1 < len(env); i += 2 {
			n.Env[env[i]] = env[i+1]
		}
		return n
	}
	control := node("control")
	res := control.MustRun("use", "prod", "--", "rez-env", "maya")
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("control: a node that does not require signed revisions did not run the rewritten one (the attack does not work):\n%s", res.Stderr)
	}
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}

	strict := node("strict", "REZUP_REQUIRE_SIGNED", "1")
	res = strict.MustRun("use", "prod", "--", "rez-env", "maya")
	rezReport(t, res.Stdout)
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("a node requiring signed revisions ran the rewritten one:\n%s", res.Stderr)
	}
	warns := warningLines(res.Stderr)
	if len(warns) != 1 || !strings.Contains(warns[0], "remote revision "+revs[1]+" of prod: bad signature by studio-1: passed over") ||
		!strings.Contains(warns[0], revs[0]) {
		t.Errorf("want one warning passing over %s for %s:\n%s", revs[1], revs[0], res.Stderr)
	}
	if got := revisions(t, strict.Env["REZUP_ROOT_LOCAL"], "prod"); len(got) != 1 || got[0] != revs[0] {
		t.Errorf("the node launched revisions %v, want the signed %s", got, revs[0])
	}
	if !strings.Contains(res.Stderr, "fetched "+k.String()) {
		t.Errorf("the node did not fetch the signed revision's archive:\n%s", res.Stderr)
	}

	// Both rewritten: nothing signed is left to run.
	repin(t, older, foreign)
	res = node("none", "REZUP_REQUIRE_SIGNED", "1").Run("use", "prod", "--", "rez-env", "maya")
	errs := errorLines(strings.Split(res.Stderr, "\n"))
	if res.Code != 1 || len(errs) != 1 || !strings.Contains(errs[0], "no remote revision of prod is signed by a trusted key") {
		t.Errorf("no signed revision left: exit %d, want 1 and one error line:\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("a node requiring signed revisions ran a rewritten one:\n%s", res.Stderr)
	}

	// REZUP_TRUSTED_KEYS="," would switch the recipe's trusted keys off.
	comma := node("comma")
	comma.Env["REZUP_TRUSTED_KEYS"] = ","
	comma.WriteFile("rezup.prod.toml", "[cache]\ntrusted-keys = ["+tomlQuote(pub)+"]\n")
	res = comma.Run("use", "prod", "--", "rez-env", "maya")
	errs = errorLines(strings.Split(res.Stderr, "\n"))
	if res.Code != 2 || len(errs) != 1 || !strings.Contains(errs[0], "REZUP_TRUSTED_KEYS") {
		t.Errorf(`REZUP_TRUSTED_KEYS=",": exit %d, want 2 and one error line naming it:`+"\n%s", res.Code, res.Stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf(`a node with REZUP_TRUSTED_KEYS="," ran a rewritten revision:`+"\n%s", res.Stderr)
	}
}
