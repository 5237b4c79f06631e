package launch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rezup/rezup/internal/envlist"
)

// maxAncestors bounds the walk: process trees are shallow, and a bound
// keeps a bizarre /proc from costing more than a few reads.
const maxAncestors = 32

// parentShell walks rezup's ancestors through /proc, skipping non-shells
// (make, sudo, python, tmux…), and returns the nearest known shell.
func parentShell(environ []string) (string, bool) {
	pid := os.Getppid()
	for range maxAncestors {
		if pid <= 1 {
			return "", false
		}
		if p, ok := procShell(pid, environ); ok {
			return p, true
		}
		ppid, ok := procParent(pid)
		if !ok {
			return "", false
		}
		pid = ppid
	}
	return "", false
}

// procShell reports whether pid runs a known shell, and its path. The
// executable's name decides first; comm catches shells run by an
// interpreter (xonsh's exe is python, its comm is xonsh). exe is
// unreadable for other users' processes; comm is not.
func procShell(pid int, environ []string) (string, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	if exe, err := os.Readlink(dir + "/exe"); err == nil {
		exe = strings.TrimSuffix(exe, " (deleted)")
		if knownShells[filepath.Base(exe)] {
			if _, err := os.Stat(exe); err == nil {
				return exe, true
			}
		}
	}
	b, err := os.ReadFile(dir + "/comm")
	if err != nil {
		return "", false
	}
	comm := strings.TrimPrefix(strings.TrimSpace(string(b)), "-")
	if !knownShells[comm] {
		return "", false
	}
	p, err := envlist.LookPath(comm, environ)
	return p, err == nil
}

// procParent reads the ppid from /proc/<pid>/stat: "pid (comm) state ppid
// …", where comm may itself hold spaces and parentheses.
func procParent(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}
