package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/internal/testsrv"
)

// maxNodes bounds -nodes: each node is a process (and, on a cold cache
// without the farm lease, a pip build) on this one machine.
const maxNodes = 1000

// cacheUnderTest is a shared cache the fleet runs against.
type cacheUnderTest struct {
	name string // "dir", "http", "s3"
	loc  string // what REZUP_CACHE says
	// vars are the other variables a rezup needs to reach it (S3: AWS_*).
	vars map[string]string
	// counter counts the requests the cache served; nil when nothing can
	// count them (a directory cache).
	counter *testsrv.Counter
	// close stops what was started for the cache.
	close func()
}

// env points a rezup at the cache.
func (c cacheUnderTest) env() []string {
	env := []string{"REZUP_CACHE=" + c.loc}
	for _, k := range slices.Sorted(maps.Keys(c.vars)) {
		env = append(env, k+"="+c.vars[k])
	}
	return env
}

// startCache starts the cache name ("dir", "http" or "s3") in dir.
func startCache(name, dir string) (cacheUnderTest, error) {
	switch name {
	case "dir":
		return dirCache(filepath.Join(dir, "cache"))
	case "http":
		return httpCache(dir)
	case "s3":
		return s3Cache(dir)
	}
	return cacheUnderTest{}, fmt.Errorf("unknown cache %q: use dir, http or s3", name)
}

// dirCache is a directory cache at dir: nodes read it as files, so there
// are no requests to count.
func dirCache(dir string) (cacheUnderTest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return cacheUnderTest{}, err
	}
	return cacheUnderTest{name: "dir", loc: dir, close: func() {}}, nil
}

// httpCache is nginx (WebDAV PUT/DELETE) behind a counting proxy.
func httpCache(dir string) (cacheUnderTest, error) {
	srv, err := testsrv.Nginx(filepath.Join(dir, "nginx"), testsrv.NginxOptions{})
	if err != nil {
		return cacheUnderTest{}, err
	}
	cp, err := testsrv.CountingProxy(srv.URL)
	if err != nil {
		_ = srv.Stop() // the proxy's error is the one to report
		return cacheUnderTest{}, err
	}
	return cacheUnderTest{
		name:    "http",
		loc:     cp.URL + "/cache",
		counter: cp,
		close:   func() { _ = cp.Close(); _ = srv.Stop() }, // a bench's loopback servers: nothing to save
	}, nil
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
		_ = srv.Stop() // the bucket's error is the one to report
		return cacheUnderTest{}, err
	}
	cp, err := testsrv.CountingProxy(srv.Endpoint)
	if err != nil {
		_ = srv.Stop() // the proxy's error is the one to report
		return cacheUnderTest{}, err
	}
	return cacheUnderTest{
		name: "s3",
		loc:  "s3://rezup/cache",
		vars: map[string]string{
			"AWS_ENDPOINT_URL_S3":   cp.URL,
			"AWS_ACCESS_KEY_ID":     srv.AccessKey,
			"AWS_SECRET_ACCESS_KEY": srv.SecretKey,
			"AWS_REGION":            srv.Region,
		},
		counter: cp,
		close:   func() { _ = cp.Close(); _ = srv.Stop() }, // a bench's loopback servers: nothing to save
	}, nil
}

type fleetOptions struct {
	bin     string        // rezup
	tmp     string        // an empty or missing directory of the benchmark's own
	cache   string        // "dir", "http" or "s3"
	nodes   int           // node roots launching at once
	timeout time.Duration // bound on each phase: what is left is killed
	// userCache is the user cache of the admin's and every node's HOME;
	// "" for their own, as on fresh machines.
	userCache string
}

// fleetReport is what a fleet benchmark counted on one cache.
type fleetReport struct {
	nodes    int
	adminKey string // the key of the admin's remote revision
	// counted says whether the cache's requests were counted (not on a
	// directory cache).
	counted    bool
	warm, cold fleetPhase
	// leftovers are the processes still running once the run and its
	// servers are over; leftoversErr says why they could not be listed.
	leftovers    []string
	leftoversErr error
}

