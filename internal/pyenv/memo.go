package pyenv

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/rezup/rezup/internal/fsx"
)

// A memo remembers what a python run said about an interpreter file (its
// identity, its bundled pip wheels) in a cache directory, so that a build
// does not pay a python start for it each time. It holds when every file
// and directory it was read from is unchanged: same resolved path, size
// and modification time. Python upgraded in place, or a new bundled wheel,
// changes one of them; a shim (pyenv's), which may run another python
// tomorrow, is never memoized (see ProbeCached).
//
// Memos are advisory: one that cannot be read, parsed or written is as
// none, never an error.

// stamp is the identity of a file or directory a memo depends on.
type stamp struct {
	Path  string `json:"path"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime_ns"`
}

func stampOf(path string) (stamp, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return stamp{}, false
	}
	fi, err := os.Stat(real)
	if err != nil {
		return stamp{}, false
	}
	size := fi.Size()
	if fi.IsDir() {
		size = 0 // a directory's size says nothing portable
	}
	return stamp{Path: real, Size: size, MTime: fi.ModTime().UnixNano()}, true
}

type memo struct {
	Exe    string          `json:"exe"`
	Stamps []stamp         `json:"stamps"`
	Value  json.RawMessage `json:"value"`
}

// memoFile is where the memo of kind for exe lives in dir.
func memoFile(dir, kind, exe string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + exe))
	return filepath.Join(dir, kind+"-"+hex.EncodeToString(sum[:8])+".json")
}

// loadMemo reads the memo of kind for exe into v, if it holds.
func loadMemo(dir, kind, exe string, v any) bool {
	if dir == "" {
		return false
	}
	data, err := os.ReadFile(memoFile(dir, kind, exe))
	if err != nil {
		return false
	}
	var m memo
	if json.Unmarshal(data, &m) != nil || m.Exe != exe || len(m.Stamps) == 0 {
		return false
	}
	for _, s := range m.Stamps {
		if now, ok := stampOf(s.Path); !ok || now != s {
			return false
		}
	}
	return json.Unmarshal(m.Value, v) == nil
}

// storeMemo writes v as the memo of kind for exe, depending on paths
// (stamped now: call it before the python run whose answer v is, so that
// a change during the run voids the memo). Best effort.
func storeMemo(dir, kind, exe string, stamps []stamp, v any) {
	if dir == "" || len(stamps) == 0 {
		return
	}
	val, err := json.Marshal(v)
	if err != nil {
		return
	}
	data, err := json.Marshal(memo{Exe: exe, Stamps: stamps, Value: val})
	if err != nil {
		return
	}
	if os.MkdirAll(dir, 0o777) != nil {
		return
	}
	// Advisory (see above), so never synced: a build waits for this
	// write, and one torn by a crash is as none.
	_ = fsx.ReplaceStaged(memoFile(dir, kind, exe), data, 0o666)
}

// stamps stamps every path, false when one cannot be.
func stamps(paths ...string) ([]stamp, bool) {
	out := make([]stamp, 0, len(paths))
	for _, p := range paths {
		s, ok := stampOf(p)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}
