package runroots

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Scan reads every process of /proc once, and keeps what each shows under
// dirs (absolute paths; a relative one matches nothing): its cmdline,
// exe, cwd, open fds, maps, and its environment's PATH and PWD. A process
// that ends during the scan is passed over; one whose parts cannot be
// read (another account's, hidepid) counts in Unread, with what could be
// read of it kept. It fails only when /proc cannot be listed, or when ctx
// ends first: then it returns what it read so far too, the processes it
// did not get to counted in Unread. (A read of /proc can block while the
// process it reads is stuck, on a hung file system say: ctx bounds the
// wait, and the stuck read is left behind.)
//
// The processes are shared among a few workers (at most GOMAXPROCS, and
// 4): each costs about 20 system calls, maps the most (the kernel writes
// it out line by line).
func Scan(ctx context.Context, dirs []string) (*Snapshot, error) {
	m := newMatcher(dirs)
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	pids := names[:0]
	for _, name := range names {
		if pid, err := strconv.Atoi(name); err == nil && pid > 0 && pid != self {
			pids = append(pids, name)
		}
	}
	var (
		mu      sync.Mutex
		snap    = &Snapshot{}
		visited int  // processes done, read or not
		stopped bool // ctx ended: what workers find now is not wanted
	)
	workers := min(runtime.GOMAXPROCS(0), 4, len(pids)/64+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := scanner{m: &m}
			// Interleaved, so that each worker gets its share of the
			// busy processes, which have neighbouring pids.
			for i := w; i < len(pids); i += workers {
				r := sc.process(pids[i])
				mu.Lock()
				if stopped {
					mu.Unlock()
					return
				}
				visited++
				if r.seen {
					snap.Processes++
				}
				if r.partial {
					snap.Unread++
				}
				snap.uses = append(snap.uses, r.uses...)
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	stopped = true
	missed := len(pids) - visited
	snap.Processes += missed
	snap.Unread += missed
	mu.Unlock()
	// Other accounts' processes that hidepid=2 hides are not listed: only
	// the mount says they may exist.
	snap.Hidden = hiddenProcesses()
	sortUses(snap.uses)
	if missed > 0 {
		return snap, fmt.Errorf("read processes: %d not read: %w", missed, ctx.Err())
	}
	return snap, nil
}

// scanner reads processes one after another, reusing its buffers.
type scanner struct {
	m       *matcher
	buf     []byte // a file's contents
	link    []byte // a link's target
	dirents []byte
	fdNames []string
}

// result is what one process showed.
type result struct {
	seen    bool // it was there (not ended before it could be read)
	partial bool // some of it could not be read
	uses    []Use
}

// outcome of reading one part of a process.
type outcome int

const (
	read   outcome = iota // read (maybe empty: a kernel thread, a zombie)
	denied                // another account's: not readable by this one
	gone                  // the process ended
)

func classify(err error) outcome {
	switch {
	case err == nil:
		return read
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return denied
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH):
		// ENOENT is also a kernel thread's exe: nothing to see either way.
		return gone
	}
	// Anything else (EIO from a process being torn down): count it as
	// not read, which says less than was known rather than more.
	return denied
}

// process reads one process and returns its uses. Every part is read
// relative to the process's directory, opened once.
func (sc *scanner) process(name string) (r result) {
	pid, _ := strconv.Atoi(name)
	pd, err := unix.Open("/proc/"+name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		// Ended since the listing, or not this account's to look at.
		r.seen = classify(err) == denied
		r.partial = r.seen
		return r
	}
	defer unix.Close(pd)
	rec := record{pid: pid, name: func() string { return comm(pd) }}
	defer func() { r.uses = rec.uses }()

	b, err := sc.readFile(pd, "cmdline")
	switch classify(err) {
	case gone:
		return r
	case denied:
		r.partial = true
	}
	r.seen = true
	sc.m.text(b, &textKinds().arg, func(p []byte) { rec.add(ViaCmdline, p) })
	emptyCmdline := err == nil && len(b) == 0

	exe, err := sc.readlink(pd, "exe")
	switch classify(err) {
	case denied:
		// Another account's (or hidepid=1): cwd, environ, maps and fd are
		// behind the same check. What its cmdline shows is kept.
		r.partial = true
		return r
	case gone:
		if emptyCmdline {
			// A kernel thread, or a zombie: no memory, no files, no
			// environment to read.
			return r
		}
	}
	if p, ok := sc.m.link(exe); ok {
		rec.add(ViaExe, p)
	}

	cwd, err := sc.readlink(pd, "cwd")
	if classify(err) == denied {
		r.partial = true
	}
	if p, ok := sc.m.link(cwd); ok {
		rec.add(ViaCwd, p)
	}

	b, err = sc.readFile(pd, "environ")
	if classify(err) == denied {
		r.partial = true
	} else {
		if v, ok := envValue(b, "PATH"); ok {
			sc.m.text(v, &textKinds().list, func(p []byte) { rec.add(ViaPATH, p) })
		}
		if v, ok := envValue(b, "PWD"); ok {
			sc.m.text(v, &textKinds().list, func(p []byte) { rec.add(ViaPWD, p) })
		}
	}

	b, err = sc.readFile(pd, "maps")
	if classify(err) == denied {
		r.partial = true
	} else {
		sc.m.text(b, &textKinds().maps, func(p []byte) { rec.add(ViaMaps, p) })
	}

	if sc.fds(pd, &rec) == denied {
		r.partial = true
	}
	return r
}

// fds records the open files of a process under the watched dirs.
func (sc *scanner) fds(pd int, rec *record) outcome {
	fd, err := unix.Openat(pd, "fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return classify(err)
	}
	defer unix.Close(fd)
	if sc.dirents == nil {
		sc.dirents = make([]byte, 16<<10)
	}
	names := sc.fdNames[:0]
	for {
		n, err := unix.ReadDirent(fd, sc.dirents)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return classify(err)
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(sc.dirents[:n], -1, names)
		if len(sc.dirents)-n > 1024 {
			break // room for more was left: that was all (saves a call)
		}
	}
	sc.fdNames = names
	for _, n := range names {
		t, err := sc.readlink(fd, n)
		if err != nil {
			continue // closed since the listing
		}
		if p, ok := sc.m.link(t); ok {
			rec.add(ViaFD, p)
		}
	}
	return read
}

// readFile reads a file of a process's directory pd whole into the
// scanner's buffer, which the next read reuses. cmdline and environ fill
// what they are asked for but at their end, so that a read that leaves
// room is their last, which saves a call; maps is written out a page at a
// time (seq_file), and read until a read returns nothing.
func (sc *scanner) readFile(pd int, name string) ([]byte, error) {
	fd, err := unix.Openat(pd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if sc.buf == nil {
		sc.buf = make([]byte, 64<<10)
	}
	filling := name == "cmdline" || name == "environ"
	n := 0
	for {
		if n == len(sc.buf) {
			sc.buf = append(sc.buf, make([]byte, len(sc.buf))...)
		}
		k, err := unix.Read(fd, sc.buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		n += k
		if k == 0 || filling && n < len(sc.buf) {
			return sc.buf[:n], nil
		}
	}
}

// readlink reads a link of a process's directory pd into the scanner's
// link buffer, which the next readlink reuses.
func (sc *scanner) readlink(pd int, name string) ([]byte, error) {
	if sc.link == nil {
		sc.link = make([]byte, 4096)
	}
	for {
		n, err := unix.Readlinkat(pd, name, sc.link)
		if err != nil {
			return nil, err
		}
		if n < len(sc.link) {
			return sc.link[:n], nil
		}
		sc.link = make([]byte, 2*len(sc.link))
	}
}

// comm is the name of the program of the process whose directory is pd,
// for people (at most 15 bytes; "?" when it cannot be read).
func comm(pd int) string {
	fd, err := unix.Openat(pd, "comm", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "?"
	}
	defer unix.Close(fd)
	var b [64]byte
	n, err := unix.Read(fd, b[:])
	if err != nil || n <= 1 {
		return "?"
	}
	return string(bytes.TrimSpace(b[:n]))
}

// hiddenProcesses reports whether /proc is mounted with hidepid=2
// (invisible) and this process may not see past it: root may.
func hiddenProcesses() bool {
	if os.Geteuid() == 0 {
		return false
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false // not known: Unread says what was seen
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		// "36 25 0:5 / /proc rw,nosuid - proc proc rw,hidepid=2"
		pre, post, ok := bytes.Cut(line, []byte(" - "))
		fields, super := bytes.Fields(pre), bytes.Fields(post)
		if !ok || len(fields) < 5 || string(fields[4]) != "/proc" || len(super) < 3 || string(super[0]) != "proc" {
			continue
		}
		for _, opt := range bytes.Split(super[2], []byte(",")) {
			if o := string(opt); o == "hidepid=2" || o == "hidepid=invisible" {
				return true
			}
		}
	}
	return false
}
