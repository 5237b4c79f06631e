//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/gc"
	"github.com/rezup/rezup/internal/testkit"
)

// Issue 19: builds are read-only once published, members of a
// group-shared root cannot touch each other's, and modes from an archive
// never block a node. These need root (see newSite).

// member is account a of the group testkit.Team, with a HOME of its own,
// running rezup under a's umask (002).
func (s *site) member(t *testing.T, a testkit.Account) *account {
	t.Helper()
	sess := testkit.NewSession(t, "/bin/sh")
	home, err := os.MkdirTemp(s.base, "home-"+a.Name+"-")
	if err != nil {
		t.Fatal(err)
	}
	a.Chown(t, home)
	sess.Home, sess.Env["HOME"], sess.Env["USERPROFILE"] = home, home, home
	return &account{sess, append([]string{"-c", `exec "$@"`, "sh"}, a.Command(s.bin)...)}
}

// shareWheels copies the wheel house where every account can read it:
// testkit's is root's alone.
func shareWheels(t *testing.T, s *site) string {
	t.Helper()
	dir := filepath.Join(s.base, "wheels")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(s.wheels)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		copyFile(t, filepath.Join(s.wheels, e.Name()), filepath.Join(dir, e.Name()), 0o644)
	}
	return dir
}

// gcAs runs gc with args and --json as acct, and returns its report:
// exit 0 is required.
func gcAs(t *testing.T, acct *account, args ...string) gc.Report {
	t.Helper()
	return gcReport(t, acct.mustRun(append(append([]string{"gc"}, args...), "--json")...).Stdout)
}

// Two members of one group share a root (group-writable, umask 002).
// member1 builds twice; its builds are read-only, and the root's shared
// directories sticky. member2 launches member1's build but cannot write
// into it, chmod it or move it aside; its rez and pip run in it without
// writing anything. member2's gc keeps member1's old revision, saying
// whose it is, and exits 0; member1's gc removes it and its read-only
// build.
func TestGroupMembersCannotTouchEachOthersBuilds(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	s.wheels = shareWheels(t, s)
	shared := filepath.Join(s.base, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(shared, 0, testkit.Team); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(shared, 0o2775); err != nil {
		t.Fatal(err)
	}
	m1 := s.member(t, testkit.Member1)
	m1.Env["REZUP_ROOT_LOCAL"] = shared
	m1.WriteFile("rezup.toml", s.recipe())
	m1.mustRun("add", "--skip-use")
	first := storeEntries(t, shared)
	oldRev := revisions(t, shared, ".main")
	m1.mustRun("add", "--fresh", "--skip-use")
	if len(first) != 1 || len(oldRev) != 1 || len(storeEntries(t, shared)) != 2 {
		t.Fatalf("builds %v then %v, revisions %v", first, storeEntries(t, shared), oldRev)
	}
	build := filepath.Join(shared, ".store", first[0])
	for _, d := range []string{filepath.Join(shared, ".store"), filepath.Join(shared, ".tmp"), filepath.Join(shared, ".main", "revisions")} {
		if fi, err := os.Stat(d); err != nil || fi.Mode() != fs.ModeDir|fs.ModeSticky|0o775 {
			t.Errorf("%s: %v (%v), want drwxrwxr-t", d, fi.Mode(), err)
		}
	}
	checkModes(t, shared, 0o775, []fs.FileMode{0o664, 0o775}, []fs.FileMode{0o644, 0o755}, 0o444)

	m2 := s.member(t, testkit.Member2)
	m2.Env["REZUP_ROOT_LOCAL"] = shared
	rezReport(t, m2.mustRun("use", "--", "rez-env", "maya").Stdout)
	attempts := `b=$1
touch "$b/venv/rez/evil" 2>/dev/null && exit 10
echo >> "$b/.rezup/manifest.json" 2>/dev/null && exit 11
chmod -R u+w "$b" 2>/dev/null && exit 12
mv "$b" "$b-aside" 2>/dev/null && exit 13
mv "$b" "$2/.tmp/aside" 2>/dev/null && exit 14
rm -f "$b.lock" 2>/dev/null && [ ! -e "$b.lock" ] && exit 15
rm -rf "$b" 2>/dev/null; [ -d "$b/venv" ] || exit 16
exit 0`
	argv := testkit.Member2.Command("/bin/sh", "-c", attempts, "sh", build, shared)
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("member2 changed member1's build (%v; the script's exit code says how)\n%s", err, out)
	}

	// rez and pip run in a read-only build, as member2 and as root (who
	// could write): nothing is written into it.
	before := listing(t, build)
	py := filepath.Join(build, "venv", "rez", "bin", "python")
	for _, args := range [][]string{{"-c", "import rez; print(rez.__version__)"}, {"-m", "pip", "--version"}} {
		for _, who := range [][]string{testkit.Member2.Command(py), {py}} {
			cmd := exec.Command(who[0], append(who[1:], args...)...)
			cmd.Dir = "/"
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%v %v: %v\n%s", who, args, err, out)
			}
		}
	}
	if diff := diffListings(before, listing(t, build)); diff != "" {
		t.Errorf("running python in the build wrote into it:\n%s", diff)
	}

	rep := gcAs(t, m2, "--keep", "1")
	want := filepath.Join(shared, ".main", "revisions", oldRev[0]) + " belongs to another account (uid 64101)"
	var theirs bool
	for _, it := range rep.Kept {
		if it.Kind == gc.KindRevision && it.Name == oldRev[0] {
			theirs = it.Reason == gc.ReasonOtherAccount && strings.HasPrefix(it.Detail, want)
		}
	}
	if !theirs || len(rep.Removed) != 0 || len(rep.Errors) != 0 {
		t.Errorf("member2's gc: kept %+v, removed %+v, errors %q; want member1's old revision kept, %q", rep.Kept, rep.Removed, rep.Errors, want)
	}

	rep = gcAs(t, m1, "--keep", "1")
	removed := map[string]bool{}
	for _, it := range rep.Removed {
		removed[string(it.Kind)+" "+it.Name] = true
	}
	if !removed["revision "+oldRev[0]] || !removed["entry "+first[0]] || len(rep.Errors) != 0 || len(rep.Skipped) != 0 {
		t.Errorf("member1's gc: removed %+v, skipped %+v, errors %q; want its old revision and read-only build", rep.Removed, rep.Skipped, rep.Errors)
	}
	if _, err := os.Lstat(build); err == nil {
		t.Errorf("%s is still there", build)
	}
}