// fleetPhase is what one launch of every node at once did, counted from
// what the nodes left: their roots, the cache's requests, the cache.
type fleetPhase struct {
	ready  []time.Duration // of the nodes that exited 0
	failed []string        // "node N: exit …: last stderr line"
	// builds counts the nodes whose store holds a build they built.
	builds int
	// keys counts the nodes by the key their revision links ("" for a
	// node with no revision).
	keys map[string]int
	// archiveGETs are the archive GETs the cache served (counted only).
	archiveGETs int64
	counts      *testsrv.Counts
	// archives are the archives the cache holds afterwards, by key.
	archives map[string]int
	// left are the processes still running in the nodes' process groups
	// once every node exited; leftErr says why they could not be listed.
	left    []string
	leftErr error
}

// check returns what is off in the counts, or nothing: every node ready;
// no build on a warm fleet and exactly one on a cold one, every node's
// revision on the one key; one archive GET per node that did not build
// (HTTP, S3); one archive in the cache; nothing left running.
func (r *fleetReport) check() []string {
	var p []string
	phase := func(name string, ph *fleetPhase, wantBuilds int, wantKey string) {
		if len(ph.ready) != r.nodes {
			p = append(p, fmt.Sprintf("%s: %d of %d nodes ready", name, len(ph.ready), r.nodes))
		}
		if ph.builds != wantBuilds {
			p = append(p, fmt.Sprintf("%s: %d nodes built, want %d", name, ph.builds, wantBuilds))
		}
		key := wantKey // the nodes' one key, when they agree on one
		if key == "" && len(ph.keys) == 1 {
			for k := range ph.keys {
				key = k
			}
		}
		agree := len(ph.keys) == 1 && key != "" && ph.keys[key] == r.nodes
		if !agree {
			want := "one key"
			if wantKey != "" {
				want = "the admin's " + wantKey
			}
			p = append(p, fmt.Sprintf("%s: the nodes' revisions link %s, want %s on all %d", name, keyCounts(ph.keys), want, r.nodes))
		}
		if r.counted && ph.archiveGETs != int64(r.nodes-ph.builds) {
			p = append(p, fmt.Sprintf("%s: %d archive GETs, want %d (one per node that did not build)", name, ph.archiveGETs, r.nodes-ph.builds))
		}
		// Where the nodes disagree, that is the problem: one archive of
		// any key is then all there is to ask of the cache.
		one := len(ph.archives) == 1 && slices.Contains(slices.Collect(maps.Values(ph.archives)), 1)
		if !one || (agree && ph.archives[key] != 1) {
			p = append(p, fmt.Sprintf("%s: the cache holds archives %s, want one of the nodes' key", name, keyCounts(ph.archives)))
		}
		if len(ph.left) > 0 {
			p = append(p, fmt.Sprintf("%s: left running in the nodes' process groups: %s", name, strings.Join(ph.left, ", ")))
		}
	}
	phase("warm", &r.warm, 0, r.adminKey)
	phase("cold", &r.cold, 1, "")
	if len(r.leftovers) > 0 {
		p = append(p, "left running after the run: "+strings.Join(r.leftovers, ", "))
	}
	return p
}

// keyCounts prints a count by key, keys shortened, sorted: "1a2b…:4".
func keyCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var s []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		name := k
		if len(name) > 8 {
			name = name[:8] + "…"
		}
		if name == "" {
			name = "(none)"
		}
		s = append(s, fmt.Sprintf("%s:%d", name, m[k]))
	}
	return strings.Join(s, " ")
}

// fleetBench starts the cache o.cache, publishes a revision to it as an
// admin, then launches `rezup use prod -- true` on o.nodes fresh node
// roots at once (warm: the cache has the build). Then it empties the
// cache and launches o.nodes more fresh nodes at once on a remote revision
// written as the Python rezup wrote them, without a lock or a pin (cold:
// one build across the farm is the goal). Its key is the one the nodes
// compute from the frozen recipe: what each phase counts is what the
// nodes' roots say they did, never a key guessed in advance.
func fleetBench(w io.Writer, o fleetOptions) (*fleetReport, error) {
	watchChildren()
	cache, err := startCache(o.cache, o.tmp)
	if err != nil {
		return nil, err
	}
	r := &fleetReport{nodes: o.nodes, counted: cache.counter != nil}
	err = fleetRun(w, r, cache, o)
	cache.close()
	if err != nil {
		return nil, err
	}
	r.leftovers, r.leftoversErr = leftovers()
	if r.leftoversErr != nil {
		fmt.Fprintf(w, "  left running:       not checked (%v)\n", r.leftoversErr)
	} else {
		fmt.Fprintf(w, "  left running:       %d processes once the run and its servers are over (want 0)\n", len(r.leftovers))
	}
	return r, nil
}

