package main

import (
	"context"
	"encoding/json"
	"fmt"
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

// storeBench measures the archive path on a synthetic tree shaped like a
// real rez venv, against GNU tar and the zstd command on the same bytes in
// the same run:
//
//   - pack: archive.Pack of the tree, vs `tar -c | zstd -3`;
//   - cold materialize: materialize.Store.Ensure on a fresh root (stream,
//     verify, unpack, relocate, check the base python, sync, rename), vs
//     `zstd -dc | tar -x` of the same archive, and that plus a sync;
//   - reuse: Store.Materialize of a ready entry, the hot path of every launch.
func storeBench(tmp string, rounds int) error {
	for _, tool := range []string{"tar", "zstd", "sync", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the store benchmark needs %s on PATH", tool)
		}
	}
	ctx := context.Background()
	key, err := cas.ParseKey("5e7c0ffee0ddba11ab1e5eed0b5e55ed")
	if err != nil {
		return err
	}
	admin := materialize.Root{Dir: filepath.Join(tmp, "admin")}
	prefix := admin.EntryDir(key)
	files, bytes, err := writeVenvTree(prefix, key)
	if err != nil {
		return fmt.Errorf("write the synthetic venv: %w", err)
	}
	fmt.Printf("synthetic rez venv:        %d files, %s\n", files, materialize.HumanSize(bytes))

	// Pack: ours into a file, theirs into a file, alternating.
	out := filepath.Join(tmp, "pack")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var ours, theirs []time.Duration
	var archiveSize, zstdSize int64
	for i := 0; i < rounds+1; i++ {
		p := filepath.Join(out, fmt.Sprintf("ours-%d.tar.zst", i))
		start := time.Now()
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		if _, err := archive.Pack(f, prefix, archive.PackOptions{}); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		d := time.Since(start)
		q := filepath.Join(out, fmt.Sprintf("theirs-%d.tar.zst", i))
		start = time.Now()
		if err := sh(fmt.Sprintf("tar -C %s -cf - . | zstd -3 -q -o %s", quote(prefix), quote(q))); err != nil {
			return err
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
	fmt.Printf("pack, median:              %v (%s) vs tar | zstd -3 %v (%s): %.2fx\n",
		mo.Round(time.Millisecond), materialize.HumanSize(archiveSize), mt.Round(time.Millisecond), materialize.HumanSize(zstdSize), float64(mo)/float64(mt))

	// Publish once into a shared cache, as rezup does: pack to a local
	// file, then publish it. Nodes materialize from the cache; the
	// comparators untar the same bytes from the packed file.
	sc, err := cache.Open(filepath.Join(tmp, "cache"))
	if err != nil {
		return err
	}
	packed, err := archive.PackFile(out, prefix, archive.PackOptions{})
	if err != nil {
		return err
	}
	if _, err := sc.Publish(ctx, cache.Entry{Key: key, Prefix: prefix, RezupVersion: "bench"}, packed); err != nil {
		return fmt.Errorf("publish: %w", err)
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
			return err
		}
		start := time.Now()
		h, err := node.Materialize(ctx, materialize.Request{Key: key})
		if err != nil {
			return fmt.Errorf("materialize on a fresh node: %w", err)
		}
		h.Close()
		c := time.Since(start)

		dest := filepath.Join(tmp, fmt.Sprintf("untar-%02d", i))
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
		if err := quiesce(); err != nil {
			return err
		}
		start = time.Now()
		if err := sh(fmt.Sprintf("zstd -dcq %s | tar -C %s -xf -", quote(archive), quote(dest))); err != nil {
			return err
		}
		u := time.Since(start)
		if err := exec.Command("sync", "-f", dest).Run(); err != nil {
			return fmt.Errorf("sync -f: %w", err)
		}
		us := time.Since(start)
		if i > 0 {
			cold, untar, untarSync = append(cold, c), append(untar, u), append(untarSync, us)
		}
		if i < rounds { // keep the last node for the reuse bench
			os.RemoveAll(root.Dir) // space only: the temp dir goes at the end
		}
		os.RemoveAll(dest) // likewise
	}
	mc, mu, mus := median(cold), median(untar), median(untarSync)
	fmt.Printf("cold materialize, median:  %v vs zstd -dc | tar -x %v: %.2fx; vs the same plus sync -f %v: %.2fx\n",
		mc.Round(time.Millisecond), mu.Round(time.Millisecond), float64(mc)/float64(mu), mus.Round(time.Millisecond), float64(mc)/float64(mus))

	const uses = 1000
	var hot []time.Duration
	for range uses {
		start := time.Now()
		h, err := node.Materialize(ctx, materialize.Request{Key: key})
		if err != nil {
			return fmt.Errorf("reuse: %w", err)
		}
		hot = append(hot, time.Since(start))
		h.Close()
	}
	fmt.Printf("reuse (Store.Materialize of a ready build), median: %v (p90 %v, %d runs)\n", median(hot).Round(time.Microsecond), percentile(hot, 0.9).Round(time.Microsecond), uses)
	return nil
}

// writeVenvTree writes, at prefix, what a built store entry looks like: a
// real venv (python3 -m venv, so its base check passes), about 2,000
// small .py files with their compiled .pyc, dist-info RECORDs and
// direct_url.json naming the prefix, production entry points whose
// shebangs name it, a few large files (compiled extensions, data), and the
// entry's manifest. It returns the regular files and their bytes.
func writeVenvTree(prefix string, key cas.Key) (files, bytes int64, err error) {
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
	for pkg := range 36 {
		dir := filepath.Join(site, fmt.Sprintf("rezpkg%02d", pkg))
		var record strings.Builder
		for mod := range 28 {
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
		b := make([]byte, size)
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
		for b.Len() < 2<<20 {
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
