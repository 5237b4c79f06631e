package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/backend/httpbackend"
	"github.com/rezup/rezup/cas/backend/s3backend"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/internal/testsrv"
)

// maxNodes bounds -nodes: each node is a process (and, on a cold cache
// without the farm lease, a pip build) on this one machine.
const maxNodes = 1000

// cacheUnderTest is a shared cache the fleet runs against.
type cacheUnderTest struct {
	name string // "dir", "http", "s3"
	// env points a rezup at the cache: REZUP_CACHE=… and, for S3, the
	// AWS_* variables.
	env []string
	// open opens the cache from this process, to remove a key for the
	// cold run and count what it then holds.
	open func() (*cache.Cache, error)
	// counter counts the requests the cache served; nil when nothing can
	// count them (a directory cache).
	counter *testsrv.Counter
	// close stops what was started for the cache.
	close func()
}

// dirCache is a directory cache at dir: nodes read it as files, so there
// are no requests to count.
func dirCache(dir string) (cacheUnderTest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return cacheUnderTest{}, err
	}
	return cacheUnderTest{
		name:  "dir",
		env:   []string{"REZUP_CACHE=" + dir},
		open:  func() (*cache.Cache, error) { return cache.Open(dir) },
		close: func() {},
	}, nil
}

// httpCache is nginx (WebDAV PUT/DELETE) behind a counting proxy.
func httpCache(dir string) (cacheUnderTest, error) {
	srv, err := testsrv.Nginx(filepath.Join(dir, "nginx"), testsrv.NginxOptions{})
	if err != nil {
		return cacheUnderTest{}, err
	}
	cp, err := testsrv.CountingProxy(srv.URL)
	if err != nil {
		srv.Stop()
		return cacheUnderTest{}, err
	}
	loc := cp.URL + "/cache"
	return cacheUnderTest{
		name:    "http",
		env:     []string{"REZUP_CACHE=" + loc},
		open:    func() (*cache.Cache, error) { return openCache(loc, nil) },
		counter: cp,
		close:   func() { cp.Close(); srv.Stop() },
	}, nil
}

// openCache opens the cache at loc as rezup would, with the network
// backends reading env (nil: no variables).
func openCache(loc string, env map[string]string) (*cache.Cache, error) {
	getenv := func(k string) string { return env[k] }
	r := cache.Schemes()
	r.Register("http", httpbackend.Opener(getenv))
	r.Register("https", httpbackend.Opener(getenv))
	r.Register("s3", s3backend.Opener(getenv))
	return cache.OpenWith(loc, cache.OpenOptions{Schemes: r})
}

