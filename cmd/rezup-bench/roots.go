package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// What the benchmarks count, they read from the local roots rezup leaves,
// as documented in README "Layout": a build is .store/<key> with
// .rezup/manifest.json (its "origin" says whether this machine built or
// fetched it), and a revision is <container>/revisions/<timestamp> whose
// venv links to ../../../.store/<key>/venv.

// storeEntry is a complete build in a local root's store.
type storeEntry struct {
	key string
	how string // the manifest's origin: "built" or "fetched"; "" without one
}

// storeEntries lists the complete builds of the local root at root, sorted
// by key; a root with no store has none.
func storeEntries(root string) ([]storeEntry, error) {
	manifests, err := filepath.Glob(filepath.Join(root, ".store", "*", ".rezup", "manifest.json"))
	if err != nil {
		return nil, err
	}
	var out []storeEntry
	for _, m := range manifests {
		var man struct {
			Origin *struct {
				How string `json:"how"`
			} `json:"origin"`
		}
		b, err := os.ReadFile(m)
		if err == nil {
			err = json.Unmarshal(b, &man)
		}
		if err != nil {
			return nil, fmt.Errorf("read the manifest %s: %w", m, err)
		}
		e := storeEntry{key: filepath.Base(filepath.Dir(filepath.Dir(m)))}
		if man.Origin != nil {
			e.how = man.Origin.How
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out, nil
}

// builtHere counts the entries this machine built.
func builtHere(es []storeEntry) int {
	n := 0
	for _, e := range es {
		if e.how == "built" {
			n++
		}
	}
	return n
}

// revisionKeys returns, for each revision of container in the local root
// at root that links a build, the key it links, oldest first.
func revisionKeys(root, container string) ([]string, error) {
	links, err := filepath.Glob(filepath.Join(root, container, "revisions", "*", "venv"))
	if err != nil {
		return nil, err
	}
	sort.Strings(links)
	var keys []string
	for _, l := range links {
		target, err := os.Readlink(l)
		if err != nil {
			continue // a real venv directory: the Python rezup's, no key
		}
		keys = append(keys, filepath.Base(filepath.Dir(target)))
	}
	return keys, nil
}

// countTree counts what is under dir: files, directories and symlinks,
// dir itself excluded.
func countTree(dir string) (int, error) {
	n := -1
	err := filepath.WalkDir(dir, func(_ string, _ fs.DirEntry, err error) error {
		n++
		return err
	})
	return n, err
}
