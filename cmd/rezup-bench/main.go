// Command rezup-bench measures rezup against comparators run in the same
// run, and checks the counts behind each figure (what was built, fetched,
// ready, requested, left running), so that a figure cannot silently stop
// measuring what it says. It never checks a time.
//
//	go run ./cmd/rezup-bench                   # store, then launch
//	go run ./cmd/rezup-bench -only launch -vs /path/to/an/older/rezup
//	go run ./cmd/rezup-bench -only store -vs /path/to/an/older/rezup
//	go run ./cmd/rezup-bench -only fleet -caches dir,http,s3 -nodes 100
//	go run ./cmd/rezup-bench -only build
//	go run ./cmd/rezup-bench -only delta
//
// The modes:
//
//   - store (storeBench, pullBench): the archive path on a synthetic tree
//     (pack, cold materialize, reuse) against tar and zstd, then a fresh
//     node's whole `rezup pull` of a published build against `zstd -dc |
//     tar -x` of the same archive, and against a second rezup's pull (-vs);
//   - launch (launchBench): `rezup use -- true` and `rezup --version`
//     against a second rezup binary (-vs), an empty static Go program,
//     `true` and `python3 -c pass`, alternating;
//   - build (buildBench): `rezup add` of a new and of an unchanged recipe
//     against virtualenv + pip;
//   - fleet (fleetBench): -nodes node roots launching at once against each
//     cache of -caches, warm then cold;
//   - delta (deltaBench): issue 22's file-level format against the archive
//     path: delta bytes and time of a new revision, a cold node, a node
//     with every object, and the disk of builds sharing their files.
//
// Each mode prints its figures, then its counts' verdict; counts that are
// off make the exit status 1. The same code runs in a small size as the
// package's tests (smoke_test.go), in CI.
package main

import (
	"bytes"
	"cmp"
	"errors"
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

// options are the command line, checked.
type options struct {
	only         string // "" (store, then launch), launch, store, fleet, build
	n            int
	rounds       int
	bin          string // rezup to measure; "" builds ./cmd/rezup
	vs           string // a second rezup for the launch and pull benchmarks; "" for none
	keep         bool
	nodes        int
	caches       []string
	fleetTimeout time.Duration
	deltaMB      int
	deltaBuilds  int
}

// flagModes says which modes each mode-specific flag is for; "" is the
// default run (store, then launch).
var flagModes = map[string][]string{
	"n":             {"", "launch"},
	"vs":            {"", "launch", "store"},
	"rounds":        {"", "store", "build", "delta"},
	"delta-mb":      {"delta"},
	"delta-builds":  {"delta"},
	"nodes":         {"fleet"},
	"caches":        {"fleet"},
	"fleet-timeout": {"fleet"},
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("rezup-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parse errors are returned, as one line
	fs.IntVar(&o.n, "n", 200, "launch: runs of each command")
	fs.StringVar(&o.bin, "rezup", "", "rezup binary to measure (default: build ./cmd/rezup with CGO_ENABLED=0, as releases are)")
	fs.StringVar(&o.vs, "vs", "", "launch and store: a second rezup binary to time in the same run (its own HOME, root and revision; in store, its own fresh nodes' pulls)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (its path is printed)")
	fs.IntVar(&o.rounds, "rounds", 5, "store and build: rounds of each comparison")
	fs.StringVar(&o.only, "only", "", `run only "launch", "store", "fleet", "build" or "delta" (fleet, build and delta run only when asked)`)
	fs.IntVar(&o.nodes, "nodes", 100, fmt.Sprintf("fleet: node roots launching at once (at most %d)", maxNodes))
	caches := fs.String("caches", "dir", "fleet: the caches to run against, comma-separated: dir, http, s3")
	fs.IntVar(&o.deltaMB, "delta-mb", 60, "delta: the generated package's size in MB")
	fs.IntVar(&o.deltaBuilds, "delta-builds", 10, "delta: the builds on one node of the disk figure (at least 3)")
	fs.DurationVar(&o.fleetTimeout, "fleet-timeout", 20*time.Minute, "fleet: bound on each run of every node")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
		}
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: rezup-bench takes flags only", fs.Arg(0))
	}
	if !slices.Contains([]string{"", "launch", "store", "fleet", "build", "delta"}, o.only) {
		return o, fmt.Errorf("-only is %q: use launch, store, fleet, build or delta", o.only)
	}
	var misplaced error
	fs.Visit(func(f *flag.Flag) {
		if modes, ok := flagModes[f.Name]; ok && !slices.Contains(modes, o.only) && misplaced == nil {
			misplaced = fmt.Errorf("-%s does not apply to %s: it is for %s", f.Name, modeName(o.only), modeNames(modes))
		}
	})
	if misplaced != nil {
		return o, misplaced
	}
	if o.n < 1 || o.n > 100000 {
		return o, fmt.Errorf("-n is %d: use 1 to 100000", o.n)
	}
	if o.rounds < 1 || o.rounds > 1000 {
		return o, fmt.Errorf("-rounds is %d: use 1 to 1000", o.rounds)
	}
	if o.deltaMB < 1 || o.deltaMB > 10000 {
		return o, fmt.Errorf("-delta-mb is %d: use 1 to 10000", o.deltaMB)
	}
	if o.deltaBuilds < 3 || o.deltaBuilds > 100 {
		return o, fmt.Errorf("-delta-builds is %d: use 3 to 100", o.deltaBuilds)
	}
	if o.nodes < 1 || o.nodes > maxNodes {
		return o, fmt.Errorf("-nodes is %d: use 1 to %d", o.nodes, maxNodes)
	}
	if o.fleetTimeout <= 0 {
		return o, fmt.Errorf("-fleet-timeout is %v: use a positive duration, such as 20m", o.fleetTimeout)
	}
	for _, c := range strings.Split(*caches, ",") {
		if !slices.Contains([]string{"dir", "http", "s3"}, c) {
			return o, fmt.Errorf("-caches: unknown cache %q: use dir, http or s3, comma-separated", c)
		}
		if slices.Contains(o.caches, c) {
			return o, fmt.Errorf("-caches names %s twice", c)
		}
		o.caches = append(o.caches, c)
	}
	for _, b := range []struct {
		flag string
		path *string
	}{{"-rezup", &o.bin}, {"-vs", &o.vs}} {
		if *b.path == "" {
			continue
		}
		abs, err := executable(*b.path)
		if err != nil {
			return o, fmt.Errorf("%s: %w", b.flag, err)
		}
		*b.path = abs
	}
	return o, nil
}

