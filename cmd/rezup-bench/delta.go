package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rezup/rezup/internal/testkit"
)

// The delta benchmark (issue 22): a realistic environment (rez plus a
// generated package shaped like PySide: a few thousand small modules and
// some large, barely compressible extensions) published by an admin in
// both formats, then nodes pulling it file by file against the archive
// path, in the same run.

type deltaOptions struct {
	bin    string // rezup
	tmp    string // an empty or missing directory of the benchmark's own
	rounds int
	mb     int // the generated package's size, in MB
	builds int // the builds of the disk figure (at least 3)
	// userCache is the user cache of every HOME; "" for their own.
	userCache string
}

// deltaPull is what one timed pull did: its time, and what the cache
// served it.
type deltaPull struct {
	took            time.Duration
	bytes, requests int64
}

// deltaNode is what a node's root held after a pull, for the counts.
type deltaNode struct {
	what            string // which node, for the messages
	built, fetched  int    // store entries it built, fetched
	key, want       string // the key its newest revision links, and the admin's
	files, linked   int    // regular files of that build, and those hard-linked
	relocated       int    // its other files: they hold the build's path, or the admin's
	stray           string // a file neither linked nor relocated ("" for none)
	strays          int
	wantLinks       bool  // files format: most files hard-linked
	refetchedTwice  bool  // a warm node fetched what it had
	contentsFetched int64 // bytes the cache served it
}

type deltaReport struct {
	rounds int
	nodes  []deltaNode
	disk   struct {
		builds, want int
		linked       bool // the node's builds share files
	}
}

func (r *deltaReport) check() []string {
	var p []string
	// Per round: archive node, cold node, warm node's rev 2 and 3, and
	// the objects-warm node.
	if want := 5 * r.rounds; len(r.nodes) != want {
		p = append(p, fmt.Sprintf("%d pulls recorded, want %d", len(r.nodes), want))
	}
	for _, n := range r.nodes {
		if n.built != 0 || n.fetched < 1 {
			p = append(p, fmt.Sprintf("%s: built %d builds and fetched %d, want 0 and at least 1", n.what, n.built, n.fetched))
		}
		if n.key != n.want {
			p = append(p, fmt.Sprintf("%s: its revision links %q, want the admin's %s", n.what, n.key, n.want))
		}
		if n.files == 0 {
			p = append(p, n.what+": its build holds no file")
		}
		// Files format: every file but the relocated ones (those that
		// hold the build's path: scripts, pyvenv.cfg) is a hard link of
		// an object.
		if n.wantLinks && n.strays > 0 {
			p = append(p, fmt.Sprintf("%s: %d of its build's %d files are neither hard links nor relocated (%s)", n.what, n.strays, n.files, n.stray))
		}
		if n.wantLinks && n.linked == 0 {
			p = append(p, fmt.Sprintf("%s: none of its build's %d files is a hard link", n.what, n.files))
		}
		// The archive path shares files too (dedupe, once unpacked):
		// its links are not checked.
	}
	if r.disk.builds != r.disk.want {
		p = append(p, fmt.Sprintf("disk: the node holds %d builds, want %d", r.disk.builds, r.disk.want))
	}
	if !r.disk.linked {
		p = append(p, "disk: the node's builds share no file")
	}
	return p
}

// deltaRevision is the recipe of revision k (1-based): rez with the big
// package and a small one whose version is the revision's; from 3 on,
// a small extension too. Each revision differs from the one before in
// one small package.
func deltaRevision(k int) string {
	small := k - 1
	if k >= 3 {
		small = k - 2
	}
	extra := fmt.Sprintf("lib = [\"studiokit==1.0\", \"smalldep==1.%d\"]\n", small)
	if k >= 3 {
		extra += "\n[[extension]]\nname = \"smallext\"\nurl = \"smallext==1.0\"\n"
	}
	return extra
}

