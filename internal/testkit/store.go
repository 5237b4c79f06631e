package testkit

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FakeRoot writes a rezup root by hand, without python: store entries
// with a manifest and a payload, and revisions with a frozen recipe and
// revision.json. It is the layout of ARCHITECTURE.md ("On disk"), written the
// way rezup writes it, for tests of what reads it (gc) that need many
// entries or precise ages. Every mtime is set explicitly, so tests choose
// ages with an injected clock instead of sleeping.
type FakeRoot struct {
	T   testing.TB
	Dir string
}

// NewFakeRoot returns a FakeRoot writing into dir (created if missing).
func NewFakeRoot(t testing.TB, dir string) *FakeRoot {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &FakeRoot{T: t, Dir: dir}
}

// FakeKey is a valid key (32 lowercase hex characters) numbered n.
func FakeKey(n int) string { return fmt.Sprintf("%032x", n) }

// FakeRevisionName names a revision made at t, as rezup does.
func FakeRevisionName(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMicro())/1e6, 'f', 6, 64)
}

// Entry writes a ready store entry .store/<key> holding size bytes, with a
// manifest created at created, and its lock file stamped created (the
// time a build writes it). It returns the entry's directory.
func (f *FakeRoot) Entry(key string, size int, created time.Time) string {
	f.T.Helper()
	dir := filepath.Join(f.Dir, ".store", key)
	f.write(filepath.Join(dir, "venv", "rez", "bin", "rez", "rez-env"), strings.Repeat("x", size), created)
	manifest := map[string]any{
		"key": key, "prefix": dir, "interpreters": map[string]any{}, "venvs": []string{"rez"},
		"rez_version": RezVersion, "files": 1, "bytes": size, "created": created.UTC(), "rezup_version": "test",
	}
	f.writeJSON(filepath.Join(dir, ".rezup", "manifest.json"), manifest, created)
	f.Stamp(key, created)
	f.touch(dir, created)
	return dir
}

// IncompleteEntry writes .store/<key> without a manifest, as an
// interrupted older rezup could leave it, with no lock file.
func (f *FakeRoot) IncompleteEntry(key string, size int, mtime time.Time) string {
	f.T.Helper()
	dir := filepath.Join(f.Dir, ".store", key)
	f.write(filepath.Join(dir, "venv", "half"), strings.Repeat("x", size), mtime)
	f.touch(filepath.Join(dir, "venv"), mtime)
	f.touch(dir, mtime)
	return dir
}

// Stamp sets the use-stamp of key (the mtime of .store/<key>.lock),
// creating the lock file if needed.
func (f *FakeRoot) Stamp(key string, t time.Time) {
	f.T.Helper()
	p := filepath.Join(f.Dir, ".store", key+".lock")
	if _, err := os.Stat(p); err != nil {
		f.write(p, "", t)
	}
	f.touch(p, t)
}

// LockPath is key's lock file.
func (f *FakeRoot) LockPath(key string) string {
	return filepath.Join(f.Dir, ".store", key+".lock")
}

// Revision writes a ready revision of container made at t that uses key
// ("" for none, as the Python rezup writes them), and returns its name.
// remoteKey, when given, is recorded as the key of the remote revision it
// mirrors.
func (f *FakeRoot) Revision(container string, t time.Time, key string, remoteKey ...string) string {
	f.T.Helper()
	name := FakeRevisionName(t)
	dir := filepath.Join(f.Dir, container, "revisions", name)
	f.write(filepath.Join(dir, "rezup.toml"), "[rez]\nurl = \"rez\"\n", t)
	meta := map[string]any{"rezup_version": "test", "creator": "tester", "hostname": "host", "venvs": []string{"rez"}}
	if key != "" {
		meta["key"] = key
		if err := os.Symlink(filepath.Join("..", "..", "..", ".store", key, "venv"), filepath.Join(dir, "venv")); err != nil {
			f.T.Fatal(err)
		}
	}
	if len(remoteKey) > 0 {
		meta["remote_key"] = remoteKey[0]
	}
	f.writeJSON(filepath.Join(dir, "revision.json"), meta, t)
	f.touch(dir, t)
	f.touch(filepath.Dir(dir), t)
	return name
}