// hostileModes is archive src (tar + zstd) with the modes a cache writer
// may claim: every top-level directory (.rezup, venv) 0555, every other
// directory 0000, and the manifest 0000.
func hostileModes(t *testing.T, src []byte) []byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case h.Typeflag == tar.TypeDir && strings.Count(h.Name, "/") == 1:
			h.Mode = 0o555
		case h.Typeflag == tar.TypeDir:
			h.Mode = 0o000
		case h.Name == ".rezup/manifest.json":
			h.Mode = 0o000
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// An unauthenticated cache whose entry names an archive with 0000 and
// 0555 directories: a node account (not root) following a remote revision
// without a pin (as an older rezup wrote it) fetches it by key like any
// other, never fails with "permission denied", downloads it once for two
// launches, and its gc afterwards exits 0 with nothing to report. Before,
// every launch downloaded it again and failed, and gc failed on what it
// left.
func TestHostileArchiveModesDoNotStopANode(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	remote := filepath.Join(s.base, "remote")
	admin := s.admin(t, "022")
	admin.Env["REZUP_ROOT_REMOTE"] = remote
	admin.Env["REZUP_ROOT_LOCAL"] = filepath.Join(s.base, "admin")
	admin.WriteFile("rezup.prod.toml", s.recipe())
	admin.mustRun("add", "prod", "--remote", "--skip-use")
	revs := revisions(t, remote, "prod")
	if len(revs) != 1 {
		t.Fatalf("remote revisions: %v", revs)
	}
	// As an older rezup wrote it: no pin, the node looks the key up.
	metaPath := filepath.Join(remote, "prod", "revisions", revs[0], "revision.json")
	raw, _ := remoteMeta(t, filepath.Dir(metaPath))
	delete(raw, "archive")
	b, err := json.MarshalIndent(raw, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(metaPath, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The cache writer's archive, named by the key's entry.json.
	ctx := context.Background()
	cacheDir := filepath.Join(remote, ".cache")
	sc, err := cache.Open(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	keys := storeEntries(t, filepath.Join(s.base, "admin"))
	k, err := cas.ParseKey(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	e, err := sc.Lookup(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(cacheDir, k.String(), e.Digest.String()+archive.Ext))
	if err != nil {
		t.Fatal(err)
	}
	bad := hostileModes(t, src)
	p := filepath.Join(t.TempDir(), "bad"+archive.Ext)
	if err := os.WriteFile(p, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cacheDir, k.String(), "entry.json")); err != nil {
		t.Fatal(err)
	}
	planted := e
	planted.Digest, planted.Size, planted.Signatures = cas.DigestOf(bad), int64(len(bad)), nil
	if _, err := sc.Publish(ctx, planted, archive.Archive{Path: p, Digest: planted.Digest, Size: planted.Size,
		PackStats: archive.PackStats{Files: e.Files, Bytes: e.Bytes}}); err != nil {
		t.Fatal(err)
	}

	node := filepath.Join(s.base, "node")
	if err := os.Mkdir(node, 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.Nobody.Chown(t, node)
	n := s.nobody(t)
	n.Env["REZUP_ROOT_REMOTE"] = remote
	n.Env["REZUP_ROOT_LOCAL"] = node
	fetched := 0
	for i := range 2 {
		res := n.run("use", "prod", "--", "rez-env", "nuke")
		if res.Code != 0 || strings.Contains(res.Stderr, "permission denied") {
			t.Fatalf("launch %d: exit %d\n%s", i+1, res.Code, res.Stderr)
		}
		rezReport(t, res.Stdout)
		fetched += strings.Count(res.Stderr, "rezup: fetching ")
	}
	if fetched != 1 {
		t.Errorf("%d downloads in two launches, want 1", fetched)
	}
	for _, k := range storeEntries(t, node) {
		checkModes(t, filepath.Join(node, ".store", k), 0o555, []fs.FileMode{0o444, 0o555}, nil, 0o444)
	}
	rep := gcAs(t, n)
	if len(rep.Errors) != 0 || len(rep.Skipped) != 0 || len(rep.Removed) != 0 {
		t.Errorf("gc after the fetch: removed %+v, skipped %+v, errors %q; want nothing", rep.Removed, rep.Skipped, rep.Errors)
	}
}
