package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/testkit"
)

// The smoke tests run every benchmark mode through the very code
// rezup-bench runs, in a small size, and fail on counts that are off
// (never on a time): a benchmark that stopped measuring what it says
// fails here, in CI, before anyone quotes its figures.
//
// The fleet's runs one after the other, never beside another test: its
// check that nothing is left running looks at every child of this process
// (and reaps the zombies among them). The other modes run in parallel,
// after it: go test starts no parallel test before every sequential one
// has ended.

func TestMain(m *testing.M) {
	code := testkit.Main(m)
	if sharedCache.dir != "" {
		os.RemoveAll(sharedCache.dir) // a temp dir of this process only
	}
	os.Exit(code)
}

var sharedCache struct {
	once sync.Once
	dir  string
	err  error
}

// userCache is the user cache every HOME of the smoke tests shares (but
// -vs's): pip's bundled wheel is unpacked and compiled once per process,
// not once per throwaway HOME, which would double what each build costs.
func userCache(t *testing.T) string {
	t.Helper()
	sharedCache.once.Do(func() { sharedCache.dir, sharedCache.err = os.MkdirTemp("", "rezup-bench-cache-") })
	if sharedCache.err != nil {
		t.Fatal(sharedCache.err)
	}
	return sharedCache.dir
}

// smoke returns the rezup binary the smoke tests measure (built once per
// test process), or skips under -short: they run rezup, pip and the cache
// servers for tens of seconds. With CI=true or REZUP_TEST_STRICT=1 they
// never skip.
func smoke(t *testing.T) string {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" && os.Getenv("REZUP_TEST_STRICT") != "1" {
		t.Skip("-short: the benchmarks' smoke runs rezup, pip, nginx and versitygw for tens of seconds (CI=true runs it)")
	}
	testkit.Python(t)
	for _, tool := range []string{"tar", "zstd", "sync", "go"} {
		testkit.RequireTool(t, tool)
	}
	return testkit.Binary(t, "github.com/rezup/rezup/cmd/rezup")
}

// report logs a mode's output (shown with -v or on failure) and fails on
// each count that is off.
func report(t *testing.T, out *bytes.Buffer, start time.Time, problems []string) {
	t.Helper()
	t.Logf("output:\n%s", out)
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
	for _, p := range problems {
		t.Errorf("counts off: %s", p)
	}
}

func TestSmokeLaunch(t *testing.T) {
	t.Parallel()
	bin := smoke(t)
	start := time.Now()
	var out bytes.Buffer
	// The same binary as -vs (so it may share the user cache): what is
	// exercised is the second HOME, root and revision, and the ratios.
	r, err := launchBench(&out, launchOptions{bin: bin, vs: bin, tmp: t.TempDir(), n: 3, warmup: 1, userCache: userCache(t), vsUserCache: userCache(t)})
	if err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	report(t, &out, start, r.check())
	if len(r.labels) != 7 {
		t.Errorf("timed %d commands (%v), want 7: true, the empty program, use and --version of rezup and of -vs, python3", len(r.labels), r.labels)
	}
}

func TestSmokeStore(t *testing.T) {
	t.Parallel()
	bin := smoke(t)
	start := time.Now()
	var out bytes.Buffer
	// The same binary as -vs: the pull comparison runs its third side.
	r, err := storeBench(&out, storeOptions{bin: bin, vs: bin, tmp: t.TempDir(), rounds: 1, shape: smallVenv, userCache: userCache(t)})
	if err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	if !r.pull.vs || len(r.pull.vsKeys) != 1 {
		t.Errorf("the pull comparison recorded %d rounds of -vs (vs %v), want 1", len(r.pull.vsKeys), r.pull.vs)
	}
	report(t, &out, start, r.check())
}

func TestSmokeBuild(t *testing.T) {
	t.Parallel()
	bin := smoke(t)
	testkit.RequireTool(t, buildPython)
	start := time.Now()
	var out bytes.Buffer
	r, err := buildBench(&out, buildOptions{bin: bin, tmp: t.TempDir(), rounds: 1, userCache: userCache(t)})
	if err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	report(t, &out, start, r.check())
}

// TestSmokeFleet runs a fleet of 4 nodes, warm then cold, on each cache:
// the cold run must build once across the farm.
func TestSmokeFleet(t *testing.T) {
	bin := smoke(t)
	for _, cache := range []string{"dir", "http", "s3"} {
		t.Run(cache, func(t *testing.T) {
			start := time.Now()
			var out bytes.Buffer
			r, err := fleetBench(&out, fleetOptions{bin: bin, tmp: filepath.Join(t.TempDir(), "fleet"), cache: cache, nodes: 4, timeout: 3 * time.Minute, userCache: userCache(t)})
			if err != nil {
				t.Fatalf("%v\n%s", err, &out)
			}
			report(t, &out, start, r.check())
			if r.leftoversErr != nil && !errors.Is(r.leftoversErr, errNoProcs) {
				t.Errorf("could not check that nothing is left running: %v", r.leftoversErr)
			}
		})
	}
}

// TestSmokeDelta runs the delta benchmark with a package of 1 MB and the
// three revisions: every figure is printed and the counts hold.
func TestSmokeDelta(t *testing.T) {
	t.Parallel()
	bin := smoke(t)
	start := time.Now()
	var out bytes.Buffer
	r, err := deltaBench(&out, deltaOptions{bin: bin, tmp: filepath.Join(t.TempDir(), "delta"), rounds: 1, mb: 1, builds: 3, userCache: userCache(t)})
	if err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	report(t, &out, start, r.check())
	for _, fig := range []string{"(1) bytes", "(2) time to ready", "(3) disk", "(4) a cold node", "(5) a node with every object"} {
		if !bytes.Contains(out.Bytes(), []byte(fig)) {
			t.Errorf("the output has no figure %q", fig)
		}
	}
}
