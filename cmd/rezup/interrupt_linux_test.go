//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
)

// descendants lists the processes that descend from pid, read from /proc.
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc") // unreadable /proc: no descendants seen, and the test below fails on its waits
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for a := parent[p]; a > 1; a = parent[a] {
			if a == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// cmdline is a process's command line, spaces between arguments.
func cmdline(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")) // gone: ""
	return strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
}

// running says whether a descendant of pid runs a command line holding sub,
// and remembers every descendant it saw in seen.
func running(pid int, sub string, seen map[int]bool) bool {
	found := false
	for _, d := range descendants(pid) {
		seen[d] = true
		if strings.Contains(cmdline(d), sub) {
			found = true
		}
	}
	return found
}

// slowWheel is a library whose one module takes python seconds to
// byte-compile: a build that installs it spends that long in compileall.
func slowWheel() testkit.Wheel {
	var b strings.Builder
	for i := range 15000 {
		fmt.Fprintf(&b, "def f%d(x):\n    y = x * %d + (x - 1) // 3\n    return [y, y + 1, {\"k\": y}]\n", i, i)
	}
	return testkit.Wheel{Name: "slowcompile", Version: "1.0", Files: map[string]string{"slowcompile/__init__.py": b.String()}}
}

// blackhole accepts connections and answers nothing: a package index that
// hangs. It reports each connection on the channel.
func blackhole(t *testing.T) (url string, conns <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 64)
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/simple", ch
}

// An interrupt is clean: SIGINT or SIGTERM while add resolves (pip),
// while it compiles the build (compileall's workers), or while a launch
// waits for another node's build, ends rezup with one line, `rezup:
// interrupted`, and the shell's code for the signal (130, 143); nothing it
// started runs on, and nothing it made is left in the root.
func TestInterruptsAreClean(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, job *runningJob, sig syscall.Signal, root string) {
		t.Helper()
		if err := job.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		_ = job.cmd.Wait() // the exit status is checked below
		ws, _ := job.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if want := 128 + int(sig); !ws.Exited() || ws.ExitStatus() != want {
			t.Errorf("exit: %v, want %d\n%s", job.cmd.ProcessState, want, job.stderr)
		}
		out := job.stderr.String()
		if strings.Count(out, "rezup: interrupted\n") != 1 || !strings.HasSuffix(out, "rezup: interrupted\n") || strings.Contains(out, "rezup: error") || strings.Contains(out, "hint") {
			t.Errorf("stderr does not end with the one line:\n%s", out)
		}
		waitFor(t, func() bool {
			for p := range job.seen {
				if !gone(p) {
					return false
				}
			}
			return true
		})
		if _, err := os.Lstat(root); !os.IsNotExist(err) {
			t.Errorf("the interrupted first add left its root: %v", testkit.Snapshot(t, root))
		}
	}

	t.Run("SIGINT in pip", func(t *testing.T) {
		t.Parallel()
		s, _ := newUser(t)
		index, conns := blackhole(t)
		s.WriteFile("rezup.toml", fmt.Sprintf("[pip]\noptions = [\"--index-url\", %q, \"--timeout\", \"300\", \"--retries\", \"0\"]\n[rez]\nurl = \"rez\"\n", index))
		root := filepath.Join(t.TempDir(), "root")
		s.Env["REZUP_ROOT_LOCAL"] = root
		job := startJob(t, s, "add", "--skip-use")
		<-conns // pip asks the index, which never answers
		waitFor(t, func() bool { return running(job.cmd.Process.Pid, "pip", job.seen) })
		check(t, job, syscall.SIGINT, root)
	})
	t.Run("SIGTERM in compileall", func(t *testing.T) {
		t.Parallel()
		s, wh := newBuilder(t)
		wheels := filepath.Join(t.TempDir(), "wheels")
		copyDir(t, wh, wheels)
		writeWheel(t, wheels, slowWheel())
		s.WriteFile("rezup.toml", testkit.RecipeTOML(wheels, "lib = [\"slowcompile\"]\n"))
		root := filepath.Join(t.TempDir(), "root")
		s.Env["REZUP_ROOT_LOCAL"] = root
		job := startJob(t, s, "add", "--skip-use")
		waitFor(t, func() bool { return running(job.cmd.Process.Pid, "compileall", job.seen) })
		check(t, job, syscall.SIGTERM, root)
	})
	t.Run("SIGTERM in a lease wait", func(t *testing.T) {
		t.Parallel()
		f := newFarm(t)
		writeWheel(t, f.wheels, slowWheel())
		legacyRevision(t, f, "prod", testkit.RecipeTOML(f.wheels, "lib = [\"slowcompile\"]\n"))
		builder := startJob(t, f.node(t, filepath.Join(t.TempDir(), "builder")), "use", "prod", "--", "true")
		waitFor(t, func() bool { return running(builder.cmd.Process.Pid, "compileall", builder.seen) })
		root := filepath.Join(t.TempDir(), "waiter")
		waiter := startJob(t, f.node(t, root), "use", "prod", "--", "true")
		waitFor(t, func() bool { return strings.Contains(waiter.stderr.String(), "waiting for ") })
		running(waiter.cmd.Process.Pid, "", waiter.seen)
		check(t, waiter, syscall.SIGTERM, root)
		if err := builder.cmd.Wait(); err != nil {
			t.Errorf("the builder: %v\n%s", err, builder.stderr)
		}
	})
}

// runningJob is a rezup started in the background, and every descendant
// of it seen so far.
type runningJob struct {
	cmd    *exec.Cmd
	stderr *testkit.Buffer
	seen   map[int]bool
}

func startJob(t *testing.T, s *testkit.Session, args ...string) *runningJob {
	t.Helper()
	l := startLaunch(t, s, args...)
	return &runningJob{cmd: l.cmd, stderr: l.stderr, seen: map[int]bool{}}
}