// writeDeltaWheels writes the test wheels and: studiokit 1.0 (mb MB, in
// a few thousand small modules and a few large extensions), smalldep
// 1.0 to 1.(builds), and smallext 1.0. It returns studiokit's files and
// bytes.
func writeDeltaWheels(dir string, mb, builds int) (files int, size int64, err error) {
	if err := testkit.WheelHouseAt(dir); err != nil {
		return 0, 0, err
	}
	rng := rand.New(rand.NewPCG(22, 2026))
	total := int64(mb) << 20
	kit := testkit.Wheel{Name: "studiokit", Version: "1.0", Files: map[string]string{}}
	// About 15% in small modules (1 to 8 KiB: PySide's .py, .pyi and
	// the .pyc pip compiles beside them), the rest in large extensions
	// (the Qt libraries): half their bytes random, as machine code
	// compresses.
	var small int64
	for i := 0; small < total*15/100; i++ {
		var src strings.Builder
		n := 1<<10 + rng.IntN(7<<10)
		for j := 0; src.Len() < n; j++ {
			fmt.Fprintf(&src, "def slot_%d_%d(widget, event=None):\n    \"\"\"Handle %d of QtModule%d.\"\"\"\n    return widget.dispatch(%q, event) or %d\n\n",
				i, j, j, i/40, fmt.Sprint("signal", j), rng.IntN(1e6))
		}
		kit.Files[fmt.Sprintf("studiokit/Qt%02d/module%04d.py", i/40, i)] = src.String()
		small += int64(src.Len())
	}
	large := total - small
	for i := 0; large > 0; i++ {
		n := min(large, 8<<20)
		if i < 3 { // a few smaller libraries too
			n = min(large, int64(2<<20))
		}
		b := make([]byte, n)
		for j := range b {
			if j%2 == 0 {
				b[j] = byte(rng.Uint32())
			} else {
				b[j] = byte(j >> 8)
			}
		}
		kit.Files[fmt.Sprintf("studiokit/Qt%d.abi3.so", i)] = string(b)
		large -= n
	}
	for _, c := range kit.Files {
		files++
		size += int64(len(c))
	}
	wheels := []testkit.Wheel{kit, {Name: "smallext", Version: "1.0", Files: map[string]string{"smallext/__init__.py": "VERSION = '1.0'\n"}}}
	for v := 0; v <= builds; v++ {
		wheels = append(wheels, testkit.Wheel{Name: "smalldep", Version: fmt.Sprintf("1.%d", v), Files: map[string]string{
			"smalldep/__init__.py": fmt.Sprintf("VERSION = '1.%d'\n", v),
			"smalldep/util.py":     fmt.Sprintf("def answer():\n    return %d\n", v),
		}})
	}
	for _, w := range wheels {
		if _, err := testkit.WriteWheel(dir, w); err != nil {
			return 0, 0, err
		}
	}
	return files, size, nil
}