// NotReadyRevision writes a revision of container without revision.json
// (being written, or abandoned), last touched at t.
func (f *FakeRoot) NotReadyRevision(container string, t time.Time) string {
	f.T.Helper()
	name := FakeRevisionName(t)
	dir := filepath.Join(f.Dir, container, "revisions", name)
	f.write(filepath.Join(dir, "rezup.toml"), "[rez]\nurl = \"rez\"\n", t)
	f.touch(dir, t)
	return name
}

// RevisionStaging writes <container>/revisions/.staging-<suffix>, last
// touched at t, and returns its path.
func (f *FakeRoot) RevisionStaging(container, suffix string, t time.Time) string {
	f.T.Helper()
	dir := filepath.Join(f.Dir, container, "revisions", ".staging-"+suffix)
	f.write(filepath.Join(dir, "rezup.toml"), "[rez]\n", t)
	f.touch(dir, t)
	return dir
}

// Staging writes a build staging dir .tmp/<key>-<suffix> and returns its
// path. The key's lock file is created, as a builder creates it.
func (f *FakeRoot) Staging(key, suffix string, t time.Time) string {
	f.T.Helper()
	dir := filepath.Join(f.Dir, ".tmp", key+"-"+suffix)
	f.write(filepath.Join(dir, "venv", "partial"), "partial", t)
	f.touch(dir, t)
	f.Stamp(key, t)
	return dir
}

// Trash writes .tmp/trash-<suffix>, as an interrupted removal leaves it.
func (f *FakeRoot) Trash(suffix string, t time.Time) string {
	f.T.Helper()
	dir := filepath.Join(f.Dir, ".tmp", "trash-"+suffix)
	f.write(filepath.Join(dir, "venv", "left"), "left", t)
	f.touch(dir, t)
	return dir
}

// Scratch makes the scratch dir .tmp/<name> (venv-*, resolve-*, lock-*:
// a venv made ahead of a build, a resolution, a lock's install) with
// mtime t.
func (f *FakeRoot) Scratch(name string, t time.Time) string {
	f.T.Helper()
	dir := filepath.Join(f.Dir, ".tmp", name)
	f.write(filepath.Join(dir, "rez", "pyvenv.cfg"), "home = /usr/bin\n", t)
	f.touch(dir, t)
	return dir
}

func (f *FakeRoot) write(p, content string, t time.Time) {
	f.T.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.T.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.T.Fatal(err)
	}
	f.touch(p, t)
}

func (f *FakeRoot) writeJSON(p string, v any, t time.Time) {
	f.T.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		f.T.Fatal(err)
	}
	f.write(p, string(b)+"\n", t)
}

func (f *FakeRoot) touch(p string, t time.Time) {
	f.T.Helper()
	if err := os.Chtimes(p, t, t); err != nil {
		f.T.Fatal(err)
	}
}

// Snapshot describes every file, directory and link under dir (mode,
// size, mtime, link target), to compare before and after an operation
// that must change nothing.
func Snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		snap[p] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return snap
}

// DiffSnapshots lists what differs between two snapshots, one line each.
func DiffSnapshots(before, after map[string]string) []string {
	var diff []string
	for p, b := range before {
		if a, ok := after[p]; !ok {
			diff = append(diff, "removed "+p)
		} else if a != b {
			diff = append(diff, fmt.Sprintf("changed %s: %s -> %s", p, b, a))
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			diff = append(diff, "added "+p)
		}
	}
	return diff
}

// PythonRevision writes a ready revision of container made at t as the
// Python rezup lays it out, without python: no key, and a real venv
// directory holding size bytes under venv/rez/bin/rez. It is for tests of
// what reads the layout (gc, drop); PythonRezupRevision makes one that
// runs. It returns the revision's name.
func (f *FakeRoot) PythonRevision(container string, t time.Time, size int) string {
	f.T.Helper()
	name := FakeRevisionName(t)
	dir := filepath.Join(f.Dir, container, "revisions", name)
	f.write(filepath.Join(dir, "rezup.toml"), "[rez]\nurl = \"rez\"\n", t)
	f.write(filepath.Join(dir, "venv", "rez", "bin", "rez", "rez-env"), strings.Repeat("x", size), t)
	meta := map[string]any{"rezup_version": PythonRezupVersion, "creator": "tester", "hostname": "host", "revision_path": dir, "venvs": []string{"rez"}}
	f.writeJSON(filepath.Join(dir, "revision.json"), meta, t)
	f.touch(filepath.Join(dir, "venv"), t)
	f.touch(dir, t)
	f.touch(filepath.Dir(dir), t)
	return name
}
