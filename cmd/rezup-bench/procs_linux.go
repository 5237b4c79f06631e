package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// errNoProcs: only Linux lists processes here (/proc).
var errNoProcs = errors.New("listing processes needs Linux's /proc")

var subreaper sync.Once

// watchChildren makes this process the reaper of its descendants: a
// process a benchmark started that outlives its parent (a pip a node left
// behind, a server's worker) becomes this process's child instead of
// init's, where leftovers finds it.
func watchChildren() {
	subreaper.Do(func() {
		// Without it (an old kernel), leftovers sees direct children only.
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	})
}

// proc is one process of /proc/PID/stat.
type proc struct {
	pid, ppid, pgrp int
	state           byte // R, S, D, Z, …
	comm            string
}

func (p proc) String() string { return fmt.Sprintf("%d (%s)", p.pid, p.comm) }

// procs lists the processes running now, zombies included.
func procs() ([]proc, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return nil, errNoProcs
	}
	var out []proc
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended since the glob
		}
		// PID (COMM) STATE PPID PGRP …; COMM may hold spaces and parens.
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 3 || len(f[0]) != 1 {
			continue
		}
		pid, err1 := strconv.Atoi(strings.TrimSpace(s[:open]))
		ppid, err2 := strconv.Atoi(f[1])
		pgrp, err3 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, proc{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0], comm: s[open+1 : close]})
	}
	return out, nil
}

// inGroups lists the live (not zombie) processes of the process groups
// leaders (each node runs in its own group, led by its rezup).
func inGroups(leaders []int) ([]string, error) {
	ps, err := procs()
	if err != nil {
		return nil, err
	}
	lead := map[int]bool{}
	for _, l := range leaders {
		lead[l] = true
	}
	var left []string
	for _, p := range ps {
		if lead[p.pgrp] && p.state != 'Z' {
			left = append(left, p.String())
		}
	}
	return left, nil
}

// leftovers lists this process's live children: with watchChildren, every
// descendant still running, orphans included. Call it when nothing this
// process started is meant to run any more: it reaps the zombies of
// orphans (which no exec.Cmd waits for), and counts only live processes.
func leftovers() ([]string, error) {
	ps, err := procs()
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var left []string
	for _, p := range ps {
		if p.ppid != self {
			continue
		}
		if p.state == 'Z' {
			var ws unix.WaitStatus
			_, _ = unix.Wait4(p.pid, &ws, unix.WNOHANG, nil) // an orphan's exit status tells nothing
			continue
		}
		left = append(left, p.String())
	}
	return left, nil
}