// deltaBench publishes the revisions (revision k to its own remote root
// remote-k, all to one HTTP cache in both formats; revision 2 also to a
// second cache in the archive format only), then, rounds times after a
// warm-up round, alternating:
//
//   - an archive node: a fresh node pulling revision 2 from the archive
//     cache (today's path);
//   - a cold node: a fresh node pulling revision 2 file by file;
//   - a warm node: a fresh node that pulled revision 1 (untimed), then
//     pulls revision 2, then revision 3;
//   - an objects-warm node: the cold node, its build of revision 2 removed
//     (its objects kept), pulling it again.
//
// Then one node pulls every revision: the disk its root takes.
func deltaBench(w io.Writer, o deltaOptions) (*deltaReport, error) {
	if o.builds < 3 {
		return nil, fmt.Errorf("-delta-builds is %d: use at least 3", o.builds)
	}
	r := &deltaReport{rounds: o.rounds}
	tmp := o.tmp
	wheels := filepath.Join(tmp, "wheels")
	kitFiles, kitBytes, err := writeDeltaWheels(wheels, o.mb, o.builds)
	if err != nil {
		return nil, fmt.Errorf("write the wheels: %w", err)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(w, "delta: load %s at the start\n", strings.Join(strings.Fields(string(b))[:3], " "))
	}
	fmt.Fprintf(w, "delta: rez, a small package and studiokit (%d files, %s before pip compiles its modules)\n", kitFiles, humanBytes(kitBytes))

	cache, err := httpCache(filepath.Join(tmp, "cache"))
	if err != nil {
		return nil, err
	}
	defer cache.close()
	archiveCache := cacheUnderTest{name: "http", loc: strings.TrimSuffix(cache.loc, "/cache") + "/archive-cache"}
	packsDir := filepath.Join(tmp, "cache", "nginx", "data", "cache", "packs")

	// The admins: one publishes every revision in both formats, one
	// revision 2 in the archive format only.
	keys := make([]string, o.builds+1)
	var packsUpTo2 int
	var nodePath string
	for k := 1; k <= o.builds; k++ {
		key, took, err := deltaPublish(o, filepath.Join(tmp, "admin"), filepath.Join(tmp, fmt.Sprintf("remote-%d", k)), wheels, deltaRevision(k), cache, "both")
		if err != nil {
			return nil, fmt.Errorf("admin, revision %d: %w", k, err)
		}
		keys[k] = key
		if k == 1 {
			if nodePath, err = farmPath(filepath.Join(tmp, "admin", ".rezup", ".store", key)); err != nil {
				return nil, err
			}
		}
		if k == 2 {
			if packsUpTo2, err = countFiles(packsDir); err != nil {
				return nil, err
			}
		}
		if k <= 3 {
			fmt.Fprintf(w, "  revision %d published (both formats) in %v: %s\n", k, took.Round(time.Millisecond), key)
		}
	}
	key2a, _, err := deltaPublish(o, filepath.Join(tmp, "admin-archive"), filepath.Join(tmp, "remote-2a"), wheels, deltaRevision(2), archiveCache, "archive")
	if err != nil {
		return nil, fmt.Errorf("the archive admin: %w", err)
	}
	if key2a != keys[2] {
		return nil, fmt.Errorf("the archive admin's revision 2 is %s, the other admin's %s: the builds are not reproducible", key2a, keys[2])
	}
	fmt.Fprintf(w, "  the nodes' PATH is %s\n", nodePath)

	published := filepath.Join(tmp, "admin", ".rezup", ".store")
	pull := func(root, remote string, c cacheUnderTest) (deltaPull, error) {
		home := filepath.Join(filepath.Dir(root), "home")
		if err := os.MkdirAll(home, 0o755); err != nil {
			return deltaPull{}, err
		}
		if err := quiesce(); err != nil {
			return deltaPull{}, err
		}
		cache.counter.Reset()
		env := append(homeEnv(home, o.userCache), "PATH="+nodePath, "REZUP_ROOT_LOCAL="+root, "REZUP_ROOT_REMOTE="+remote)
		took, err := timed(append(env, c.env()...), home, nil, o.bin, "pull")
		if err != nil {
			return deltaPull{}, err
		}
		t := cache.counter.Snapshot().Method("GET")
		return deltaPull{took: took, bytes: t.Served, requests: t.Requests}, nil
	}
	record := func(what, root, want string, files bool, p deltaPull) error {
		n, err := deltaCount(root, want, published)
		if err != nil {
			return err
		}
		n.what, n.wantLinks, n.contentsFetched = what, files, p.bytes
		r.nodes = append(r.nodes, n)
		return nil
	}
	remote := func(k int) string { return filepath.Join(tmp, fmt.Sprintf("remote-%d", k)) }

	archives, err := filepath.Glob(filepath.Join(tmp, "cache", "nginx", "data", "archive-cache", keys[2], "*.tar.zst"))
	if err != nil {
		return nil, err
	}
	if len(archives) != 1 {
		return nil, fmt.Errorf("the archive cache holds %d archives of %s, want 1", len(archives), keys[2])
	}
	var arch, cold, warm2, warm3, objs []deltaPull
	var untar []time.Duration
	for i := range o.rounds + 1 { // the first round warms the page cache
		dir := filepath.Join(tmp, fmt.Sprintf("round-%02d", i))
		a, err := pull(filepath.Join(dir, "archive", "root"), filepath.Join(tmp, "remote-2a"), archiveCache)
		if err != nil {
			return nil, fmt.Errorf("an archive node: %w", err)
		}
		coldRoot := filepath.Join(dir, "cold", "root")
		c, err := pull(coldRoot, remote(2), cache)
		if err != nil {
			return nil, fmt.Errorf("a cold node: %w", err)
		}
		warmRoot := filepath.Join(dir, "warm", "root")
		if _, err := pull(warmRoot, remote(1), cache); err != nil {
			return nil, fmt.Errorf("a warm node, revision 1: %w", err)
		}
		w2, err := pull(warmRoot, remote(2), cache)
		if err != nil {
			return nil, fmt.Errorf("a warm node, revision 2: %w", err)
		}
		var w2n deltaNode
		if i > 0 {
			if w2n, err = deltaCount(warmRoot, keys[2], published); err != nil {
				return nil, err
			}
		}
		w3, err := pull(warmRoot, remote(3), cache)
		if err != nil {
			return nil, fmt.Errorf("a warm node, revision 3: %w", err)
		}
		if i > 0 {
			w2n.what, w2n.wantLinks, w2n.contentsFetched = fmt.Sprintf("round %d's warm node (revision 2)", i), true, w2.bytes
			r.nodes = append(r.nodes, w2n)
			if err := record(fmt.Sprintf("round %d's archive node", i), filepath.Join(dir, "archive", "root"), keys[2], false, a); err != nil {
				return nil, err
			}
			if err := record(fmt.Sprintf("round %d's cold node", i), coldRoot, keys[2], true, c); err != nil {
				return nil, err
			}
			if err := record(fmt.Sprintf("round %d's warm node (revision 3)", i), warmRoot, keys[3], true, w3); err != nil {
				return nil, err
			}
		}
		// The cold node's build goes; its objects stay.
		if err := removeBuild(coldRoot, keys[2]); err != nil {
			return nil, err
		}
		ob, err := pull(coldRoot, remote(2), cache)
		if err != nil {
			return nil, fmt.Errorf("an objects-warm node: %w", err)
		}
		if i > 0 {
			if err := record(fmt.Sprintf("round %d's objects-warm node", i), coldRoot, keys[2], true, ob); err != nil {
				return nil, err
			}
			arch, cold, warm2, warm3, objs = append(arch, a), append(cold, c), append(warm2, w2), append(warm3, w3), append(objs, ob)
		}
		// Unpacking the archive alone, as the archive path's floor.
		dest := filepath.Join(dir, "untar")
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return nil, err
		}
		if err := quiesce(); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := sh(fmt.Sprintf("zstd -dcq %s | tar -x -C %s", quote(archives[0]), quote(dest))); err != nil {
			return nil, err
		}
		if i > 0 {
			untar = append(untar, time.Since(start))
		}
		os.RemoveAll(dir) // space only: the temp dir goes at the end
	}

	ma, mc, mw2, mw3, mo := medianPull(arch), medianPull(cold), medianPull(warm2), medianPull(warm3), medianPull(objs)
	fmt.Fprintf(w, "delta (HTTP cache: nginx behind a counting proxy; medians of %d rounds, alternating):\n", o.rounds)
	fmt.Fprintf(w, "  (1) bytes, a node with revision 1 pulling revision 2: %s vs a full fetch of it (files) %s: %s (target <= 0.10x: %s); vs its archive %s: %s; revision 3: %s, %s\n",
		humanBytes(mw2.bytes), humanBytes(mc.bytes), byteRatio(mw2.bytes, mc.bytes), met(float64(mw2.bytes) <= 0.10*float64(mc.bytes)),
		humanBytes(ma.bytes), byteRatio(mw2.bytes, ma.bytes), humanBytes(mw3.bytes), byteRatio(mw3.bytes, mc.bytes))
	fmt.Fprintf(w, "  (2) time to ready, revision 2 on that warm node: %s vs a cold pull of it in the archive format %s: %s (target <= 0.20x: %s); revision 3: %s\n",
		ms(mw2.took), ms(ma.took), ratio(mw2.took, ma.took), met(float64(mw2.took) <= 0.20*float64(ma.took)), ms(mw3.took))
	fmt.Fprintf(w, "  (4) a cold node, files vs archive: time %s vs %s: %s (target <= 1.10x: %s); bytes %s vs %s: %s (target <= 1.10x: %s); %d requests, vs %d packs in the cache + 1 index (the archive node: %d)\n",
		ms(mc.took), ms(ma.took), ratio(mc.took, ma.took), met(float64(mc.took) <= 1.1*float64(ma.took)),
		humanBytes(mc.bytes), humanBytes(ma.bytes), byteRatio(mc.bytes, ma.bytes), met(float64(mc.bytes) <= 1.1*float64(ma.bytes)),
		mc.requests, packsUpTo2, ma.requests)
	for _, n := range r.nodes {
		if strings.HasSuffix(n.what, "cold node") {
			fmt.Fprintf(w, "  a cold node's build (files): %d files, %d hard links to objects, %d relocated (they hold the build's path, or the admin's), %d neither\n", n.files, n.linked, n.relocated, n.strays)
			break
		}
	}
	mu := median(untar)
	fmt.Fprintf(w, "  (5) a node with every object making the build (its whole pull): %s vs a cold pull in the archive format %s: %s faster (target >= 5x: %s); vs zstd -dc | tar -x of the archive %s: %s faster; %s fetched\n",
		ms(mo.took), ms(ma.took), ratio(ma.took, mo.took), met(float64(ma.took) >= 5*float64(mo.took)), ms(mu), ratio(mu, mo.took), humanBytes(mo.bytes))

	// Disk: one node pulls every revision.
	diskRoot := filepath.Join(tmp, "disk", "root")
	for k := 1; k <= o.builds; k++ {
		if _, err := pull(diskRoot, remote(k), cache); err != nil {
			return nil, fmt.Errorf("the disk node, revision %d: %w", k, err)
		}
	}
	es, err := storeEntries(diskRoot)
	if err != nil {
		return nil, err
	}
	r.disk.builds, r.disk.want = len(es), o.builds
	du, err := duBytes(diskRoot)
	if err != nil {
		return nil, err
	}
	var each int64
	for _, e := range es {
		b, err := duBytes(filepath.Join(diskRoot, ".store", e.key))
		if err != nil {
			return nil, err
		}
		each += b
	}
	distinct, err := distinctBytes(filepath.Join(diskRoot, ".store"), es)
	if err != nil {
		return nil, err
	}
	r.disk.linked = du < each
	fmt.Fprintf(w, "  (3) disk, %d builds on one node (du -sb of its root, hard links once): %s vs their distinct content %s: %s (target <= 1.20x: %s); vs each build counted apart %s: %s\n",
		len(es), humanBytes(du), humanBytes(distinct), byteRatio(du, distinct), met(float64(du) <= 1.2*float64(distinct)), humanBytes(each), byteRatio(du, each))
	return r, nil
}

