package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/cache"
	"github.com/rezup/rezup/materialize"
)

// venvShape sizes the synthetic venv of the store benchmark.
type venvShape struct {
	pkgs, mods int // packages, of mods modules each
	bigDiv     int // the large files' sizes are divided by it
}

var (
	// fullVenv is shaped like a real rez venv: about 2,100 files, 37 MiB.
	fullVenv = venvShape{pkgs: 36, mods: 28, bigDiv: 1}
	// smallVenv is the smoke test's: the same kinds of files, few of them.
	smallVenv = venvShape{pkgs: 2, mods: 3, bigDiv: 64}
)

// reuseRuns is how many leases the reuse figure takes.
const reuseRuns = 1000

type storeOptions struct {
	bin    string // rezup, for the pull
	vs     string // a second rezup whose pull is timed too; "" for none
	tmp    string // an empty or missing directory of the benchmark's own
	rounds int
	shape  venvShape
	// userCache is the user cache of the pull's HOMEs; "" for their own.
	userCache string
}

// storeReport is what the store benchmark counted: what each side of each
// comparison left on disk, so that both sides did the same work.
type storeReport struct {
	rounds int
	// tree is the entries (files, directories, symlinks) of the synthetic
	// venv; materialized and untarred, those each recorded round's cold
	// node and untar made of its archive.
	tree                   int
	materialized, untarred []int
	leases                 int // reuse: leases taken and released
	pull                   *pullReport
}

// check returns what is off in the counts, or nothing.
func (r *storeReport) check() []string {
	var p []string
	if len(r.materialized) != r.rounds || len(r.untarred) != r.rounds {
		p = append(p, fmt.Sprintf("cold materialize: %d and %d rounds of each side recorded, want %d", len(r.materialized), len(r.untarred), r.rounds))
	}
	for i := range r.materialized {
		if r.materialized[i] != r.tree {
			p = append(p, fmt.Sprintf("cold materialize: round %d's node holds %d entries, the tree %d", i+1, r.materialized[i], r.tree))
		}
	}
	for i := range r.untarred {
		if r.untarred[i] != r.tree {
			p = append(p, fmt.Sprintf("cold materialize: round %d's untar holds %d entries, the tree %d", i+1, r.untarred[i], r.tree))
		}
	}
	if r.leases != reuseRuns {
		p = append(p, fmt.Sprintf("reuse: %d leases taken, want %d", r.leases, reuseRuns))
	}
	if r.pull == nil {
		return append(p, "pull: not run")
	}
	return append(p, r.pull.check()...)
}