func fleetRun(w io.Writer, r *fleetReport, cache cacheUnderTest, o fleetOptions) error {
	s := &fleetSetup{bin: o.bin, tmp: o.tmp, remote: filepath.Join(o.tmp, "remote"), cache: cache, timeout: o.timeout, userCache: o.userCache}
	var err error
	if r.adminKey, err = s.publish(); err != nil {
		return err
	}
	fmt.Fprintf(w, "fleet: %s cache, %d nodes launching `rezup use NAME -- true` at once (one machine, %s)\n", cache.name, o.nodes, o.tmp)
	if cache.counter != nil {
		cache.counter.Reset() // the admin's publishing is not the fleet's
	}
	if err := s.launch("warm", "prod", o.nodes, &r.warm); err != nil {
		return err
	}
	s.print(w, "warm", "the cache has the admin's build "+r.adminKey, &r.warm, o.nodes, 0)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := emptyCache(ctx, cache.loc, cache.vars); err != nil {
		return err
	}
	if err := s.legacyRevision("cold"); err != nil {
		return err
	}
	if cache.counter != nil {
		cache.counter.Reset()
	}
	if err := s.launch("cold", "cold", o.nodes, &r.cold); err != nil {
		return err
	}
	s.print(w, "cold", "the cache emptied; a remote revision as the Python rezup wrote it: no lock, no pin", &r.cold, o.nodes, 1)
	return nil
}

// fleetSetup is what every node of the fleet shares.
type fleetSetup struct {
	bin       string
	tmp       string
	remote    string // the remote root
	cache     cacheUnderTest
	timeout   time.Duration
	userCache string // see fleetOptions
}

// publish is the admin's `rezup add prod --remote --skip-use`, with the
// cache under test; it returns the key of the build its root holds.
func (s *fleetSetup) publish() (string, error) {
	home, wheels := filepath.Join(s.tmp, "admin"), filepath.Join(s.tmp, "wheels")
	if err := testkit.WheelHouseAt(wheels); err != nil {
		return "", err
	}
	if err := newHome(home, "rezup.prod.toml", wheels, ""); err != nil {
		return "", err
	}
	root := filepath.Join(home, ".rezup")
	env := append(homeEnv(home, s.userCache), "REZUP_ROOT_LOCAL="+root, "REZUP_ROOT_REMOTE="+s.remote)
	if _, err := timed(append(env, s.cache.env()...), home, nil, s.bin, "add", "prod", "--remote", "--skip-use"); err != nil {
		return "", fmt.Errorf("admin: %w", err)
	}
	es, err := storeEntries(root)
	if err != nil {
		return "", err
	}
	if len(es) != 1 {
		return "", fmt.Errorf("admin: its root holds %d builds after one add, want 1", len(es))
	}
	return es[0].key, nil
}