// deltaPublish is an admin's `rezup add --remote --skip-use` of recipe
// in format to remote and c; it returns the key of the build it added
// to its root.
func deltaPublish(o deltaOptions, home, remote, wheels, recipe string, c cacheUnderTest, format string) (string, time.Duration, error) {
	if err := newHome(home, "rezup.toml", wheels, recipe); err != nil {
		return "", 0, err
	}
	root := filepath.Join(home, ".rezup")
	before, err := storeEntries(root)
	if err != nil {
		return "", 0, err
	}
	env := append(homeEnv(home, o.userCache), "REZUP_ROOT_LOCAL="+root, "REZUP_ROOT_REMOTE="+remote, "REZUP_CACHE_FORMAT="+format)
	took, err := timed(append(env, c.env()...), home, nil, o.bin, "add", "--remote", "--skip-use")
	if err != nil {
		return "", 0, err
	}
	after, err := storeEntries(root)
	if err != nil {
		return "", 0, err
	}
	if len(after) != len(before)+1 {
		return "", 0, fmt.Errorf("%s holds %d builds after an add, %d before: want one more", root, len(after), len(before))
	}
	for _, e := range after {
		if !slices.ContainsFunc(before, func(b storeEntry) bool { return b.key == e.key }) {
			return e.key, took, nil
		}
	}
	return "", 0, fmt.Errorf("%s: no new build after an add", root)
}

