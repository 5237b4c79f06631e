package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rezup/rezup/internal/testkit"
)

// buildPython is the interpreter both sides of the build benchmark use:
// Debian's, whose python3-virtualenv package gives the comparator.
const buildPython = "/usr/bin/python3"

// Speed targets of issue 12, printed next to the figures.
const (
	buildRatioTarget = 0.7
	buildRatioAim    = 0.3
	reuseTarget      = 1500 * time.Millisecond
)

type buildOptions struct {
	bin    string // rezup
	tmp    string // an empty or missing directory of the benchmark's own
	rounds int
	// userCache is the user cache of its HOME; "" for its own.
	userCache string
}

// buildReport is what the build benchmark counted, from the root and the
// virtualenvs each side left.
type buildReport struct {
	rounds int
	// fresh and unchanged are the builds each `add --fresh` and each
	// unchanged `add` added to the root (want 1 and 0); seeded, the
	// virtualenvs where pip installed rez.
	fresh, unchanged []int
	seeded           int
	// entries and builds: the root's store at the end, and how many it
	// built (the first add, each fresh one, and the -D one, all built).
	entries, builds int
}

func (r *buildReport) check() []string {
	var p []string
	if len(r.fresh) != r.rounds || len(r.unchanged) != r.rounds || r.seeded != r.rounds {
		p = append(p, fmt.Sprintf("%d new builds, %d unchanged adds, %d virtualenvs with rez recorded, want %d of each", len(r.fresh), len(r.unchanged), r.seeded, r.rounds))
	}
	for i := range r.fresh {
		if r.fresh[i] != 1 {
			p = append(p, fmt.Sprintf("round %d: add --fresh added %d builds, want 1", i+1, r.fresh[i]))
		}
	}
	for i := range r.unchanged {
		if r.unchanged[i] != 0 {
			p = append(p, fmt.Sprintf("round %d: the unchanged add added %d builds, want 0 (the build reused)", i+1, r.unchanged[i]))
		}
	}
	if want := r.rounds + 2; r.entries != want || r.builds != want {
		p = append(p, fmt.Sprintf("the root holds %d builds, %d built here, want %d (the first add, %d fresh ones and the -D one)", r.entries, r.builds, want, r.rounds))
	}
	return p
}