// legacyRevision writes container's remote revision as the Python rezup
// wrote them: prod's frozen recipe and a revision.json with no key, no
// lock and no pin. Each node computes its key from the recipe (a key of
// its own: keys cover the lock) and looks it up in the cache.
func (s *fleetSetup) legacyRevision(container string) error {
	revs, err := filepath.Glob(filepath.Join(s.remote, "prod", "revisions", "*", "rezup.toml"))
	if err != nil {
		return err
	}
	if len(revs) != 1 {
		return fmt.Errorf("%s holds %d revisions, want the admin's one", filepath.Join(s.remote, "prod", "revisions"), len(revs))
	}
	frozen, err := os.ReadFile(revs[0])
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
// left, pip included); then it counts, into ph, what the nodes did.
func (s *fleetSetup) launch(phase, container string, n int, ph *fleetPhase) error {
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
			return err
		}
		roots[i] = filepath.Join(node, "root")
		c := exec.CommandContext(ctx, s.bin, "use", container, "--", "true")
		c.Env = append(homeEnv(home, s.userCache), "REZUP_ROOT_LOCAL="+roots[i], "REZUP_ROOT_REMOTE="+s.remote)
		c.Env = append(c.Env, s.cache.env()...)
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
		return fmt.Errorf("%s run: not every node was ready within %v (-fleet-timeout)", phase, s.timeout)
	}
	var leaders []int
	for i, r := range results {
		if cmds[i].Process != nil {
			leaders = append(leaders, cmds[i].Process.Pid)
		}
		if r.err != nil {
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			ph.failed = append(ph.failed, fmt.Sprintf("node %d: %v: %s", i, r.err, lines[len(lines)-1]))
			continue
		}
		ph.ready = append(ph.ready, r.took)
	}
	ph.left, ph.leftErr = inGroups(leaders)
	ph.keys = map[string]int{}
	for _, root := range roots {
		es, err := storeEntries(root)
		if err != nil {
			return fmt.Errorf("%s run: %w", phase, err)
		}
		if builtHere(es) > 0 {
			ph.builds++
		}
		keys, err := revisionKeys(root, container)
		if err != nil {
			return fmt.Errorf("%s run: %w", phase, err)
		}
		key := ""
		if len(keys) > 0 {
			key = keys[len(keys)-1]
		}
		ph.keys[key]++
	}
	if s.cache.counter != nil {
		c := s.cache.counter.Snapshot()
		ph.counts = &c
		ph.archiveGETs = c.Get("GET", testsrv.KindArchive).Requests
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel2()
	var err error
	if ph.archives, err = cacheArchives(ctx2, s.cache.loc, s.cache.vars); err != nil {
		return fmt.Errorf("%s run: %w", phase, err)
	}
	return nil
}

// print prints one phase: time to ready, what the cache served, builds.
func (s *fleetSetup) print(w io.Writer, phase, what string, r *fleetPhase, n, wantBuilds int) {
	fmt.Fprintf(w, "  %s (%s):\n", phase, what)
	fmt.Fprintf(w, "    ready:            %d of %d nodes\n", len(r.ready), n)
	for i, f := range r.failed {
		if i == 5 {
			fmt.Fprintf(w, "    … and %d more failures\n", len(r.failed)-5)
			break
		}
		fmt.Fprintf(w, "    failed:           %s\n", f)
	}
	if len(r.ready) > 0 {
		fmt.Fprintf(w, "    time to ready:    p50 %v, p99 %v, max %v\n",
			percentile(r.ready, 0.5).Round(time.Millisecond), percentile(r.ready, 0.99).Round(time.Millisecond), slices.Max(r.ready).Round(time.Millisecond))
	}
	if r.counts == nil {
		fmt.Fprintf(w, "    per node:         n/a (a %s cache is read as files: no requests to count)\n", s.cache.name)
		fmt.Fprintf(w, "    archive GETs:     n/a\n")
	} else {
		c := *r.counts
		total := c.Total()
		fmt.Fprintf(w, "    per node (mean):  %.1f requests, %s served\n", float64(total.Requests)/float64(n), mib(total.Served/int64(n)))
		// Every node that did not build fetches the archive once.
		fmt.Fprintf(w, "    archive GETs:     %d in all (want %d, one per node that did not build; retries and resumes included)\n",
			r.archiveGETs, n-r.builds)
		fmt.Fprintf(w, "    by kind:          archive %d, entry %d, lease %d, other %d requests; archive PUTs %d\n",
			c.Kind(testsrv.KindArchive).Requests, c.Kind(testsrv.KindEntry).Requests, c.Kind(testsrv.KindLease).Requests,
			c.Kind(testsrv.KindOther).Requests, c.Get("PUT", testsrv.KindArchive).Requests)
		var errs int64
		for code, k := range c.Status {
			if code >= 500 {
				errs += k
			}
		}
		fmt.Fprintf(w, "    server errors:    %d responses 5xx\n", errs)
	}
	fmt.Fprintf(w, "    builds:           %d nodes built (want %d), counted from their stores\n", r.builds, wantBuilds)
	fmt.Fprintf(w, "    revisions' keys:  %s (nodes by the key their revision links)\n", keyCounts(r.keys))
	fmt.Fprintf(w, "    cache archives:   %s (by key, after the run)\n", keyCounts(r.archives))
	if r.leftErr != nil {
		fmt.Fprintf(w, "    left running:     not checked (%v)\n", r.leftErr)
	} else {
		fmt.Fprintf(w, "    left running:     %d processes in the nodes' groups (want 0)\n", len(r.left))
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
