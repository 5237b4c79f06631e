//go:build unix

package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// An admin that publishes in the files format (REZUP_CACHE_FORMAT=files)
// pins the index; a node's `use` fetches the build by it, into its object
// store, and runs it: the build's files are hard links of the objects,
// but for those that hold the build's path.
func TestUseFetchesFilesFormat(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	f.admin.Env["REZUP_CACHE_FORMAT"] = "files"
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	revs := revisions(t, f.remote, "prod")
	if len(revs) != 1 {
		t.Fatalf("remote revisions: %v", revs)
	}
	var meta struct {
		Key     string
		Archive struct {
			Format string `json:"format"`
			Index  string `json:"index"`
			Digest string `json:"digest"`
		} `json:"archive"`
	}
	b, err := os.ReadFile(filepath.Join(f.remote, "prod", "revisions", revs[0], "revision.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Archive.Format != "files" || meta.Archive.Index == "" || meta.Archive.Digest != "" {
		t.Fatalf("the revision does not pin the index alone (%v):\n%s", err, b)
	}
	if err := os.RemoveAll(f.wheels); err != nil {
		t.Fatal(err)
	}

	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	res := node.MustRun("use", "prod", "--", "rez-env", "maya")
	if !strings.Contains(res.Stderr, "fetched") || strings.Contains(res.Stderr, "installing") {
		t.Errorf("the node did not fetch, or ran pip:\n%s", res.Stderr)
	}
	r := rezReport(t, res.Stdout)
	entry := filepath.Join(root, ".store", meta.Key)
	if want := filepath.Join(entry, "venv", "rez", "bin", "rez", "rez-env"); r.Script != want || !r.IgnoreEnvironment {
		t.Errorf("ran %s (%+v), want %s", r.Script, r, want)
	}
	if _, err := os.Stat(filepath.Join(root, ".store", "objects")); err != nil {
		t.Fatalf("no object store: %v", err)
	}
	linked, single := 0, 0
	filepath.WalkDir(entry, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if fi.Mode()&0o222 != 0 {
			t.Errorf("%s is writable", p)
		}
		if fi.Sys().(*syscall.Stat_t).Nlink > 1 {
			linked++
		} else {
			single++
		}
		return nil
	})
	if linked == 0 || single == 0 || linked < single {
		t.Errorf("%d files linked to objects, %d not: want most linked, and the relocated ones not", linked, single)
	}
	script, _ := os.ReadFile(r.Script)
	if !strings.Contains(string(script), entry) {
		t.Errorf("the entry point is not relocated to %s:\n%.200s", entry, script)
	}
	t.Logf("%d files linked, %d written", linked, single)
}
