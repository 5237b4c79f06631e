//go:build unix

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/testkit"
)

// legacyRevision writes a remote revision as the Python rezup left it:
// a recipe and a revision.json without a key, so nothing is pinned and
// the shared cache has no entry for its key. Every node computes the key
// and finds a miss.
func legacyRevision(t *testing.T, f *farm, container, recipe string) {
	t.Helper()
	dir := filepath.Join(f.remote, container, "revisions", "1619780350.588625")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rezup.toml"), []byte(recipe), 0o644); err != nil {
		t.Fatal(err)
	}
	meta := `{"rezup_version": "2.5.0", "creator": "admin", "hostname": "ws1", "revision_path": "/old/path", "venvs": ["rez"]}`
	if err := os.WriteFile(filepath.Join(dir, "revision.json"), []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
}

// nodeRun is one node's `rezup use` running in the background, in a
// process group of its own (so that a kill takes its pip along).
type nodeRun struct {
	cmd    *exec.Cmd
	stderr *testkit.Buffer
	stdout *testkit.Buffer
}

func startLaunch(t *testing.T, node *testkit.Session, args ...string) *nodeRun {
	t.Helper()
	cmd := node.Command(context.Background(), args...)
	l := &nodeRun{cmd: cmd, stderr: new(testkit.Buffer), stdout: new(testkit.Buffer)}
	cmd.Stdout, cmd.Stderr = l.stdout, l.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			// The test is over: whatever is left of the group goes.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	return l
}

// cacheObjects globs names under the farm's shared cache.
func cacheObjects(t *testing.T, f *farm, pattern string) []string {
	t.Helper()
	got, err := filepath.Glob(filepath.Join(f.remote, ".cache", pattern))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Sixteen nodes launch at once a remote revision whose key the shared
// cache does not have: one of them builds under the farm lease, the
// others wait, then fetch what it published. One pip build, one archive;
// over a directory cache and over S3 (a real versitygw).
func TestSixteenNodesBuildOnce(t *testing.T) {
	// Parallel with the rest: the nodes spend most of their time waiting
	// for the one builder, and a lone sequential test would leave a core
	// idle.
	t.Parallel()
	t.Run("dir", func(t *testing.T) {
		t.Parallel()
		f := newFarm(t)
		sixteenNodesBuildOnce(t, f, nil, func(pattern string) []string { return cacheObjects(t, f, pattern) })
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		srv := s3Cache(t, "farm")
		env := map[string]string{
			"REZUP_CACHE":           "s3://farm/cache",
			"AWS_ENDPOINT_URL_S3":   srv.Endpoint,
			"AWS_ACCESS_KEY_ID":     srv.AccessKey,
			"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
			"AWS_REGION":            srv.Region,
		}
		// versitygw's posix backend keeps each object as a file under
		// its bucket's directory: what the cache holds, seen from outside.
		objects := func(pattern string) []string {
			got, err := filepath.Glob(filepath.Join(srv.Dir, "data", "farm", "cache", pattern))
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		sixteenNodesBuildOnce(t, newFarm(t), env, objects)
	})
}

func sixteenNodesBuildOnce(t *testing.T, f *farm, env map[string]string, objects func(pattern string) []string) {
	legacyRevision(t, f, "legacy", testkit.RecipeTOML(f.wheels, ""))
	const n = 16
	launches := make([]*nodeRun, n)
	for i := range launches {
		node := f.node(t, filepath.Join(t.TempDir(), fmt.Sprintf("node%02d", i)))
		for k, v := range env {
			node.Env[k] = v
		}
		launches[i] = startLaunch(t, node, "use", "legacy", "--", "rez-env")
	}
	built, fetched, waited := 0, 0, 0
	for i, l := range launches {
		err := l.cmd.Wait()
		out := l.stderr.String()
		if err != nil {
			t.Errorf("node %d: %v\n%s", i, err, out)
			continue
		}
		rezReport(t, l.stdout.String())
		built += strings.Count(out, "rezup: built ")
		fetched += strings.Count(out, "rezup: fetched ")
		waited += strings.Count(out, "rezup: waiting for ")
		if strings.Contains(out, "rezup: built ") != strings.Contains(out, "rezup: installing ") {
			t.Errorf("node %d ran pip without building, or the other way round:\n%s", i, out)
		}
	}
	if built != 1 || fetched != n-1 {
		t.Errorf("%d builds and %d fetches, want 1 and %d", built, fetched, n-1)
	}
	if waited == 0 {
		t.Errorf("no node said it waited for the builder")
	}
	if archives := objects("*/*.tar.zst"); len(archives) != 1 {
		t.Errorf("archives in the cache: %v, want one", archives)
	}
	if entries := objects("*/entry.json"); len(entries) != 1 {
		t.Errorf("entries in the cache: %v, want one", entries)
	}
	if leases := objects("*/lease.*"); len(leases) != 0 {
		t.Errorf("leases left in the cache: %v", leases)
	}
}

// The node that holds the lease is killed halfway through its pip
// install. Its lease is no longer refreshed; once it expires
// (REZUP_CACHE_LEASE), one of the waiting nodes takes it over and
// builds, and the others fetch that build.
func TestKilledLeaseHolderIsTakenOver(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	// pip finds the wheels through this server, which holds every request
	// until released: the first one comes from the lease holder's pip.
	first, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	files := http.FileServer(http.Dir(f.wheels))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(first) })
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock() // before srv.Close: it waits for the held requests
	legacyRevision(t, f, "legacy", testkit.RecipeTOML(srv.URL+"/", ""))

	const n = 4
	launches := map[int]*nodeRun{}
	for i := range n {
		node := f.node(t, filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i)))
		node.Env["REZUP_CACHE_LEASE"] = "3s"
		l := startLaunch(t, node, "use", "legacy", "--", "rez-env")
		launches[l.cmd.Process.Pid] = l
	}
	select {
	case <-first:
	case <-time.After(2 * time.Minute):
		t.Fatal("no node ran pip within 2 minutes")
	}

	// The holder is the node the lease names.
	keys := cacheObjects(t, f, "????????????????????????????????")
	if len(keys) != 1 {
		t.Fatalf("key dirs in the cache: %v", keys)
	}
	key, err := cas.ParseKey(filepath.Base(keys[0]))
	if err != nil {
		t.Fatal(err)
	}
	c := cache.NewCache(backend.NewDirBackend(filepath.Join(f.remote, ".cache"), backend.DirOptions{}))
	rec, live, err := c.Lease(context.Background(), key, time.Now())
	if err != nil || !live {
		t.Fatalf("no live lease while a node runs pip: %+v, %v", rec, err)
	}
	holder := launches[rec.Holder.PID]
	if holder == nil {
		t.Fatalf("the lease names pid %d, which is none of the nodes", rec.Holder.PID)
	}
	if err := syscall.Kill(-rec.Holder.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = holder.cmd.Wait() // killed: its status says so, nothing to check
	delete(launches, rec.Holder.PID)
	unblock()

	built := 0
	for pid, l := range launches {
		err := l.cmd.Wait()
		out := l.stderr.String()
		if err != nil {
			t.Errorf("node pid %d: %v\n%s", pid, err, out)
			continue
		}
		rezReport(t, l.stdout.String())
		built += strings.Count(out, "rezup: built ")
		if !strings.Contains(out, "rezup: waiting for "+rec.Holder.String()+" to build "+key.String()) {
			t.Errorf("node pid %d did not say it waited for the killed holder %s:\n%s", pid, rec.Holder, out)
		}
	}
	if built != 1 {
		t.Errorf("%d of the surviving nodes built, want 1", built)
	}
	if archives := cacheObjects(t, f, "*/*.tar.zst"); len(archives) != 1 {
		t.Errorf("archives in the cache: %v, want one", archives)
	}
	// The new holder released its lease and the dead one's it superseded.
	if leases := cacheObjects(t, f, "*/lease.*"); len(leases) != 0 {
		t.Errorf("leases left in the cache: %v", leases)
	}
}

