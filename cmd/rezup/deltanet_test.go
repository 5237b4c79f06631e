package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/cas/files"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/internal/testsrv"
	"github.com/rezup/rezup/materialize"
)

// A build published in the files format to an http:// cache (nginx) and to
// an s3:// one (versitygw) is fetched by a node file by file: its index,
// then ranged reads of the packs, into its object store.
func TestNetCachesServeTheFilesFormat(t *testing.T) {
	t.Parallel()
	t.Run("http", func(t *testing.T) {
		t.Parallel()
		srv := nginxCache(t, testsrv.NginxOptions{})
		f := newFarm(t)
		// Container next is prod and one extension more: a build B that
		// shares most of its contents with prod's, A.
		f.admin.Env["REZUP_CACHE"], f.admin.Env["REZUP_CACHE_FORMAT"] = srv.URL+"/rezup", "files"
		f.admin.WriteFile("rezup.next.toml", testkit.RecipeTOML(f.wheels, "[[extension]]\nname = \"foo\"\nurl = \"foo==1.0\"\n"))
		f.admin.MustRun("add", "next", "--remote", "--skip-use")
		f.publishTo(t, srv.URL+"/rezup", map[string]string{"REZUP_CACHE_FORMAT": "files"})
		node := checkFilesFetch(t, f, map[string]string{"REZUP_CACHE": srv.URL + "/rezup"})
		checkDeltaCounts(t, f, node, srv)
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		srv := s3Cache(t, "studio")
		aws := map[string]string{
			"AWS_ENDPOINT_URL_S3":   srv.Endpoint,
			"AWS_ACCESS_KEY_ID":     srv.AccessKey,
			"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
			"AWS_REGION":            srv.Region,
		}
		f := newFarm(t)
		env := map[string]string{"REZUP_CACHE_FORMAT": "files"}
		for k, v := range aws {
			env[k] = v
		}
		f.publishTo(t, "s3://studio/rezup", env)
		aws["REZUP_CACHE"] = "s3://studio/rezup"
		checkFilesFetch(t, f, aws)
	})
}

// checkFilesFetch has a new node of f, with env, launch prod, and checks
// it fetched the build by its index into its object store.
func checkFilesFetch(t *testing.T, f *farm, env map[string]string) *testkit.Session {
	t.Helper()
	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	for k, v := range env {
		node.Env[k] = v
	}
	res := node.MustRun("use", "prod", "--", "rez-env", "maya")
	rezReport(t, res.Stdout)
	if !strings.Contains(res.Stderr, "fetching") || !strings.Contains(res.Stderr, "(index, ") ||
		!strings.Contains(res.Stderr, "fetched") || strings.Contains(res.Stderr, "installing") {
		t.Errorf("the node did not fetch by index, or ran pip:\n%s", res.Stderr)
	}
	shards, err := os.ReadDir(filepath.Join(root, ".store", "objects"))
	if err != nil || len(shards) < 16 {
		t.Errorf("the object store has %d shards (%v)", len(shards), err)
	}
	return node
}

// checkDeltaCounts has node, which holds the objects of prod's build A,
// pull next's build B through a counting proxy: it reads B's index once,
// and of the packs only the ranges files.Plan gives for the contents A
// lacks (whole frames: more bytes than those contents, far fewer than
// the packs').
func checkDeltaCounts(t *testing.T, f *farm, node *testkit.Session, srv *testsrv.Server) {
	t.Helper()
	ctx := t.Context()
	sc, err := cache.Open(filepath.Join(srv.DataDir, "rezup"))
	if err != nil {
		t.Fatal(err)
	}
	index := func(container string) *files.Index {
		t.Helper()
		rev, err := materialize.Root{Dir: f.remote, Remote: true}.Latest(container)
		if err != nil || rev.Pin() == nil {
			t.Fatalf("%s: no pinned revision (%v)", container, err)
		}
		ix, _, err := sc.OpenIndex(ctx, *rev.Pin())
		if err != nil {
			t.Fatal(err)
		}
		return ix
	}
	a, b := index("prod"), index("next")
	have := map[cas.Digest]bool{}
	for _, c := range a.Contents {
		have[c.Digest] = true
	}
	var newBytes, newContents int64
	need := func(c files.Content) bool { return c.Size > 0 && !have[c.Digest] }
	for _, c := range b.Contents {
		if need(c) {
			newBytes += c.Size
			newContents++
		}
	}
	// next is published first, and prod packed over it: the packs are
	// shared, and a delta reads only part of them.
	var packBytes int64
	for _, p := range b.Packs {
		packBytes += p.Size
	}
	ranges := files.Plan(b, need, 256<<10)
	var rangeBytes int64
	for _, r := range ranges {
		rangeBytes += r.Length
	}

	cp, err := testsrv.CountingProxy(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	node.Env["REZUP_CACHE"] = cp.URL + "/rezup"
	res := node.MustRun("pull", "next")
	if !strings.Contains(res.Stderr, "fetched") {
		t.Errorf("the node did not fetch next:\n%s", res.Stderr)
	}
	got := cp.Snapshot()
	t.Logf("delta fetch of next over prod: %d contents of %d new (%d bytes), %d ranges of %d bytes, of B's packs of %d bytes; requests: %+v",
		newContents, len(b.Contents), newBytes, len(ranges), rangeBytes, packBytes, got.Routes)
	if ix := got.Get("GET", testsrv.KindIndex); ix.Requests != 1 {
		t.Errorf("read the index %d times, want 1", ix.Requests)
	}
	if p := got.Get("GET", testsrv.KindPack); p.Requests != int64(len(ranges)) || p.Served != rangeBytes {
		t.Errorf("pack reads: %d requests of %d bytes, want the %d ranges of %d bytes", p.Requests, p.Served, len(ranges), rangeBytes)
	}
	if p := got.Get("GET", testsrv.KindPack); p.Served*4 > packBytes {
		t.Errorf("read %d bytes of packs, over a quarter of B's %d", p.Served, packBytes)
	}
	if other := got.Total().Requests - got.Get("GET", testsrv.KindIndex).Requests - got.Get("GET", testsrv.KindPack).Requests; other > 4 {
		t.Errorf("%d requests besides the index and the packs, want only a few entry or revision reads: %+v", other, got.Routes)
	}
}