// deltaCount counts what a node's root holds: its builds, the key its
// newest revision links, and that build's files and hard links.
func deltaCount(root, want, published string) (deltaNode, error) {
	n := deltaNode{want: want}
	es, err := storeEntries(root)
	if err != nil {
		return n, err
	}
	for _, e := range es {
		switch e.how {
		case "built":
			n.built++
		case "fetched":
			n.fetched++
		}
	}
	keys, err := revisionKeys(root, ".main")
	if err != nil {
		return n, err
	}
	if len(keys) > 0 {
		n.key = keys[len(keys)-1]
	}
	if n.key == "" {
		return n, nil
	}
	build := filepath.Join(root, ".store", n.key)
	err = filepath.WalkDir(build, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n.files++
		if nlink(fi) > 1 {
			n.linked++
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(build)) || bytes.Contains(b, []byte(filepath.Join(published, n.key))) {
			n.relocated++
			return nil
		}
		n.strays++
		if n.stray == "" {
			n.stray, _ = filepath.Rel(build, p)
		}
		return nil
	})
	return n, err
}

// removeBuild removes build key from the node's root (read-only, as
// published), and its index, keeping the objects.
func removeBuild(root, key string) error {
	dir := filepath.Join(root, ".store", key)
	if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o755)
		}
		return err
	}); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(root, ".store", key+".index")); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// duBytes is `du -sb dir`: apparent sizes, each inode once.