// s3Cache is versitygw behind a counting proxy; the proxy passes Host
// through, so SigV4 signatures made for the proxy's address verify.
func s3Cache(dir string) (cacheUnderTest, error) {
	srv, err := testsrv.VersityGW(filepath.Join(dir, "versitygw"))
	if err != nil {
		return cacheUnderTest{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.MakeBucket(ctx, "rezup"); err != nil {
		srv.Stop()
		return cacheUnderTest{}, err
	}
	cp, err := testsrv.CountingProxy(srv.Endpoint)
	if err != nil {
		srv.Stop()
		return cacheUnderTest{}, err
	}
	const loc = "s3://rezup/cache"
	env := map[string]string{
		"AWS_ENDPOINT_URL_S3":   cp.URL,
		"AWS_ACCESS_KEY_ID":     srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
		"AWS_REGION":            srv.Region,
	}
	cu := cacheUnderTest{
		name:    "s3",
		env:     []string{"REZUP_CACHE=" + loc},
		open:    func() (*cache.Cache, error) { return openCache(loc, env) },
		counter: cp,
		close:   func() { cp.Close(); srv.Stop() },
	}
	for k, v := range env {
		cu.env = append(cu.env, k+"="+v)
	}
	return cu, nil
}

// fleetSetup is what every node of the fleet shares.
type fleetSetup struct {
	bin     string
	tmp     string
	env     []string // the caller's environment, less rezup's and HOME
	remote  string   // the remote root
	cache   cacheUnderTest
	timeout time.Duration
}

// fleetRun is what one launch of every node at once measured.
type fleetRun struct {
	ready  []time.Duration // of the nodes that exited 0
	failed []string        // "node N: exit …: last stderr line"
	builds int             // nodes whose build's manifest says "built"
	keys   map[string]int  // the store entries the nodes ended with
	counts *testsrv.Counts // nil without a counter
}

// runFleet runs the fleet benchmark against each cache named.
func runFleet(bin, tmp string, names []string, n int, timeout time.Duration) error {
	if n < 1 || n > maxNodes {
		return fmt.Errorf("-nodes is %d: use 1 to %d", n, maxNodes)
	}
	for _, name := range names {
		dir := filepath.Join(tmp, "fleet-"+name)
		var sc cacheUnderTest
		var err error
		switch name {
		case "dir":
			sc, err = dirCache(filepath.Join(dir, "cache"))
		case "http":
			sc, err = httpCache(dir)
		case "s3":
			sc, err = s3Cache(dir)
		default:
			err = fmt.Errorf("-caches: unknown cache %q: use dir, http or s3", name)
		}
		if err != nil {
			return err
		}
		err = fleet(sc, n, bin, dir, timeout)
		sc.close()
		if err != nil {
			return fmt.Errorf("fleet on the %s cache: %w", name, err)
		}
	}
	return nil
}

// fleet publishes a revision to cache as an admin, then launches
// `rezup use prod -- true` on n fresh node roots at once (warm: the cache
// has the build); then removes the key from the cache and launches n more
// fresh nodes at once on a remote revision that has no pin, as the Python
// rezup wrote them (cold: one build across the farm is the goal).
func fleet(sc cacheUnderTest, n int, bin, tmp string, timeout time.Duration) error {
	s := &fleetSetup{bin: bin, tmp: tmp, remote: filepath.Join(tmp, "remote"), cache: sc, timeout: timeout}
	s.env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "REZUP_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "AWS_")
	})
	key, err := s.publish()
	if err != nil {
		return err
	}
	fmt.Printf("fleet: %s cache, %d nodes launching `rezup use NAME -- true` at once (one machine, %s)\n", sc.name, n, tmp)
	if sc.counter != nil {
		sc.counter.Reset() // the admin's publishing is not the fleet's
	}
	warm, err := s.launch("warm", "prod", n)
	if err != nil {
		return err
	}
	s.report("warm", "the cache has the build", warm, n, 0)

	if err := s.legacyRevision("cold"); err != nil {
		return err
	}
	c, err := sc.open()
	if err != nil {
		return err
	}
	if err := c.Remove(context.Background(), key); err != nil {
		return fmt.Errorf("remove %s from the cache: %w", key, err)
	}
	if sc.counter != nil {
		sc.counter.Reset()
	}
	cold, err := s.launch("cold", "cold", n)
	if err != nil {
		return err
	}
	if cold.keys[key.String()] == 0 {
		return fmt.Errorf("cold run: no node built key %s (their stores hold %v): the cold revision's key differs from the admin's", key, cold.keys)
	}
	s.report("cold", fmt.Sprintf("remote revision without a pin, key %s removed from the cache", key), cold, n, 1)
	archives, err := c.Archives(context.Background(), key)
	if err != nil {
		return fmt.Errorf("list the archives of %s: %w", key, err)
	}
	fmt.Printf("  cold: the cache now holds %d archive(s) for the key (want 1)\n", len(archives))
	return nil
}

// publish is the admin's `rezup add prod --remote --skip-use`, with the
// cache under test; it returns the key published.
func (s *fleetSetup) publish() (cas.Key, error) {
	home, wheels := filepath.Join(s.tmp, "admin"), filepath.Join(s.tmp, "wheels")
	if err := testkit.WheelHouseAt(wheels); err != nil {
		return cas.Key{}, err
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return cas.Key{}, err
	}
	if err := os.WriteFile(filepath.Join(home, "rezup.prod.toml"), []byte(testkit.RecipeTOML(wheels, "")), 0o644); err != nil {
		return cas.Key{}, err
	}
	add := exec.Command(s.bin, "add", "prod", "--remote", "--skip-use")
	add.Env = append(slices.Clone(s.env), "HOME="+home, "REZUP_ROOT_LOCAL="+filepath.Join(home, ".rezup"), "REZUP_ROOT_REMOTE="+s.remote)
	add.Env = append(add.Env, s.cache.env...)
	var stderr bytes.Buffer
	add.Dir, add.Stderr = home, &stderr
	if err := add.Run(); err != nil {
		return cas.Key{}, fmt.Errorf("admin: rezup add prod --remote: %w\n%s", err, stderr.String())
	}
	rev, err := s.onlyRevision("prod")
	if err != nil {
		return cas.Key{}, err
	}
	var meta struct{ Key string }
	b, err := os.ReadFile(filepath.Join(rev, "revision.json"))
	if err == nil {
		err = json.Unmarshal(b, &meta)
	}
	if err != nil {
		return cas.Key{}, fmt.Errorf("admin: read the remote revision: %w", err)
	}
	return cas.ParseKey(meta.Key)
}

func (s *fleetSetup) onlyRevision(container string) (string, error) {
	dir := filepath.Join(s.remote, container, "revisions")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(ents) != 1 {
		return "", fmt.Errorf("%s holds %d entries, want one revision", dir, len(ents))
	}
	return filepath.Join(dir, ents[0].Name()), nil
}

// legacyRevision writes container's remote revision as the Python rezup
// wrote them: prod's frozen recipe and a revision.json with no key and no
// pin. Each node computes the key (prod's) and looks it up in the cache.
func (s *fleetSetup) legacyRevision(container string) error {
	prod, err := s.onlyRevision("prod")
	if err != nil {
		return err
	}
	frozen, err := os.ReadFile(filepath.Join(prod, "rezup.toml"))
	if err != nil {
		return err
	}
	now := time.Now()
	dir := filepath.Join(s.remote, container, "revisions", fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "rezup.toml"), frozen, 0o644); err != nil {
		return err
	}
	meta := `{"rezup_version": "2.5.0", "creator": "admin", "hostname": "bench", "revision_path": "/old/path", "venvs": ["rez"]}`
	return os.WriteFile(filepath.Join(dir, "revision.json"), []byte(meta), 0o644)
}

