// Command rezup-bench measures rezup against comparators run in the same
// run: the archive path (pack, cold materialize, reuse) against tar and
// zstd (see storeBench), then the warm launch, `rezup use -- true` with
// the revision already local, against a bare `true`.
//
//	go run ./cmd/rezup-bench -n 300 -rounds 9
//
// For the launch, it builds rezup (unless -rezup is given), makes a throwaway HOME with a
// recipe that installs the test wheels offline, runs `rezup add --remote
// --skip-use` once (build and publish to a shared cache), then alternates
// the two commands and prints their medians, the median overhead and the
// ratio to the Python rezup's ~215 ms on the same kind of revision. Last,
// it times `rezup pull` on fresh node roots (fetch, verify, unpack,
// relocate from the cache) against the admin's build.
//
// `-only fleet` runs the fleet benchmark instead (see fleet): -nodes node
// roots launching at once against each cache of -caches.
//
//	go run ./cmd/rezup-bench -only fleet -nodes 100 -caches dir
//
// `-only build` runs the build benchmark instead (see buildMain): `rezup
// add` of a new and of an unchanged recipe against virtualenv + pip,
// -rounds each.
//
//	go run ./cmd/rezup-bench -only build
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rezup/rezup/internal/testkit"
)

// pythonRezupWarm is the Python rezup's warm `rezup use -- true`, measured
// on a real rez 3.4 revision (issue 2); PyPI is out of reach here, so it
// cannot be re-measured in the same run.
const pythonRezupWarm = 215 * time.Millisecond