func duBytes(dir string) (int64, error) {
	out, err := exec.Command("du", "-sb", dir).Output()
	if err != nil {
		return 0, fmt.Errorf("du -sb %s: %w", dir, err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		return 0, fmt.Errorf("du -sb %s: no output", dir)
	}
	return strconv.ParseInt(f[0], 10, 64)
}

// distinctBytes is the bytes of the distinct file contents of the builds
// es under store: what they hold once each content is kept once.
func distinctBytes(store string, es []storeEntry) (int64, error) {
	seen := map[string]bool{}
	var n int64
	for _, e := range es {
		err := filepath.WalkDir(filepath.Join(store, e.key), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := contentSum(b)
			if !seen[sum] {
				seen[sum] = true
				n += int64(len(b))
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

func countFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	return n, err
}

// medianPull is the median of each of ps's measures, apart.
func medianPull(ps []deltaPull) deltaPull {
	var t []time.Duration
	var b, q []time.Duration // int64s, sorted as durations
	for _, p := range ps {
		t, b, q = append(t, p.took), append(b, time.Duration(p.bytes)), append(q, time.Duration(p.requests))
	}
	return deltaPull{took: median(t), bytes: int64(median(b)), requests: int64(median(q))}
}

func byteRatio(a, b int64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3fx", float64(a)/float64(b))
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func humanBytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func contentSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
