//go:build unix

package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/testsrv"
)

// kill -9 of a node mid delta-fetch (a pull of a build of the files
// format, its cache reads trickled so that the kill lands between
// objects) leaves a consistent store: every object holds the bytes its
// name says, the next pull completes, gc leaves no staging, and the build
// runs.
func TestKilledMidDeltaFetchRecovers(t *testing.T) {
	t.Parallel()
	srv := nginxCache(t, testsrv.NginxOptions{})
	f := newFarm(t)
	f.publishTo(t, srv.URL+"/rezup", map[string]string{"REZUP_CACHE_FORMAT": "files"})
	slow, err := testsrv.StartFault(srv.URL, testsrv.FaultTrickle, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slow.Close() })

	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	node.Env["REZUP_CACHE"] = slow.URL + "/rezup"
	node.Env["REZUP_CACHE_MIN_RATE"] = "1" // a trickle is not too slow
	objects := filepath.Join(root, ".store", "objects")

	cmd := node.Start("pull", "prod")
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	killed, stored, temps := false, 0, []string(nil)
	var writing time.Time // when object temps were first seen
	deadline := time.Now().Add(3 * time.Minute)
poll:
	for time.Now().Before(deadline) {
		select {
		case <-done:
			break poll
		default:
		}
		// Kill once objects are stored, or have been being written for
		// a while: mid-fetch.
		temps, _ = filepath.Glob(filepath.Join(objects, ".*"))
		if len(temps) > 0 && writing.IsZero() {
			writing = time.Now()
		}
		if stored = len(storedObjects(t, objects)); stored > 0 || !writing.IsZero() && time.Since(writing) > 3*time.Second {
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
			killed = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !killed {
		t.Fatalf("the pull was not killed mid-fetch (it ended, or stored nothing in 3 minutes):\n%s", cmd.Stderr)
	}
	t.Logf("killed with %d objects stored, %d being written", stored, len(temps))
	checkObjects(t, objects, false)
	for _, k := range storeEntries(t, root) {
		if k == "objects" {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, ".store", k, ".rezup", "manifest.json")); err != nil {
			t.Errorf("a half-made entry is visible: %s", k)
		}
	}

	// The next pull, at full speed, completes from what is there.
	node.Env["REZUP_CACHE"] = srv.URL + "/rezup"
	res := node.MustRun("pull", "prod")
	if !strings.Contains(res.Stderr, "fetched") {
		t.Errorf("the second pull did not fetch:\n%s", res.Stderr)
	}
	checkObjects(t, objects, true)
	node.MustRun("gc")
	if tmp, _ := filepath.Glob(filepath.Join(root, ".tmp", "*-*")); len(tmp) != 0 {
		t.Errorf("staging left after gc: %v", tmp)
	}
	// The killed pull's object temps go once older than gc's grace.
	temps, _ = filepath.Glob(filepath.Join(objects, ".*"))
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range temps {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	node.MustRun("gc")
	if left, _ := filepath.Glob(filepath.Join(objects, ".*")); len(left) != 0 {
		t.Errorf("%d of %d object temps left after gc: %v", len(left), len(temps), left[0])
	}
	checkObjects(t, objects, true)
	res = node.MustRun("use", "prod", "--", "rez-env", "maya")
	rezReport(t, res.Stdout)
	if strings.Contains(res.Stderr, "installing") {
		t.Errorf("the node ran pip:\n%s", res.Stderr)
	}
}

// storedObjects lists the objects in the store at dir (not its temps).
func storedObjects(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	shards, _ := os.ReadDir(dir)
	for _, s := range shards {
		if !s.IsDir() || len(s.Name()) != 2 {
			continue
		}
		names, _ := os.ReadDir(filepath.Join(dir, s.Name()))
		for _, n := range names {
			if !strings.HasPrefix(n.Name(), ".") && n.Type().IsRegular() {
				out = append(out, filepath.Join(dir, s.Name(), n.Name()))
			}
		}
	}
	return out
}

// checkObjects checks every object in the store at dir hashes to its
// name, in its shard; some says there must be one at least.
func checkObjects(t *testing.T, dir string, some bool) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == dir {
			return nil // nothing stored yet
		}
		if err != nil || !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		name := strings.TrimSuffix(d.Name(), ".x")
		want, err := cas.ParseDigest(name)
		if err != nil || filepath.Base(filepath.Dir(p)) != name[:2] {
			t.Errorf("%s is not named as an object", p)
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if got := cas.DigestOf(b); got != want {
			t.Errorf("object %s holds bytes of digest %s", p, got)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 && some {
		t.Error("no object in the store")
	}
}