func modeName(m string) string {
	if m == "" {
		return "the default run (store, then launch)"
	}
	return "-only " + m
}

func modeNames(ms []string) string {
	var s []string
	for _, m := range ms {
		if m == "" {
			s = append(s, "the default run")
		} else {
			s = append(s, "-only "+m)
		}
	}
	if len(s) < 3 {
		return strings.Join(s, " and ")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// executable returns the absolute path of p after checking that it is an
// executable regular file.
func executable(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("%s: no such file", p)
	}
	if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", p)
	}
	return abs, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "rezup-bench: error: %v\n", err)
		os.Exit(2)
	}
	if err := run(os.Stdout, o); err != nil {
		fmt.Fprintf(os.Stderr, "rezup-bench: error: %v\n", err)
		os.Exit(1)
	}
}

// run runs the benchmarks o asks for, printing to w. Counts that are off
// are an error, after every figure is printed.
func run(w io.Writer, o options) error {
	tmp, cleanup, err := benchTemp(w, "rezup-bench-", o.keep)
	if err != nil {
		return err
	}
	defer cleanup()
	watchChildren()
	if o.bin, err = buildRezup(o.bin, tmp); err != nil {
		return err
	}
	var problems []string
	switch o.only {
	case "fleet":
		for _, name := range o.caches {
			r, err := fleetBench(w, fleetOptions{bin: o.bin, tmp: filepath.Join(tmp, "fleet-"+name), cache: name, nodes: o.nodes, timeout: o.fleetTimeout})
			if err != nil {
				return fmt.Errorf("fleet on the %s cache: %w", name, err)
			}
			problems = append(problems, verdict(w, "fleet on the "+name+" cache", r.check())...)
		}
	case "delta":
		r, err := deltaBench(w, deltaOptions{bin: o.bin, tmp: filepath.Join(tmp, "delta"), rounds: o.rounds, mb: o.deltaMB, builds: o.deltaBuilds})
		if err != nil {
			return err
		}
		problems = verdict(w, "delta", r.check())
	case "build":
		r, err := buildBench(w, buildOptions{bin: o.bin, tmp: filepath.Join(tmp, "build"), rounds: o.rounds})
		if err != nil {
			return err
		}
		problems = verdict(w, "build", r.check())
	default:
		if o.only != "launch" {
			r, err := storeBench(w, storeOptions{bin: o.bin, vs: o.vs, tmp: filepath.Join(tmp, "store"), rounds: o.rounds, shape: fullVenv})
			if err != nil {
				return err
			}
			problems = append(problems, verdict(w, "store", r.check())...)
		}
		if o.only != "store" {
			r, err := launchBench(w, launchOptions{bin: o.bin, vs: o.vs, tmp: filepath.Join(tmp, "launch"), n: o.n, warmup: 5})
			if err != nil {
				return err
			}
			problems = append(problems, verdict(w, "launch", r.check())...)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("counts off, the figures above do not measure what they say: %s", strings.Join(problems, "; "))
	}
	return nil
}

// verdict prints a mode's counts check and returns its problems, each
// prefixed with the mode.
func verdict(w io.Writer, mode string, problems []string) []string {
	if len(problems) == 0 {
		fmt.Fprintf(w, "counts (%s): ok\n\n", mode)
		return nil
	}
	out := make([]string, len(problems))
	for i, p := range problems {
		fmt.Fprintf(w, "counts (%s): OFF: %s\n", mode, p)
		out[i] = mode + ": " + p
	}
	fmt.Fprintln(w)
	return out
}

// benchTemp makes the benchmark's temp dir; cleanup removes it, unless
// keep, which prints where it is instead.
func benchTemp(w io.Writer, prefix string, keep bool) (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	if keep {
		fmt.Fprintln(w, "temp dir (kept):", dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil // best effort: it is the system temp dir
}

// buildRezup builds ./cmd/rezup into tmp as releases are built (static,
// CGO_ENABLED=0), with the rezup-net it runs for network caches beside it,
// unless bin names a binary.
func buildRezup(bin, tmp string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	if _, err := goBuild(filepath.Join(tmp, "rezup-net"), "", "github.com/rezup/rezup/cmd/rezup-net"); err != nil {
		return "", err
	}
	return goBuild(filepath.Join(tmp, "rezup"), "", "github.com/rezup/rezup/cmd/rezup")
}

// goBuild builds pkg (run from dir, "" for the current one) into out,
// static.
func goBuild(out, dir, pkg string) (string, error) {
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// benchEnv is the caller's environment less anything that configures
// rezup, pip, the AWS clients, HOME or the user's cache: every rezup the
// benchmarks run sees only the throwaway HOME and the variables given.
func benchEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		for _, p := range []string{"REZUP_", "PIP_", "AWS_", "HOME=", "XDG_CACHE_HOME="} {
			if strings.HasPrefix(kv, p) {
				return true
			}
		}
		return false
	})
}

// homeEnv is benchEnv with HOME at home and, when userCache is set, the
// user's cache (XDG_CACHE_HOME: pip's bundled wheel unpacked, python's
// memos) there, shared by every HOME given it. Without it, each HOME has
// its own (~/.cache), as on a fresh machine.
func homeEnv(home, userCache string) []string {
	env := append(benchEnv(), "HOME="+home)
	if userCache != "" {
		env = append(env, "XDG_CACHE_HOME="+userCache)
	}
	return env
}

func median[T cmp.Ordered](d []T) T { return percentile(d, 0.5) }

func percentile[T cmp.Ordered](d []T, p float64) T {
	if len(d) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// ratio is a/b, printed as the figures are.
func ratio(a, b time.Duration) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}

// ms prints a duration with 3 or 4 significant digits: 1.528s, 26.63ms.
func ms(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= 100*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}

// newHome makes a throwaway HOME at dir whose recipe file (rezup.toml, or
// rezup.NAME.toml) installs the test wheels in wheels, offline, with extra
// TOML appended.
func newHome(dir, recipeFile, wheels, extra string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, recipeFile), []byte(testkit.RecipeTOML(wheels, extra)), 0o644)
}

// timed runs argv with env in dir, stdout to stdout (nil: discarded), and
// returns how long the whole process took; a failure is an error quoting
// the end of its stderr.
func timed(env []string, dir string, stdout io.Writer, argv ...string) (time.Duration, error) {
	c := exec.Command(argv[0], argv[1:]...)
	c.Env, c.Dir, c.Stdout = env, dir, stdout
	var stderr bytes.Buffer
	c.Stderr = &stderr
	start := time.Now()
	err := c.Run()
	took := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w%s", strings.Join(argv, " "), err, tailLines(stderr.String(), 10))
	}
	return took, nil
}

// tailLines is the last n lines of s, indented on lines of their own, or
// "" for an empty s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n    " + strings.Join(lines, "\n    ")
}
