package main

import (
	"bufio"
	"bytes"
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

// buildPython is the interpreter both sides of the build benchmark use:
// Debian's, whose python3-virtualenv package gives the comparator.
const buildPython = "/usr/bin/python3"

// Speed targets of issue 12, printed next to the figures.
const (
	buildRatioTarget = 0.7
	buildRatioAim    = 0.3
	reuseTarget      = 1500 * time.Millisecond
)

// buildMain runs the build benchmark alone: what the Python rezup does to
// build (`python3 -m virtualenv DIR`, then `DIR/bin/pip install` of the
// same wheels from a local directory) against `rezup add` of a new
// revision (a fresh salt each round, so that it really builds) and
// `rezup add` of an unchanged recipe (the build reused), each the median
// of rounds, alternating. Both sides use buildPython and the wheels of
// internal/testkit: rez, and two lib packages. Last, one more build runs
// with -D and its stderr is printed with the time each line came, to see
// where a build's time goes.
func buildMain(bin string, keep bool, rounds int) error {
	if _, err := os.Stat(buildPython); err != nil {
		return fmt.Errorf("the build benchmark needs %s: %w", buildPython, err)
	}
	if out, err := exec.Command(buildPython, "-m", "virtualenv", "--version").CombinedOutput(); err != nil {
		return fmt.Errorf("%s has no virtualenv module (%v: %s); run: apt-get install -y python3-virtualenv", buildPython, err, firstLine(out))
	}
	tmp, cleanup, err := benchTemp("rezup-build-", keep)
	if err != nil {
		return err
	}
	defer cleanup()
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
	reqs := []string{"rez==" + testkit.RezVersion, "toml_fake==0.10.2", "fake_lib==2.0"}
	extra := fmt.Sprintf("python = %q\nlib = [%q, %q]\n", buildPython, reqs[1], reqs[2])
	if err := os.WriteFile(filepath.Join(home, "rezup.toml"), []byte(testkit.RecipeTOML(wheels, extra)), 0o644); err != nil {
		return err
	}
	// The caller's environment, less anything that configures rezup or
	// pip: no remote root, so no shared cache and nothing packed, as the
	// Python rezup's build packs nothing.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "REZUP_") || strings.HasPrefix(kv, "PIP_") || strings.HasPrefix(kv, "HOME=")
	})
	env = append(env, "HOME="+home)
	timeOf := func(stderr io.Writer, argv ...string) (time.Duration, error) {
		c := exec.Command(argv[0], argv[1:]...)
		c.Env, c.Dir = env, home
		var tail bytes.Buffer
		c.Stdout, c.Stderr = io.Discard, &tail
		if stderr != nil {
			c.Stderr = stderr
		}
		start := time.Now()
		err := c.Run()
		if err != nil {
			return 0, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, tail.String())
		}
		return time.Since(start), nil
	}

	// The first build also unpacks pip's bundled wheel into the root's
	// .tmp, once; it builds the unsalted key the unchanged add reuses.
	first, err := timeOf(nil, bin, "add", "--skip-use")
	if err != nil {
		return err
	}
	var seeded, venvs, built, reused []time.Duration
	for i := 0; i < rounds; i++ {
		dir := filepath.Join(tmp, fmt.Sprintf("virtualenv-%d", i))
		v, err := timeOf(nil, buildPython, "-m", "virtualenv", dir)
		if err != nil {
			return err
		}
		p, err := timeOf(nil, append([]string{filepath.Join(dir, "bin", "pip"), "install", "--disable-pip-version-check",
			"--no-input", "--no-index", "--find-links", wheels}, reqs...)...)
		if err != nil {
			return err
		}
		seeded, venvs = append(seeded, v+p), append(venvs, v)
		b, err := timeOf(nil, bin, "add", "--fresh", "--skip-use")
		if err != nil {
			return err
		}
		built = append(built, b)
		r, err := timeOf(nil, bin, "add", "--skip-use")
		if err != nil {
			return err
		}
		reused = append(reused, r)
	}
	ms, mb, mr := median(seeded), median(built), median(reused)
	ratio := float64(mb) / float64(ms)
	fmt.Printf("rounds:                               %d each, alternating; python %s; wheels: %s\n", rounds, buildPython, strings.Join(reqs, " "))
	fmt.Printf("virtualenv + pip install, median:     %v (virtualenv alone %v)\n", ms.Round(time.Millisecond), median(venvs).Round(time.Millisecond))
	fmt.Printf("rezup add (new build), median:        %v; first build %v\n", mb.Round(time.Millisecond), first.Round(time.Millisecond))
	fmt.Printf("  ratio to virtualenv + pip:          %.2fx (target <= %.1fx, aiming at %.1fx): %s\n", ratio, buildRatioTarget, buildRatioAim, verdict(ratio <= buildRatioTarget))
	fmt.Printf("rezup add (unchanged recipe), median: %v (target <= %v): %s\n", mr.Round(time.Millisecond), reuseTarget, verdict(mr <= reuseTarget))
	fmt.Printf("  ratio to virtualenv + pip:          %.2fx\n", float64(mr)/float64(ms))

	// Where a build's time goes: each line of a -D build, with when it came.
	fmt.Println("\none more new build with -D (ms since start, then the line):")
	tw := &timedLines{start: time.Now(), w: os.Stdout}
	if _, err := timeOf(tw, bin, "-D", "add", "--fresh", "--skip-use"); err != nil {
		return err
	}
	tw.flush()
	return nil
}

func verdict(ok bool) string {
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