func main() {
	n := flag.Int("n", 200, "runs of each command")
	bin := flag.String("rezup", "", "rezup binary to measure (default: build ./cmd/rezup)")
	keep := flag.Bool("keep", false, "keep the temp HOME")
	rounds := flag.Int("rounds", 5, "rounds of the store benchmark (pack, cold materialize)")
	only := flag.String("only", "", `run only "launch", "store", "fleet" or "build" (fleet and build run only when asked)`)
	nodes := flag.Int("nodes", 100, "fleet: node roots launching at once (at most 1000)")
	caches := flag.String("caches", "dir", "fleet: the caches to run against, comma-separated: dir, http, s3")
	fleetTimeout := flag.Duration("fleet-timeout", 20*time.Minute, "fleet: bound on each run of every node")
	flag.Parse()
	if *only != "" && *only != "launch" && *only != "store" && *only != "fleet" && *only != "build" {
		fmt.Fprintf(os.Stderr, "rezup-bench: error: -only is %q; use launch, store, fleet or build\n", *only)
		os.Exit(2)
	}
	if *nodes < 1 || *nodes > maxNodes {
		fmt.Fprintf(os.Stderr, "rezup-bench: error: -nodes is %d; use 1 to %d\n", *nodes, maxNodes)
		os.Exit(2)
	}
	if *only == "fleet" {
		if err := fleetMain(*bin, *keep, strings.Split(*caches, ","), *nodes, *fleetTimeout); err != nil {
			fmt.Fprintf(os.Stderr, "rezup-bench: error: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if *only == "build" {
		if err := buildMain(*bin, *keep, *rounds); err != nil {
			fmt.Fprintf(os.Stderr, "rezup-bench: error: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *rounds, *only, *bin, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "rezup-bench: error: %v\n", err)
		os.Exit(1)
	}
}

func run(n, rounds int, only, bin string, keep bool) error {
	tmp, cleanup, err := benchTemp("rezup-bench-", keep)
	if err != nil {
		return err
	}
	defer cleanup()
	if only != "launch" {
		if err := storeBench(filepath.Join(tmp, "store"), rounds); err != nil {
			return err
		}
	}
	if only == "store" {
		return nil
	}
	if bin, err = buildRezup(bin, tmp); err != nil {
		return err
	}
	home := filepath.Join(tmp, "home")
	wheels := filepath.Join(tmp, "wheels")
	if err := testkit.WheelHouseAt(wheels); err != nil {
		return err
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, "rezup.toml"), []byte(testkit.RecipeTOML(wheels, "")), 0o644); err != nil {
		return err
	}
	// The caller's environment, less anything that configures rezup.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "REZUP_") || strings.HasPrefix(kv, "HOME=")
	})
	env = append(env, "HOME="+home)
	// The admin's build: pip into venvs, then packed into the shared cache.
	remote := filepath.Join(tmp, "remote")
	adminEnv := append(slices.Clone(env), "REZUP_ROOT_REMOTE="+remote)
	add := exec.Command(bin, "add", "--remote", "--skip-use")
	add.Env, add.Dir, add.Stderr = adminEnv, home, os.Stderr
	start := time.Now()
	if err := add.Run(); err != nil {
		return fmt.Errorf("rezup add: %w", err)
	}
	buildTime := time.Since(start)
	truePath, err := exec.LookPath("true")
	if err != nil {
		return err
	}
	timeOf := func(argv ...string) (time.Duration, error) {
		c := exec.Command(argv[0], argv[1:]...)
		c.Env, c.Dir = env, home
		start := time.Now()
		err := c.Run()
		return time.Since(start), err
	}
	// The Python rezup cannot be installed here (no PyPI), so the same run
	// measures the floor of any Python launcher instead: the interpreter
	// starting and exiting, with site imports, before any rezup code.
	pyOut, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return fmt.Errorf("find python3: %w", err)
	}
	python := strings.TrimSpace(string(pyOut))
	var bare, warm, py []time.Duration
	for i := 0; i < n+5; i++ {
		b, err := timeOf(truePath)
		if err != nil {
			return err
		}
		w, err := timeOf(bin, "use", "--", "true")
		if err != nil {
			return fmt.Errorf("rezup use -- true: %w", err)
		}
		p, err := timeOf(python, "-c", "pass")
		if err != nil {
			return fmt.Errorf("python3 -c pass: %w", err)
		}
		if i >= 5 { // warm-up runs fill the page cache
			bare, warm, py = append(bare, b), append(warm, w), append(py, p)
		}
	}
	// Fresh nodes: verify, unpack and relocate from the shared cache.
	var cold []time.Duration
	for i := 0; i < 5; i++ {
		c := exec.Command(bin, "pull")
		c.Env = append(slices.Clone(adminEnv), "REZUP_ROOT_LOCAL="+filepath.Join(tmp, fmt.Sprintf("node-%d", i)))
		c.Dir, c.Stderr = home, io.Discard
		start := time.Now()
		if err := c.Run(); err != nil {
			return fmt.Errorf("rezup pull on a fresh node: %w", err)
		}
		cold = append(cold, time.Since(start))
	}

	mb, mw := median(bare), median(warm)
	over := mw - mb
	fmt.Printf("runs:                      %d each, alternating\n", n)
	fmt.Printf("bare true, median:         %v\n", mb.Round(time.Microsecond))
	fmt.Printf("rezup use -- true, median: %v (p90 %v)\n", mw.Round(time.Microsecond), percentile(warm, 0.9).Round(time.Microsecond))
	fmt.Printf("median overhead:           %v\n", over.Round(time.Microsecond))
	fmt.Printf("vs Python rezup (~%v):  %.0fx faster (quoted figure, not measured here)\n", pythonRezupWarm, float64(pythonRezupWarm)/float64(mw))
	fmt.Printf("python3 -c pass, median:   %v: the floor of any Python launcher; rezup's whole launch is %.1fx faster\n", median(py).Round(time.Microsecond), float64(median(py))/float64(mw))
	fmt.Printf("admin build + publish:     %v\n", buildTime.Round(time.Millisecond))
	fmt.Printf("fresh node pull, median:   %v (of %d; %.0fx faster than building)\n", median(cold).Round(time.Millisecond), len(cold), float64(buildTime)/float64(median(cold)))
	return nil
}

// benchTemp makes the benchmark's temp dir; cleanup removes it, unless
// keep, which prints where it is instead.
func benchTemp(prefix string, keep bool) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	if keep {
		fmt.Println("home:", dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// fleetMain runs the fleet benchmark alone (see fleet).
func fleetMain(bin string, keep bool, caches []string, nodes int, timeout time.Duration) error {
	tmp, cleanup, err := benchTemp("rezup-fleet-", keep)
	if err != nil {
		return err
	}
	defer cleanup()
	if bin, err = buildRezup(bin, tmp); err != nil {
		return err
	}
	return runFleet(bin, tmp, caches, nodes, timeout)
}

// buildRezup builds ./cmd/rezup into tmp, with the rezup-net it runs for
// network caches beside it, unless bin names a binary.
func buildRezup(bin, tmp string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(tmp, "rezup")
	build := exec.Command("go", "build", "-o", tmp+string(filepath.Separator), "github.com/rezup/rezup/cmd/rezup", "github.com/rezup/rezup/cmd/rezup-net")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("build rezup: %w", err)
	}
	return bin, nil
}

func median(d []time.Duration) time.Duration { return percentile(d, 0.5) }

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}