// A REZUP_CACHE_LEASE that is no duration, too short to refresh, or
// longer than waiters honour (cas.MaxLeaseTTL), is one error line with a hint from any command that opens the store; a
// good one is taken quietly.
func TestCacheLeaseVariable(t *testing.T) {
	t.Parallel()
	s, _ := newUser(t)
	for _, tt := range []struct {
		value string
		code  int
	}{
		{"soon", 1},
		{"10ms", 1},
		{"-2m", 1},
		{"16m", 1},
		{"90s", 0},
	} {
		s.Env["REZUP_CACHE_LEASE"] = tt.value
		res := s.Run("gc", "--dry-run")
		if res.Code != tt.code {
			t.Errorf("REZUP_CACHE_LEASE=%s: exit %d, want %d\n%s", tt.value, res.Code, tt.code, res.Stderr)
			continue
		}
		if tt.code == 0 {
			if strings.Contains(res.Stderr, "REZUP_CACHE_LEASE") {
				t.Errorf("REZUP_CACHE_LEASE=%s is reported:\n%s", tt.value, res.Stderr)
			}
			continue
		}
		want := fmt.Sprintf("rezup: error: REZUP_CACHE_LEASE=%q is not a duration from 1s to 15m0s\nrezup: hint: ", tt.value)
		if !strings.HasPrefix(res.Stderr, want) || strings.Count(res.Stderr, "\n") != 2 {
			t.Errorf("REZUP_CACHE_LEASE=%s:\n%s\nwant an error and a hint, starting %q", tt.value, res.Stderr, want)
		}
	}
}
