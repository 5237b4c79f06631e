package testkit

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// Job is a real process a test keeps running while it looks at what
// running processes use (gc's and drop's runtime roots): a sleep, a
// python, a shell, started where and how the test says.
type Job struct {
	// Exe is the file to run; Args are its arguments as the process sees
	// them, Args[0] included (it may name a symlink, as a venv's
	// bin/python does: /proc shows it in cmdline, and the file the link
	// leads to as exe).
	Exe  string
	Args []string
	Dir  string   // its working directory ("": the test's)
	Env  []string // its whole environment
	// Stdin is its standard input (nil: a pipe that stays open, so that a
	// job reading it waits).
	Stdin *os.File
	// Ready, when set, is a line the job prints on stdout once it is set
	// up; Start waits for it.
	Ready string
}

// Start runs j and returns its pid once it has exec'd (exec.Cmd.Start
// returns then: its cmdline, cwd, environment and open files are the
// program's) and printed j.Ready. The job is killed when the test ends,
// and by the kernel if the test process dies first.
func (j Job) Start(t testing.TB) int {
	t.Helper()
	cmd := &exec.Cmd{Path: j.Exe, Args: j.Args, Dir: j.Dir, Env: j.Env}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if j.Stdin != nil {
		cmd.Stdin = j.Stdin
	} else if _, err := cmd.StdinPipe(); err != nil { // closed by Wait
		t.Fatal(err)
	}
	var out *bufio.Reader
	if j.Ready != "" {
		r, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		out = bufio.NewReader(r)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", j.Exe, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // it may have ended by itself; Wait reports either way
		_ = cmd.Wait()
	})
	if out != nil {
		line, err := out.ReadString('\n')
		if strings.TrimSpace(line) != j.Ready {
			t.Fatalf("%s said %q (%v), want %q", j.Exe, line, err, j.Ready)
		}
	}
	return cmd.Process.Pid
}

// Sleeper is a Job that sleeps for ten minutes (ended with the test), in
// dir, with a plain PATH.
func Sleeper(t testing.TB, dir string) Job {
	t.Helper()
	sleep := RequireTool(t, "sleep")
	return Job{Exe: sleep, Args: []string{"sleep", "600"}, Dir: dir, Env: []string{"PATH=/usr/bin:/bin"}}
}
