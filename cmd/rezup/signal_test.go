//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/testkit"
)

// comm is the command name of a process, "" once it is gone.
func comm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// gone reports whether pid no longer exists (reaped, not merely a zombie).
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// A signal sent to `rezup use -- CMD` is CMD's: rezup has exec'd it, so the
// pid is the command's, nothing else is left running, and the exit status
// is the signal's.
func TestSignalsReachTheCommand(t *testing.T) {
	// Parallel: signals go to pids this test started, and every wait is on
	// a state (waitFor), not a duration, so other tests only slow it down.
	t.Parallel()
	s := builtUser(t, "")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			job := s.Start("use", "--", "sleep", "40")
			pid := job.Process.Pid
			waitFor(t, func() bool { return comm(pid) == "sleep" })
			if err := job.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := job.Wait()
			ws, ok := job.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != sig {
				t.Fatalf("exit: %v (%v), want killed by %v\nstderr:\n%s", err, job.ProcessState, sig, job.Stderr)
			}
			if !gone(pid) {
				t.Errorf("pid %d (%s) is still running", pid, comm(pid))
			}
		})
	}
}

// Under a shell, the same is exit status 128+15.
func TestSigtermExitStatusUnderShell(t *testing.T) {
	t.Parallel()
	s := builtUser(t, "")
	pidFile := filepath.Join(s.Home, "pid")
	script := `"$REZUP_BIN" use -- sleep 40 & echo $! > "$PID_FILE"; wait $!; echo "status $?"`
	s.Env["REZUP_BIN"], s.Env["PID_FILE"] = s.Bin, pidFile
	shell := *s
	shell.Bin = testkit.RequireTool(t, "sh")
	job := shell.Start("-c", script)
	var pid int
	waitFor(t, func() bool {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid > 0 && comm(pid) == "sleep"
	})
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := job.Wait(); err != nil {
		t.Fatalf("sh: %v\n%s", err, job.Stderr)
	}
	if got := job.Stdout.(*testkit.Buffer).String(); got != "status 143\n" {
		t.Errorf("sh printed %q, want status 143", got)
	}
	waitFor(t, func() bool { return gone(pid) })
}

// --no-wait returns 0 at once; the command runs on, holding the build in
// use, and lets go of it when it ends.
func TestNoWaitHoldsTheBuild(t *testing.T) {
	t.Parallel()
	s := builtUser(t, "")
	root := filepath.Join(s.Home, ".rezup")
	key := storeEntries(t, root)[0]
	lockPath := filepath.Join(root, ".store", key+".lock")
	pidFile := filepath.Join(s.Home, "pid")

	// The detached command inherits rezup's stdout and stderr: files here,
	// as a pipe would stay open for as long as it runs.
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := s.Command(context.Background(), "use", "--no-wait", "--", "sh", "-c", `echo $$ > "$0"; exec sleep 40`, pidFile)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("use --no-wait: %v\n%s", err, b)
	}
	var pid int
	waitFor(t, func() bool {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid > 0 && comm(pid) == "sleep"
	})
	t.Cleanup(func() {
		// The test may fail before the kill below; the detached sleep
		// must not outlive it. ESRCH means it is gone already.
		_ = syscall.Kill(pid, syscall.SIGKILL)
	})
	if _, err := fsx.TryExclusive(lockPath); !errors.Is(err, fsx.ErrLocked) {
		t.Fatalf("the build is not in use while the --no-wait command runs: %v", err)
	}
	if res := s.Run("drop", ".main"); res.Code == 0 {
		t.Fatalf("drop succeeded while the --no-wait command runs")
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		lk, err := fsx.TryExclusive(lockPath)
		if err == nil {
			lk.Close()
		}
		return err == nil
	})
}

// A --do line that is a simple command replaces the shell, so SIGTERM to
// rezup's pid reaches the command and leaves nothing running.
func TestDoSimpleCommandGetsSignals(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	s.WriteFile("rezup.toml", testkit.RecipeTOML(wh, ""))
	s.MustRun("add", "--skip-use")
	for _, tt := range []struct{ line, want string }{
		{"sleep 40", "sleep"},
		{"sleep 40 > /dev/null", "sleep"},
		{"sleep 40; true", "sh"}, // a list stays a shell
	} {
		cmd := s.Start("use", "--do", tt.line)
		pid := cmd.Process.Pid
		// rezup execs sh, which execs a simple command: wait for the
		// process to become what it should end up as.
		waitFor(t, func() bool {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			return err == nil && strings.TrimSpace(string(b)) == tt.want
		})
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
}

// SIGTERM while `rezup pull` waits for a build's lock ends it at once,
// with one line and exit 143, holding nothing: every wait
// of a fetch honours the signal. (A stalled read of the cache cannot be
// made through the real binary, whose directory backend opens only
// regular files; materialize's TestStalledFetchReleasesTheLock covers it
// with a backend that blocks.)
func TestSigtermEndsAWaitingPull(t *testing.T) {
	t.Parallel()
	f := newFarm(t)
	f.admin.WriteFile("rezup.prod.toml", testkit.RecipeTOML(f.wheels, ""))
	f.admin.MustRun("add", "prod", "--remote", "--skip-use")
	entries, _ := filepath.Glob(filepath.Join(f.remote, ".cache", "*", "entry.json"))
	if len(entries) != 1 {
		t.Fatalf("cache entries: %v", entries)
	}
	key := filepath.Base(filepath.Dir(entries[0]))
	root := filepath.Join(t.TempDir(), "node")
	node := f.node(t, root)
	lockPath := filepath.Join(root, ".store", key+".lock")
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o755); err != nil {
		t.Fatal(err)
	}
	lk, err := fsx.TryExclusive(lockPath) // another process builds the key
	if err != nil {
		t.Fatal(err)
	}
	job := node.Start("pull", "prod")
	stderr := job.Stderr.(*testkit.Buffer)
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "waiting for "+key) })
	if err := job.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = job.Wait() // the exit status is checked below
	ws, ok := job.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Exited() || ws.ExitStatus() != 143 {
		t.Fatalf("exit: %v, want 143 (128 + SIGTERM)\nstderr:\n%s", job.ProcessState, stderr)
	}
	if out := stderr.String(); !strings.HasSuffix(out, "rezup: interrupted\n") || strings.Contains(out, "rezup: error:") || strings.Contains(out, "goroutine") {
		t.Errorf("want the one line rezup: interrupted:\n%s", out)
	}
	lk.Close()
	if keys := storeEntries(t, root); len(keys) != 0 {
		t.Errorf("store entries: %v", keys)
	}
	// Nothing of the interrupted pull holds the lock.
	lk, err = fsx.TryExclusive(lockPath)
	if err != nil {
		t.Fatalf("the lock is held after the interrupted pull: %v", err)
	}
	lk.Close()
}
