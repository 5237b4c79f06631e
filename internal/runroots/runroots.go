package runroots

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Via says where a process shows a path.
type Via string

// Where a process shows a path.
const (
	ViaCmdline Via = "cmdline" // its arguments
	ViaExe     Via = "exe"     // the program it runs
	ViaCwd     Via = "cwd"     // its working directory
	ViaFD      Via = "fd"      // an open file or directory
	ViaMaps    Via = "maps"    // a mapped file: a shared library, an extension module
	ViaPATH    Via = "PATH"    // its environment's PATH
	ViaPWD     Via = "PWD"     // its environment's PWD: where it was started, as named
)

// Use is one process showing a path under a watched directory.
type Use struct {
	PID int
	// Name is the program, for people: its comm (at most 15 bytes).
	Name string
	Via  Via
	// Path is the path it shows, cleaned.
	Path string
}

// String says it for people: pid 4242 (sleep, cwd /r/.store/k/venv).
func (u Use) String() string {
	name := u.Name
	if name == "" {
		name = "?"
	}
	return fmt.Sprintf("pid %d (%s, %s %s)", u.PID, name, u.Via, u.Path)
}

// Snapshot is what one scan found: every path under the watched
// directories that a process showed, and how complete the scan was.
type Snapshot struct {
	// Processes is how many processes were looked at (the caller aside).
	Processes int
	// Unread is how many of them could not be read fully: another
	// account's, whose exe, cwd, fds, maps and environment need the right
	// to trace it (its cmdline is read), or hidden by hidepid=1.
	Unread int
	// Hidden is set when /proc is mounted with hidepid=2 (invisible) and
	// this account may not see past it: other accounts' processes are not
	// even listed, so Unread cannot count them.
	Hidden bool
	// Unsupported names the system where processes cannot be read at all
	// (no /proc: "darwin", "windows"); "" on Linux.
	Unsupported string

	uses []Use // sorted by Path, then PID
}

// Users lists the processes that show dir, or a path under it, each once
// (its first way), by pid. dir is compared as given (cleaned): ask about
// each form of it (see EvalSymlinks).
func (s *Snapshot) Users(dir string) []Use {
	if s == nil || len(s.uses) == 0 {
		return nil
	}
	dir = path.Clean(dir)
	var out []Use
	add := func(u Use) {
		if !slices.ContainsFunc(out, func(o Use) bool { return o.PID == u.PID }) {
			out = append(out, u)
		}
	}
	i := sort.Search(len(s.uses), func(i int) bool { return s.uses[i].Path >= dir })
	for ; i < len(s.uses) && s.uses[i].Path == dir; i++ {
		add(s.uses[i])
	}
	// Paths under dir sort after dir+"/", and "dir-x" between dir and it.
	sub := strings.TrimSuffix(dir, "/") + "/"
	i = sort.Search(len(s.uses), func(i int) bool { return s.uses[i].Path >= sub })
	for ; i < len(s.uses) && strings.HasPrefix(s.uses[i].Path, sub); i++ {
		add(s.uses[i])
	}
	sort.Slice(out, func(a, b int) bool { return out[a].PID < out[b].PID })
	return out
}

// Complete reports whether every process was read fully.
func (s *Snapshot) Complete() bool {
	return s.Unsupported == "" && s.Unread == 0 && !s.Hidden
}

// matcher finds, in what a process shows, the paths under the watched
// directories.
type matcher struct {
	dirs [][]byte // cleaned, absolute, none under another
}

func newMatcher(dirs []string) matcher {
	var clean []string
	for _, d := range dirs {
		if !strings.HasPrefix(d, "/") {
			continue // what a process shows is absolute: a relative dir matches nothing
		}
		clean = append(clean, path.Clean(d))
	}
	sort.Strings(clean)
	var m matcher
	for _, d := range clean {
		if n := len(m.dirs); n > 0 && under(d, string(m.dirs[n-1])) {
			continue // covered by its parent, or a duplicate
		}
		m.dirs = append(m.dirs, []byte(d))
	}
	return m
}