// storeBench measures the archive path on a synthetic tree shaped like a
// real rez venv, against GNU tar and the zstd command on the same bytes in
// the same run:
//
//   - pack: cas.Pack of the tree, vs `tar -c | zstd -3`;
//   - cold materialize: materialize.Store.Materialize on a fresh root
//     (stream, verify, unpack, relocate, check the base python, sync,
//     rename), vs `zstd -dc | tar -x` of the same archive, and that plus a
//     sync;
//   - reuse: Store.Materialize on a ready entry, the hot path of every launch.
//
// Then pullBench: a fresh node's whole `rezup pull` of a real published
// build against `zstd -dc | tar -x` of its archive.
func storeBench(w io.Writer, o storeOptions) (*storeReport, error) {
	for _, tool := range []string{"tar", "zstd", "sync", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("the store benchmark needs %s on PATH", tool)
		}
	}
	tmp, rounds := o.tmp, o.rounds
	r := &storeReport{rounds: rounds}
	ctx := context.Background()
	key, err := cas.ParseKey("5e7c0ffee0ddba11ab1e5eed0b5e55ed")
	if err != nil {
		return nil, err
	}
	admin := materialize.Root{Dir: filepath.Join(tmp, "admin")}
	prefix := admin.EntryDir(key)
	files, bytes, err := writeVenvTree(prefix, key, o.shape)
	if err != nil {
		return nil, fmt.Errorf("write the synthetic venv: %w", err)
	}
	if r.tree, err = countTree(prefix); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "synthetic rez venv:        %d files, %s\n", files, materialize.HumanSize(bytes))

	// Pack: ours into a file, theirs into a file, alternating.
	out := filepath.Join(tmp, "pack")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var ours, theirs []time.Duration
	var archiveSize, zstdSize int64
	for i := 0; i < rounds+1; i++ {
		p := filepath.Join(out, fmt.Sprintf("ours-%d.tar.zst", i))
		start := time.Now()
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		if _, err := archive.Pack(f, prefix, archive.PackOptions{}); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		d := time.Since(start)
		q := filepath.Join(out, fmt.Sprintf("theirs-%d.tar.zst", i))
		start = time.Now()
		if err := sh(fmt.Sprintf("tar -C %s -cf - . | zstd -3 -q -o %s", quote(prefix), quote(q))); err != nil {
			return nil, err
		}
		e := time.Since(start)
		if i > 0 { // the first round warms the page cache
			ours, theirs = append(ours, d), append(theirs, e)
		}
		archiveSize, zstdSize = fileSize(p), fileSize(q)
		os.Remove(p) // the whole temp dir goes at the end anyway
		os.Remove(q)
	}
	mo, mt := median(ours), median(theirs)
	fmt.Fprintf(w, "pack, median:              %v (%s) vs tar | zstd -3 %v (%s): %.2fx\n",
		mo.Round(time.Millisecond), materialize.HumanSize(archiveSize), mt.Round(time.Millisecond), materialize.HumanSize(zstdSize), float64(mo)/float64(mt))

	// Publish once into a shared cache, as rezup does: pack to a local
	// file, then publish it. Nodes materialize from the cache; the
	// comparators untar the same bytes from the packed file.
	sc, err := cache.Open(filepath.Join(tmp, "cache"))
	if err != nil {
		return nil, err
	}
	packed, err := archive.PackFile(out, prefix, archive.PackOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := sc.Publish(ctx, cache.Entry{Key: key, Prefix: prefix, RezupVersion: "bench"}, packed); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	archive := packed.Path

	var cold, untar, untarSync []time.Duration
	var node *materialize.Store
	for i := 0; i < rounds+1; i++ {
		// A longer root than the admin's: relocation rewrites every
		// shebang and text file that names the prefix.
		root := materialize.Root{Dir: filepath.Join(tmp, fmt.Sprintf("farm-node-%02d/local/rezup-root", i))}
		node = materialize.New(materialize.Options{Root: root, Cache: sc, Environ: os.Environ(), Version: "bench"})
		// Each timing starts with nothing left to write back, so that one
		// does not pay for the other's (or the last round's) dirty pages.
		if err := quiesce(); err != nil {
			return nil, err
		}
		start := time.Now()
		h, err := node.Materialize(ctx, materialize.Request{Key: key})
		if err != nil {
			return nil, fmt.Errorf("materialize on a fresh node: %w", err)
		}
		c := time.Since(start)
		h.Close()

		dest := filepath.Join(tmp, fmt.Sprintf("untar-%02d", i))
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return nil, err
		}
		if err := quiesce(); err != nil {
			return nil, err
		}
		start = time.Now()
		if err := sh(fmt.Sprintf("zstd -dcq %s | tar -C %s -xf -", quote(archive), quote(dest))); err != nil {
			return nil, err
		}
		u := time.Since(start)
		if err := exec.Command("sync", "-f", dest).Run(); err != nil {
			return nil, fmt.Errorf("sync -f: %w", err)
		}
		us := time.Since(start)
		if i > 0 {
			cold, untar, untarSync = append(cold, c), append(untar, u), append(untarSync, us)
			m, err := countTree(root.EntryDir(key))
			if err != nil {
				return nil, err
			}
			t, err := countTree(dest)
			if err != nil {
				return nil, err
			}
			r.materialized, r.untarred = append(r.materialized, m), append(r.untarred, t)
		}
		if i < rounds { // keep the last node for the reuse bench
			os.RemoveAll(root.Dir) // space only: the temp dir goes at the end
		}
		os.RemoveAll(dest) // likewise
	}
	mc, mu, mus := median(cold), median(untar), median(untarSync)
	fmt.Fprintf(w, "cold materialize, median:  %v vs zstd -dc | tar -x %v: %.2fx; vs the same plus sync -f %v: %.2fx\n",
		mc.Round(time.Millisecond), mu.Round(time.Millisecond), float64(mc)/float64(mu), mus.Round(time.Millisecond), float64(mc)/float64(mus))

	var hot []time.Duration
	for range reuseRuns {
		start := time.Now()
		h, err := node.Materialize(ctx, materialize.Request{Key: key})
		if err != nil {
			return nil, fmt.Errorf("reuse: %w", err)
		}
		hot = append(hot, time.Since(start))
		h.Close()
		r.leases++
	}
	fmt.Fprintf(w, "reuse (Store.Materialize of a ready entry), median: %v (p90 %v, %d runs)\n", median(hot).Round(time.Microsecond), percentile(hot, 0.9).Round(time.Microsecond), reuseRuns)

	if r.pull, err = pullBench(w, o.bin, o.vs, filepath.Join(tmp, "pull"), rounds, o.userCache); err != nil {
		return nil, err
	}
	return r, nil
}