// buildBench times what the Python rezup does to build (`python3 -m
// virtualenv DIR`, then `DIR/bin/pip install` of the same wheels from a
// local directory) against `rezup add` of a new revision (a fresh salt
// each round, so that it really builds) and `rezup add` of an unchanged
// recipe (the build reused), each the median of rounds, alternating. Both
// sides use buildPython and the wheels of internal/testkit: rez, and two
// lib packages. Last, one more build runs with -D and its stderr is
// printed with the time each line came, to see where a build's time goes.
func buildBench(w io.Writer, o buildOptions) (*buildReport, error) {
	if _, err := os.Stat(buildPython); err != nil {
		return nil, fmt.Errorf("the build benchmark needs %s: %w", buildPython, err)
	}
	if out, err := exec.Command(buildPython, "-m", "virtualenv", "--version").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s has no virtualenv module (%v: %s); run: apt-get install -y python3-virtualenv", buildPython, err, firstLine(out))
	}
	tmp, bin, rounds := o.tmp, o.bin, o.rounds
	home := filepath.Join(tmp, "home")
	wheels := filepath.Join(tmp, "wheels")
	if err := testkit.WheelHouseAt(wheels); err != nil {
		return nil, err
	}
	reqs := []string{"rez==" + testkit.RezVersion, "toml_fake==0.10.2", "fake_lib==2.0"}
	extra := fmt.Sprintf("python = %q\nlib = [%q, %q]\n", buildPython, reqs[1], reqs[2])
	if err := newHome(home, "rezup.toml", wheels, extra); err != nil {
		return nil, err
	}
	// No remote root, so no shared cache and nothing packed, as the
	// Python rezup's build packs nothing.
	env := homeEnv(home, o.userCache)
	root := filepath.Join(home, ".rezup")
	entries := func() (int, error) {
		es, err := storeEntries(root)
		return len(es), err
	}

	// The first build also unpacks pip's bundled wheel into the user's
	// cache, once; it builds the unsalted key the unchanged add reuses.
	first, err := timed(env, home, nil, bin, "add", "--skip-use")
	if err != nil {
		return nil, err
	}
	r := &buildReport{rounds: rounds}
	var seeded, venvs, built, reused []time.Duration
	for i := 0; i < rounds; i++ {
		dir := filepath.Join(tmp, fmt.Sprintf("virtualenv-%d", i))
		v, err := timed(env, home, nil, buildPython, "-m", "virtualenv", dir)
		if err != nil {
			return nil, err
		}
		p, err := timed(env, home, nil, append([]string{filepath.Join(dir, "bin", "pip"), "install", "--disable-pip-version-check",
			"--no-input", "--no-index", "--find-links", wheels}, reqs...)...)
		if err != nil {
			return nil, err
		}
		seeded, venvs = append(seeded, v+p), append(venvs, v)
		if _, err := os.Stat(filepath.Join(dir, "bin", "rez")); err == nil {
			r.seeded++
		}
		before, err := entries()
		if err != nil {
			return nil, err
		}
		b, err := timed(env, home, nil, bin, "add", "--fresh", "--skip-use")
		if err != nil {
			return nil, err
		}
		built = append(built, b)
		mid, err := entries()
		if err != nil {
			return nil, err
		}
		u, err := timed(env, home, nil, bin, "add", "--skip-use")
		if err != nil {
			return nil, err
		}
		reused = append(reused, u)
		after, err := entries()
		if err != nil {
			return nil, err
		}
		r.fresh, r.unchanged = append(r.fresh, mid-before), append(r.unchanged, after-mid)
	}
	mv, mb, mr := median(seeded), median(built), median(reused)
	ratio := float64(mb) / float64(mv)
	fmt.Fprintf(w, "rounds:                               %d each, alternating; python %s; wheels: %s\n", rounds, buildPython, strings.Join(reqs, " "))
	fmt.Fprintf(w, "virtualenv + pip install, median:     %v (virtualenv alone %v)\n", mv.Round(time.Millisecond), median(venvs).Round(time.Millisecond))
	fmt.Fprintf(w, "rezup add (new build), median:        %v; first build %v\n", mb.Round(time.Millisecond), first.Round(time.Millisecond))
	fmt.Fprintf(w, "  ratio to virtualenv + pip:          %.2fx (target <= %.1fx, aiming at %.1fx): %s\n", ratio, buildRatioTarget, buildRatioAim, target(ratio <= buildRatioTarget))
	fmt.Fprintf(w, "rezup add (unchanged recipe), median: %v (target <= %v): %s\n", mr.Round(time.Millisecond), reuseTarget, target(mr <= reuseTarget))
	fmt.Fprintf(w, "  ratio to virtualenv + pip:          %.2fx\n", float64(mr)/float64(mv))

	// Where a build's time goes: each line of a -D build, with when it came.
	fmt.Fprintln(w, "\none more new build with -D (ms since start, then the line):")
	tw := &timedLines{start: time.Now(), w: w}
	c := exec.Command(bin, "-D", "add", "--fresh", "--skip-use")
	c.Env, c.Dir, c.Stderr = env, home, tw
	if err := c.Run(); err != nil {
		tw.flush()
		return nil, fmt.Errorf("%s -D add --fresh --skip-use: %w", bin, err)
	}
	tw.flush()
	es, err := storeEntries(root)
	if err != nil {
		return nil, err
	}
	r.entries, r.builds = len(es), builtHere(es)
	return r, nil
}

func target(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// timedLines prints each line written to it (rezup's and, with -D, pip's
// output), cut at 160 bytes, prefixed with the milliseconds since start
// at which it arrived.
type timedLines struct {
	start time.Time
	w     io.Writer
	buf   []byte
}

func (t *timedLines) Write(p []byte) (int, error) {
	at := time.Since(t.start)
	t.buf = append(t.buf, p...)
	for {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		t.line(at, string(t.buf[:i]))
		t.buf = t.buf[i+1:]
	}
	return len(p), nil
}

func (t *timedLines) line(at time.Duration, s string) {
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	fmt.Fprintf(t.w, "%7d  %s\n", at.Milliseconds(), s)
}

func (t *timedLines) flush() {
	sc := bufio.NewScanner(bytes.NewReader(t.buf))
	for sc.Scan() {
		t.line(time.Since(t.start), sc.Text())
	}
	fmt.Fprintf(t.w, "%7d  (exit)\n", time.Since(t.start).Milliseconds())
}
