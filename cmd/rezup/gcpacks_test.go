package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/gc"
)

// gc --cache lists and removes the packs of the files format: a pack no
// index names goes (in the text and the JSON of a dry run first, with its
// size), the packs the remote revision's index names stay, and a node
// still fetches the build.
func TestGCCacheCollectsPacks(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	cacheDir := filepath.Join(f.remote, ".cache")
	f.publishTo(t, cacheDir, map[string]string{"REZUP_CACHE_FORMAT": "files"})
	named, _ := filepath.Glob(filepath.Join(cacheDir, "packs", "*", "*.pack"))
	if len(named) == 0 {
		t.Fatal("the publish stored no pack")
	}
	// A pack no index names: what a publish that crashed before its
	// index, or a removed key, leaves.
	data := []byte(strings.Repeat("an orphan pack ", 100))
	d := cas.DigestOf(data).String()
	orphan := filepath.Join(cacheDir, "packs", d[:2], d+".pack")
	if err := os.MkdirAll(filepath.Dir(orphan), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(orphan, data, 0o444); err != nil {
		t.Fatal(err)
	}

	gcArgs := []string{"gc", "--cache", "--cache-grace", "0"}
	res := f.admin.MustRun(append(gcArgs, "--dry-run")...)
	if !strings.Contains(res.Stdout, "remove  pack") || !strings.Contains(res.Stdout, d) {
		t.Errorf("the dry run does not list the orphan pack:\n%s", res.Stdout)
	}
	r := gcReport(t, f.admin.MustRun(append(gcArgs, "--dry-run", "--json")...).Stdout)
	var packs int
	for _, it := range r.Remove {
		if it.Kind == gc.KindPack && (it.Name != d || it.Bytes != int64(len(data)) || it.Reason != gc.ReasonUnreferenced) {
			t.Errorf("removes %+v, want only the orphan (%d bytes, unreferenced)", it, len(data))
		}
	}
	for _, it := range r.Kept {
		if it.Kind == gc.KindPack {
			packs++
			if it.Reason != gc.ReasonReferenced || it.Bytes <= 0 {
				t.Errorf("kept pack %+v, want it referenced, with its size", it)
			}
		}
	}
	if !hasItem(r.Remove, gc.KindPack, d, gc.ReasonUnreferenced) || packs != len(named) {
		t.Errorf("the JSON plan removes the orphan: %v; keeps %d packs, want %d", hasItem(r.Remove, gc.KindPack, d, ""), packs, len(named))
	}
	if _, err := os.Stat(orphan); err != nil {
		t.Fatalf("the dry run removed the orphan: %v", err)
	}

	f.admin.MustRun(gcArgs...)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("the orphan pack is still there: %v", err)
	}
	for _, p := range named {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a named pack went: %v", err)
		}
	}
	checkFilesFetch(t, f, map[string]string{"REZUP_CACHE": cacheDir})
}