// writeVenvTree writes, at prefix, what a built store entry looks like: a
// real venv (python3 -m venv, so its base check passes), small .py files
// (shape.pkgs packages of shape.mods modules; about 2,000 for fullVenv)
// with their compiled .pyc, dist-info RECORDs and direct_url.json naming
// the prefix, production entry points whose shebangs name it, a few large
// files (compiled extensions, data; 16 MB divided by shape.bigDiv), and
// the entry's manifest. It returns the regular files and their bytes.
func writeVenvTree(prefix string, key cas.Key, shape venvShape) (files, bytes int64, err error) {
	venv := filepath.Join(prefix, "venv", "rez")
	if out, err := exec.Command("python3", "-m", "venv", "--without-pip", venv).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("python3 -m venv: %v: %s", err, out)
	}
	pyver, err := exec.Command("python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])").Output()
	if err != nil {
		return 0, 0, err
	}
	site := filepath.Join(venv, "lib", "python"+strings.TrimSpace(string(pyver)), "site-packages")
	rng := rand.New(rand.NewPCG(7, 11))
	python := filepath.Join(venv, "bin", "python")
	write := func(p string, b []byte, mode os.FileMode) error {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, b, mode)
	}
	for pkg := range shape.pkgs {
		dir := filepath.Join(site, fmt.Sprintf("rezpkg%02d", pkg))
		var record strings.Builder
		for mod := range shape.mods {
			var src strings.Builder
			size := 1<<10 + rng.IntN(14<<10)
			for i := 0; src.Len() < size; i++ {
				fmt.Fprintf(&src, "def handler_%d_%d(context, request=None):\n    \"\"\"Resolve %d for %s.\"\"\"\n    return context.get(%q, request) or %d\n\n",
					mod, i, i, filepath.Base(dir), fmt.Sprint("key", i), rng.IntN(1e6))
			}
			name := fmt.Sprintf("module%02d.py", mod)
			if err := write(filepath.Join(dir, name), []byte(src.String()), 0o644); err != nil {
				return 0, 0, err
			}
			fmt.Fprintf(&record, "rezpkg%02d/%s,sha256=x,%d\n", pkg, name, src.Len())
		}
		dist := filepath.Join(site, fmt.Sprintf("rezpkg%02d-1.0.dist-info", pkg))
		if err := write(filepath.Join(dist, "RECORD"), []byte(record.String()), 0o644); err != nil {
			return 0, 0, err
		}
		url := fmt.Sprintf(`{"url": "file://%s/src/rezpkg%02d", "dir_info": {}}`, prefix, pkg)
		if err := write(filepath.Join(dist, "direct_url.json"), []byte(url), 0o644); err != nil {
			return 0, 0, err
		}
	}
	// Real bytecode, as pip leaves it: relocation must keep it valid.
	if out, err := exec.Command("python3", "-m", "compileall", "-q", "-j", "0", site).CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("compileall: %v: %s", err, out)
	}
	for i := range 24 {
		script := fmt.Sprintf("#!%s -E\nimport sys\nfrom rez.cli._entry_points import run_%d\nsys.exit(run_%d())\n", python, i, i)
		if err := write(filepath.Join(venv, "bin", "rez", fmt.Sprintf("rez-tool%02d", i)), []byte(script), 0o755); err != nil {
			return 0, 0, err
		}
	}
	// A few large files: compiled extensions (barely compressible) and
	// data (compressible), about 16 MB.
	for i, size := range []int{5 << 20, 3 << 20, 2 << 20} {
		b := make([]byte, size/shape.bigDiv)
		for j := range b {
			if j%3 == 0 {
				b[j] = byte(rng.Uint32())
			} else {
				b[j] = byte(j >> 6)
			}
		}
		if err := write(filepath.Join(site, "rezbig", fmt.Sprintf("_speedups%d.cpython.so", i)), b, 0o755); err != nil {
			return 0, 0, err
		}
	}
	for i := range 3 {
		var b strings.Builder
		for b.Len() < 2<<20/shape.bigDiv {
			fmt.Fprintf(&b, "%d,%08x,resolve,%d\n", b.Len(), rng.Uint32(), rng.IntN(1000))
		}
		if err := write(filepath.Join(site, "rezbig", fmt.Sprintf("table%d.csv", i)), []byte(b.String()), 0o644); err != nil {
			return 0, 0, err
		}
	}
	m := materialize.Manifest{Key: key, Prefix: prefix, Venvs: []string{"rez"}, Created: time.Now()}
	b, err := json.Marshal(m)
	if err != nil {
		return 0, 0, err
	}
	if err := write(filepath.Join(prefix, ".rezup", "manifest.json"), b, 0o644); err != nil {
		return 0, 0, err
	}
	err = filepath.Walk(prefix, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files++
			bytes += fi.Size()
		}
		return err
	})
	return files, bytes, err
}

// quiesce writes back every dirty page of the machine.
func quiesce() error {
	if err := exec.Command("sync").Run(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

func sh(script string) error {
	c := exec.Command("sh", "-c", script)
	c.Stderr = os.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %w", script, err)
	}
	return nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}