// launch starts `rezup use container -- true` on n fresh node roots at
// once and waits for all of them, or the timeout (which kills what is
// left, pip included).
func (s *fleetSetup) launch(phase, container string, n int) (*fleetRun, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	type result struct {
		took   time.Duration
		err    error
		stderr string
	}
	results := make([]result, n)
	cmds := make([]*exec.Cmd, n)
	roots := make([]string, n)
	for i := range n {
		node := filepath.Join(s.tmp, phase, fmt.Sprintf("node-%04d", i))
		home := filepath.Join(node, "home")
		if err := os.MkdirAll(home, 0o755); err != nil {
			return nil, err
		}
		roots[i] = filepath.Join(node, "root")
		c := exec.CommandContext(ctx, s.bin, "use", container, "--", "true")
		c.Env = append(slices.Clone(s.env), "HOME="+home, "REZUP_ROOT_LOCAL="+roots[i], "REZUP_ROOT_REMOTE="+s.remote)
		c.Env = append(c.Env, s.cache.env...)
		c.Dir = home
		killGroup(c)
		cmds[i] = c
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stderr bytes.Buffer
			c.Stderr = &stderr
			<-start
			t0 := time.Now()
			err := c.Run()
			results[i] = result{took: time.Since(t0), err: err, stderr: stderr.String()}
		}()
	}
	close(start)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s run: not every node was ready within %v (-fleet-timeout)", phase, s.timeout)
	}
	run := &fleetRun{keys: map[string]int{}}
	for i, r := range results {
		if r.err != nil {
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			run.failed = append(run.failed, fmt.Sprintf("node %d: %v: %s", i, r.err, lines[len(lines)-1]))
			continue
		}
		run.ready = append(run.ready, r.took)
	}
	for _, root := range roots {
		manifests, _ := filepath.Glob(filepath.Join(root, ".store", "*", ".rezup", "manifest.json")) // the pattern is valid
		for _, m := range manifests {
			var man struct {
				Origin *struct{ How string } `json:"origin"`
			}
			b, err := os.ReadFile(m)
			if err != nil || json.Unmarshal(b, &man) != nil {
				return nil, fmt.Errorf("%s run: unreadable manifest %s", phase, m)
			}
			run.keys[filepath.Base(filepath.Dir(filepath.Dir(m)))]++
			if man.Origin != nil && man.Origin.How == "built" {
				run.builds++
			}
		}
	}
	if s.cache.counter != nil {
		c := s.cache.counter.Snapshot()
		run.counts = &c
	}
	return run, nil
}

// report prints one run: time to ready, what the cache served, builds.
func (s *fleetSetup) report(phase, what string, r *fleetRun, n, wantBuilds int) {
	fmt.Printf("  %s (%s):\n", phase, what)
	fmt.Printf("    ready:            %d of %d nodes\n", len(r.ready), n)
	for i, f := range r.failed {
		if i == 5 {
			fmt.Printf("    … and %d more failures\n", len(r.failed)-5)
			break
		}
		fmt.Printf("    failed:           %s\n", f)
	}
	if len(r.ready) > 0 {
		fmt.Printf("    time to ready:    p50 %v, p99 %v, max %v\n",
			percentile(r.ready, 0.5).Round(time.Millisecond), percentile(r.ready, 0.99).Round(time.Millisecond), slices.Max(r.ready).Round(time.Millisecond))
	}
	if r.counts == nil {
		fmt.Printf("    per node:         n/a (a %s cache is read as files: no requests to count)\n", s.cache.name)
		fmt.Printf("    archive GETs:     n/a\n")
	} else {
		c := *r.counts
		total := c.Total()
		fmt.Printf("    per node (mean):  %.1f requests, %s served\n", float64(total.Requests)/float64(n), mib(total.Served/int64(n)))
		// Every node that did not build fetches the archive once.
		fmt.Printf("    archive GETs:     %d in all (want %d, one per node that did not build; retries and resumes included)\n",
			c.Get("GET", testsrv.KindArchive).Requests, n-r.builds)
		fmt.Printf("    by kind:          archive %d, entry %d, lease %d, other %d requests; archive PUTs %d\n",
			c.Kind(testsrv.KindArchive).Requests, c.Kind(testsrv.KindEntry).Requests, c.Kind(testsrv.KindLease).Requests,
			c.Kind(testsrv.KindOther).Requests, c.Get("PUT", testsrv.KindArchive).Requests)
		var errs int64
		for code, k := range c.Status {
			if code >= 500 {
				errs += k
			}
		}
		fmt.Printf("    server errors:    %d responses 5xx\n", errs)
	}
	fmt.Printf("    builds:           %d (want %d)\n", r.builds, wantBuilds)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
