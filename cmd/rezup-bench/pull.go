package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rezup/rezup/internal/testkit"
)

// pullReport is what the pull comparison counted.
type pullReport struct {
	rounds   int
	key      string // the admin's build
	archives int    // archives of the key in the cache: the admin's one
	nodes    []pullNode
	// vs says the rounds timed a second rezup's pull too (-vs); vsKeys is
	// the key each recorded round's fresh node of it links ("" for none).
	vs     bool
	vsKeys []string
}

// pullNode is one recorded round: a fresh node's root after `rezup pull`,
// and the untar of the same archive beside it.
type pullNode struct {
	builds, fetched int    // store entries the node built, fetched
	key             string // the key its revision links ("" for none)
	tree, untarred  int    // entries of its build, and of the untar
}

func (r *pullReport) check() []string {
	var p []string
	if r.archives != 1 {
		p = append(p, fmt.Sprintf("pull: the cache holds %d archives of %s, want the admin's one", r.archives, r.key))
	}
	if len(r.nodes) != r.rounds {
		p = append(p, fmt.Sprintf("pull: %d rounds recorded, want %d", len(r.nodes), r.rounds))
	}
	if r.vs && len(r.vsKeys) != r.rounds {
		p = append(p, fmt.Sprintf("pull: %d rounds of -vs recorded, want %d", len(r.vsKeys), r.rounds))
	}
	for i, k := range r.vsKeys {
		if k != r.key {
			p = append(p, fmt.Sprintf("pull: round %d's node of -vs links %q, want the admin's %s", i+1, k, r.key))
		}
	}
	for i, n := range r.nodes {
		if n.fetched != 1 || n.builds != 0 {
			p = append(p, fmt.Sprintf("pull: round %d's node fetched %d builds and built %d, want 1 and 0", i+1, n.fetched, n.builds))
		}
		if n.key != r.key {
			p = append(p, fmt.Sprintf("pull: round %d's node's revision links %q, want the admin's %s", i+1, n.key, r.key))
		}
		if n.tree != n.untarred {
			p = append(p, fmt.Sprintf("pull: round %d's node's build holds %d entries, the untar of its archive %d", i+1, n.tree, n.untarred))
		}
	}
	return p
}

// pullBench publishes a real build as an admin does (`rezup add --remote
// --skip-use` of the test wheels, into the remote root's directory
// cache), then times, rounds times, each side first in turn: a fresh
// node's whole `rezup pull` (a process start, the remote revision, fetch,
// verify, unpack, relocate, sync, rename), the same of the second rezup vs
// when there is one (a comparator, such as a build of f809166), and `zstd
// -dc ARCHIVE | tar -x -C DIR` of the same archive, straight from the
// cache, and that plus `sync -f`. Each timing starts with no dirty page
// left to write back. Besides the medians of each side, it reports the
// median of the rounds' ratios: the disk's state drifts from round to
// round, and weighs on both sides of one round alike.
func pullBench(w io.Writer, bin, vs, tmp string, rounds int, userCache string) (*pullReport, error) {
	wheels, admin, remote := filepath.Join(tmp, "wheels"), filepath.Join(tmp, "admin"), filepath.Join(tmp, "remote")
	if err := testkit.WheelHouseAt(wheels); err != nil {
		return nil, err
	}
	if err := newHome(admin, "rezup.toml", wheels, ""); err != nil {
		return nil, err
	}
	built, err := timed(append(homeEnv(admin, userCache), "REZUP_ROOT_REMOTE="+remote), admin, nil, bin, "add", "--remote", "--skip-use")
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	es, err := storeEntries(filepath.Join(admin, ".rezup"))
	if err != nil {
		return nil, err
	}
	if len(es) != 1 {
		return nil, fmt.Errorf("admin: its root holds %d builds after one add, want 1", len(es))
	}
	r := &pullReport{rounds: rounds, key: es[0].key}
	archives, err := filepath.Glob(filepath.Join(remote, ".cache", r.key, "*.tar.zst"))
	if err != nil {
		return nil, err
	}
	r.archives = len(archives)
	if len(archives) == 0 {
		return nil, fmt.Errorf("admin: no archive of %s in %s", r.key, filepath.Join(remote, ".cache"))
	}
	archive := archives[0]
	// A farm node's PATH names its interpreter's own directory; a
	// version manager's shims (pyenv's, first on a developer's PATH)
	// would make the node run one to find the real interpreter, a cost of
	// the shim (about half a second for pyenv's), not of the pull.
	nodePath, err := farmPath(filepath.Join(admin, ".rezup", ".store", r.key))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "pull: the nodes' PATH is %s (the base interpreter's directory, as on a farm node)\n", nodePath)

	env := func(home, root string) []string {
		return append(homeEnv(home, userCache), "PATH="+nodePath, "REZUP_ROOT_LOCAL="+root, "REZUP_ROOT_REMOTE="+remote)
	}
	sides := []string{"pull", "untar"}
	if vs != "" {
		sides = []string{"pull", "vs", "untar"}
		r.vs = true
	}
	var pulls, vsPulls, untar, untarSync []time.Duration
	var paired, vsPaired []float64 // each round's pull / untar, pull / vs

	for i := range rounds + 1 { // the first round warms the page cache
		dir := filepath.Join(tmp, fmt.Sprintf("round-%02d", i))
		took := map[string]time.Duration{}
		// Each side goes first in turn: the disk's state (its writeback,
		// the inodes freed by the round before) weighs on whichever runs
		// first, and so on none of them more than on the others.
		for j := range sides {
			side := sides[(i+j)%len(sides)]
			if err := pullSide(side, filepath.Join(dir, side), archive, bin, vs, env, took); err != nil {
				return nil, err
			}
		}
		if i > 0 {
			pulls, untar, untarSync = append(pulls, took["pull"]), append(untar, took["untar"]), append(untarSync, took["untar+sync"])
			paired = append(paired, float64(took["pull"])/float64(took["untar"]))
			n, err := pulledNode(filepath.Join(dir, "pull", "root"), filepath.Join(dir, "untar"))
			if err != nil {
				return nil, err
			}
			r.nodes = append(r.nodes, n)
			if vs != "" {
				vsPulls, vsPaired = append(vsPulls, took["vs"]), append(vsPaired, float64(took["pull"])/float64(took["vs"]))
				keys, err := revisionKeys(filepath.Join(dir, "vs", "root"), ".main")
				if err != nil {
					return nil, err
				}
				r.vsKeys = append(r.vsKeys, newest(keys))
			}
		}
		os.RemoveAll(dir) // space only: the temp dir goes at the end
	}
	mp, mu, mus := median(pulls), median(untar), median(untarSync)
	fmt.Fprintf(w, "pull (fresh node), median: %v vs zstd -dc | tar -x %v: %s (issue 18's target: <= 1.00x); vs the same plus sync -f %v: %s (%d rounds, each side first in turn; %s)\n",
		ms(mp), ms(mu), ratio(mp, mu), ms(mus), ratio(mp, mus), rounds, fileSizeString(archive))
	fmt.Fprintf(w, "  paired: the median of each round's pull / untar is %.2fx\n", median(paired))
	if vs != "" {
		mv := median(vsPulls)
		fmt.Fprintf(w, "  -vs %s: a fresh node's pull, median %v: this pull is %s of it (paired: %.2fx); it is %s the untar\n",
			filepath.Base(vs), ms(mv), ratio(mp, mv), median(vsPaired), ratio(mv, mu))
	}
	fmt.Fprintf(w, "  the admin's build + publish: %v; a fresh node's pull is %s of it\n", built.Round(time.Millisecond), ratio(mp, built))
	return r, nil
}