// under reports whether p is dir or a path under it.
func under(p, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == dir || len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

// link returns p, a path the kernel shows (a link of /proc: exe, cwd,
// fd), when it is under a watched directory. A deleted file's path ends in
// " (deleted)": it counts still, for its directory may still be there.
func (m *matcher) link(p []byte) ([]byte, bool) {
	p = bytes.TrimSuffix(p, []byte(" (deleted)"))
	for _, d := range m.dirs {
		if under(string(p), string(d)) {
			return p, true
		}
	}
	return nil, false
}

// In text (a cmdline, an environment variable's value, maps), a path
// starts at a byte that cannot be part of a path name before it, and ends
// at a byte of its kind's stop set.
type textKind struct {
	// starts reports whether a path may start after byte c.
	starts func(c byte) bool
	stop   [256]bool
}

func stopSet(s string) (set [256]bool) {
	for i := 0; i < len(s); i++ {
		set[s[i]] = true
	}
	return set
}

// textKinds are the kinds of text a scan reads, made on first use: a
// package variable would cost every rezup process its init, and only gc
// and the launch's safety scan read them.
var textKinds = sync.OnceValue(func() *struct{ arg, list, maps textKind } {
	return &struct{ arg, list, maps textKind }{
		// An argument: a path is all of it, or a part (--opt=/p, sh -c
		// '/p x; y', a:/p).
		arg: textKind{
			starts: func(c byte) bool { return !pathNameByte(c) },
			stop:   stopSet("\x00 \t\n\r\"'`;&|()<>:,"),
		},
		// A path list (PATH) or one path (PWD).
		list: textKind{
			starts: func(c byte) bool { return c == ':' || c == 0 },
			stop:   stopSet("\x00:"),
		},
		// /proc/<pid>/maps: "addr perms offset dev inode      /path\n".
		maps: textKind{
			starts: func(c byte) bool { return c == ' ' },
			stop:   stopSet("\x00\n"),
		},
	}
})

// pathNameByte reports whether c may be part of a file name, so that a
// path naming a watched dir inside another path (/mnt/r for a watched /r)
// does not count.
func pathNameByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c >= 0x80:
		return true
	}
	return strings.IndexByte("._-~+@%#/", c) >= 0
}

// text calls found with each path under a watched dir in b, as kind k
// delimits paths.
func (m *matcher) text(b []byte, k *textKind, found func(p []byte)) {
	for _, d := range m.dirs {
		for off := 0; off < len(b); {
			i := bytes.Index(b[off:], d)
			if i < 0 {
				break
			}
			i += off
			j := i + len(d)
			off = j
			if i > 0 && !k.starts(b[i-1]) {
				continue // inside another path: /mnt/r for /r
			}
			if j < len(b) && b[j] != '/' && !k.stop[b[j]] && len(d) > 1 {
				continue // a sibling: /r2 for /r
			}
			for j < len(b) && !k.stop[b[j]] {
				j++
			}
			found(bytes.TrimSuffix(b[i:j], []byte(" (deleted)")))
			off = j
		}
	}
}

// record gathers one process's uses, each path once.
type record struct {
	pid   int
	name  func() string // read once, when something is found
	nameV string
	uses  []Use
}

func (r *record) add(via Via, p []byte) {
	clean := path.Clean(string(p))
	for _, u := range r.uses {
		if u.Path == clean {
			return
		}
	}
	if r.nameV == "" && r.name != nil {
		r.nameV = r.name()
		r.name = nil
	}
	r.uses = append(r.uses, Use{PID: r.pid, Name: r.nameV, Via: via, Path: clean})
}

// sortUses orders the uses as Users searches them.
func sortUses(uses []Use) {
	sort.Slice(uses, func(i, j int) bool {
		if uses[i].Path != uses[j].Path {
			return uses[i].Path < uses[j].Path
		}
		return uses[i].PID < uses[j].PID
	})
}

// envValue returns the value of variable name in environ, a process's
// NUL-separated KEY=VALUE list.
func envValue(environ []byte, name string) ([]byte, bool) {
	for len(environ) > 0 {
		kv := environ
		if i := bytes.IndexByte(environ, 0); i >= 0 {
			kv, environ = environ[:i], environ[i+1:]
		} else {
			environ = nil
		}
		if len(kv) > len(name) && kv[len(name)] == '=' && string(kv[:len(name)]) == name {
			return kv[len(name)+1:], true
		}
	}
	return nil, false
}
