package materialize

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/internal/runroots"
)

// The in-use locks protect what rezup launches. What the Python rezup
// launches takes none (its `use` knows no lock), and neither does a
// process that enters a venv by itself (a user running venv/bin/python, a
// job that copied the environment). Before a removal (Drop, Repair, and
// those gc drives) rezup also looks at the running processes, as Nix's
// collector looks for runtime roots: a revision or a build that a process
// shows a path in is in use, lock or not.
//
// A revision is in use when a process shows its directory, as named or
// with symlinks resolved: a Python-built revision's venv is in it, and
// the Python rezup puts <revision>/venv/<name>/bin/rez on PATH. A build
// is in use when a process shows .store/<key>, either way: the kernel
// shows mapped files, open files, exe and cwd resolved, so a job that
// entered a revision's venv link shows the build. A job that went through
// the link shows the revision too wherever it named it (cmdline, PATH,
// PWD), and the revision then keeps its build as any kept revision does.

// scanTimeout bounds the look at running processes: reading a process
// stuck on a hung file system can block. What was not read by then counts
// as not read (RuntimeRoots.Gaps).
const scanTimeout = 30 * time.Second

// RuntimeRoots is what the running processes use of the local root,
// found in one pass over them (FindRuntimeRoots) and then asked about
// each revision and build. It is a snapshot: a process started after it
// is not in it, which is why removals take one right before they start.
type RuntimeRoots struct {
	root Root
	snap *runroots.Snapshot
	err  error // the scan failed or stopped: what is missing
}

// FindRuntimeRoots looks at every running process once (internal/runroots:
// their cmdline, exe, cwd, maps, open files, and PATH and PWD) for paths
// in the local root. It does not fail: where processes cannot be read, or
// not all of them (another account's, hidepid, no /proc on macOS and
// Windows), Gaps says so, and what could not be read is not known to use
// anything. ctx and scanTimeout bound it.
func (s *Store) FindRuntimeRoots(ctx context.Context) *RuntimeRoots {
	r := s.opt.Root
	// Processes show the root as they were told it (cmdline, PATH) or as
	// the kernel resolves it (cwd, maps, fds): both forms are watched, and
	// those of the store and the revisions dirs, should either be a link
	// out of the root.
	dirs := []string{r.Dir}
	for _, d := range []string{r.Dir, r.StoreDir()} {
		if real, err := filepath.EvalSymlinks(d); err == nil {
			dirs = append(dirs, real)
		}
	}
	if names, err := r.Containers(); err == nil {
		for _, c := range names {
			if real, err := filepath.EvalSymlinks(r.RevisionsDir(c)); err == nil {
				dirs = append(dirs, real)
			}
		}
	}
	for i, d := range dirs {
		if abs, err := filepath.Abs(d); err == nil {
			dirs[i] = abs
		}
	}
	ctx, cancel := context.WithTimeout(ctx, scanTimeout)
	defer cancel()
	snap, err := runroots.Scan(ctx, dirs)
	return &RuntimeRoots{root: r, snap: snap, err: err}
}

// ProcessUse is a revision or build in use by running processes: the
// first (lowest pid) and how many more.
type ProcessUse struct {
	runroots.Use
	More int
}

// String says it for people: pid 4242 (sleep, cwd /r/.store/k/venv), and
// 2 more processes.
func (u ProcessUse) String() string {
	s := u.Use.String()
	switch u.More {
	case 0:
	case 1:
		s += " and 1 more process"
	default:
		s += fmt.Sprintf(" and %d more processes", u.More)
	}
	return s
}

// Revision reports which processes use rev (see above).
func (rr *RuntimeRoots) Revision(rev *Revision) (ProcessUse, bool) {
	return rr.users(rev.Dir)
}

// Entry reports which processes use build k (.store/<key>).
func (rr *RuntimeRoots) Entry(k cas.Key) (ProcessUse, bool) {
	return rr.users(rr.root.EntryDir(k))
}

// users looks dir up as named and with symlinks resolved.
func (rr *RuntimeRoots) users(dir string) (ProcessUse, bool) {
	if rr == nil || rr.snap == nil {
		return ProcessUse{}, false
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	forms := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		forms = append(forms, real)
	}
	var all []runroots.Use
	for _, f := range forms {
		for _, u := range rr.snap.Users(f) {
			if !containsPID(all, u.PID) {
				all = append(all, u)
			}
		}
	}
	if len(all) == 0 {
		return ProcessUse{}, false
	}
	first := all[0]
	for _, u := range all[1:] {
		if u.PID < first.PID {
			first = u
		}
	}
	return ProcessUse{Use: first, More: len(all) - 1}, true
}

func containsPID(uses []runroots.Use, pid int) bool {
	for _, u := range uses {
		if u.PID == pid {
			return true
		}
	}
	return false
}

// Gaps says, in one line for people, what the look at processes could
// not see; "" when it saw every process whole.
func (rr *RuntimeRoots) Gaps() string {
	const only = "only the jobs holding rezup's in-use locks are known to use revisions and builds"
	switch s := rr.snap; {
	case s == nil:
		return fmt.Sprintf("running processes were not looked at (%v): %s", rr.err, only)
	case s.Unsupported != "":
		return fmt.Sprintf("running processes are not looked at on %s (no /proc): %s", s.Unsupported, only)
	case rr.err != nil:
		why := rr.err.Error()
		if errors.Is(rr.err, context.DeadlineExceeded) {
			why = fmt.Sprintf("the look at them stopped after %v: a process stuck on a hung file system?", scanTimeout)
		}
		return fmt.Sprintf("%d of %d processes could not be read fully (%s): a job among them that uses a revision or build without rezup's in-use lock is not seen", s.Unread, s.Processes, why)
	case s.Hidden:
		return "other accounts' processes are hidden (/proc is mounted with hidepid=2): a job of theirs that uses a revision or build without rezup's in-use lock is not seen; root sees every process"
	case s.Unread > 0:
		return fmt.Sprintf("%d processes could not be read fully (other accounts' cwd, environ, maps and open files): a job of theirs that uses a revision or build without rezup's in-use lock, and does not name it in its command line, is not seen; root sees every process", s.Unread)
	}
	return ""
}

// UsedError is a removal refused because running processes use what it
// would remove, without holding its in-use lock (the Python rezup's jobs,
// a process started in a venv): its Is(ErrInUse) is true.
type UsedError struct {
	What string // "build <key>", "revision <name> of <container>"
	By   ProcessUse
}

func (e *UsedError) Error() string { return e.What + " is in use by " + e.By.String() }

// Is makes errors.Is(err, ErrInUse) true.
func (e *UsedError) Is(target error) bool { return target == ErrInUse }

// checkRevision refuses the removal of rev while a process uses it.
func (rr *RuntimeRoots) checkRevision(rev *Revision) error {
	if u, ok := rr.Revision(rev); ok {
		return &UsedError{What: fmt.Sprintf("revision %s of %s", rev.Name, rev.Container), By: u}
	}
	return nil
}

// checkEntry refuses the removal of build k while a process uses it.
func (rr *RuntimeRoots) checkEntry(k cas.Key) error {
	if u, ok := rr.Entry(k); ok {
		return &UsedError{What: "build " + k.String(), By: u}
	}
	return nil
}