// pullSide times one side of a round of the pull comparison in dir, into
// took[side]: a fresh node's `rezup pull` of bin ("pull") or of vs
// ("vs"), or the untar of the archive ("untar", and the untar plus `sync
// -f` as "untar+sync"). Each starts with no dirty page left to write back.
func pullSide(side, dir, archive, bin, vs string, env func(home, root string) []string, took map[string]time.Duration) error {
	if side == "untar" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := quiesce(); err != nil {
			return err
		}
		start := time.Now()
		if err := sh(fmt.Sprintf("zstd -dcq %s | tar -x -C %s", quote(archive), quote(dir))); err != nil {
			return err
		}
		took["untar"] = time.Since(start)
		if err := exec.Command("sync", "-f", dir).Run(); err != nil {
			return fmt.Errorf("sync -f: %w", err)
		}
		took["untar+sync"] = time.Since(start)
		return nil
	}
	exe := bin
	if side == "vs" {
		exe = vs
	}
	home, root := filepath.Join(dir, "home"), filepath.Join(dir, "root")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	if err := quiesce(); err != nil {
		return err
	}
	d, err := timed(env(home, root), home, nil, exe, "pull")
	if err != nil {
		return fmt.Errorf("a fresh node of %s: %w", exe, err)
	}
	took[side] = d
	return nil
}

// newest is the last of keys, a container's revisions' keys oldest
// first ("" for none).
func newest(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return keys[len(keys)-1]
}

// pulledNode counts what a fresh node's pull left in its root, and the
// untar of the same archive in dest.
func pulledNode(root, dest string) (pullNode, error) {
	var n pullNode
	es, err := storeEntries(root)
	if err != nil {
		return n, err
	}
	for _, e := range es {
		switch e.how {
		case "built":
			n.builds++
		case "fetched":
			n.fetched++
		}
	}
	keys, err := revisionKeys(root, ".main")
	if err != nil {
		return n, err
	}
	n.key = newest(keys)
	if n.key != "" {
		if n.tree, err = countTree(filepath.Join(root, ".store", n.key)); err != nil {
			return n, err
		}
	}
	n.untarred, err = countTree(dest)
	return n, err
}

func fileSizeString(p string) string {
	return fmt.Sprintf("archive %.1f MiB", float64(fileSize(p))/(1<<20))
}

// farmPath is the PATH of a farm node for the build at entry: the
// directory of its base interpreter (the home of its venvs' pyvenv.cfg),
// then the system's.
func farmPath(entry string) (string, error) {
	cfgs, err := filepath.Glob(filepath.Join(entry, "venv", "*", "pyvenv.cfg"))
	if err != nil || len(cfgs) == 0 {
		return "", fmt.Errorf("no venv of the build %s (err: %v)", entry, err)
	}
	b, err := os.ReadFile(cfgs[0])
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "home" {
			return strings.TrimSpace(v) + string(os.PathListSeparator) + "/usr/bin" + string(os.PathListSeparator) + "/bin", nil
		}
	}
	return "", fmt.Errorf("%s names no home", cfgs[0])
}
