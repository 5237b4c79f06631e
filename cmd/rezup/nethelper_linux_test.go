//go:build linux

package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/internal/testsrv"
)

// children lists the processes whose parent is pid, as "PID COMM".
func children(t *testing.T, pid int) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// PID (COMM) STATE PPID …: the comm may hold spaces and
		// parentheses, the fields after it follow the last ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		j := strings.IndexByte(s, '(')
		if i < 0 || j < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, e.Name()+" "+s[j+1:i])
		}
	}
	return out
}

// A node that fetches its build from an HTTP cache runs rezup-net for
// it, and ends it before rezup execs the command: while the command runs,
// nothing rezup started is left. The command has rezup's pid, so a helper
// left behind would be its child, running or a zombie: cat, which never
// reaps a child it did not start, shows either.
func TestNoHelperOutlivesALaunch(t *testing.T) {
	t.Parallel()
	srv := nginxCache(t, testsrv.NginxOptions{})
	f := newFarm(t)
	f.publishTo(t, srv.URL+"/rezup", nil)

	node := f.node(t, filepath.Join(t.TempDir(), "node"))
	node.Env["REZUP_CACHE"] = srv.URL + "/rezup"
	ctx, cancel := context.WithTimeout(t.Context(), testkit.RunTimeout)
	defer cancel()
	cmd := node.Command(ctx, "use", "prod", "--", "cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := new(testkit.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "ready\n") // the pipe holds it until cat runs
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the command did not start (%q, %v):\n%s", line, err, stderr)
	}
	left := children(t, cmd.Process.Pid)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("use: %v\n%s", err, stderr)
	}
	if len(left) != 0 {
		t.Errorf("while the command ran, rezup's pid had children: %q", left)
	}
	if !strings.Contains(stderr.String(), "fetched") {
		t.Errorf("the node did not fetch from the HTTP cache:\n%s", stderr)
	}
}

// A rezup without rezup-net beside it or on PATH cannot reach an HTTP
// cache, and says what to install where; with rezup-net on PATH, it
// fetches.
func TestMissingHelper(t *testing.T) {
	t.Parallel()
	srv := nginxCache(t, testsrv.NginxOptions{})
	f := newFarm(t)
	f.publishTo(t, srv.URL+"/rezup", nil)

	// A link, not a copy: a binary this process wrote could be held open
	// for writing by a child another test forks meanwhile (ETXTBSY).
	alone := filepath.Join(t.TempDir(), "rezup")
	if err := os.Link(f.admin.Bin, alone); err != nil {
		t.Fatalf("link rezup alone (the temp dir must be on one filesystem): %v", err)
	}
	node := f.node(t, filepath.Join(t.TempDir(), "node"))
	node.Bin = alone
	node.Env["REZUP_CACHE"] = srv.URL + "/rezup"
	// The cache cannot be reached: the node builds from the lock (the
	// farm's wheels are gone, so that fails too) and names both causes.
	res := node.Run("use", "prod", "--", "true")
	want := "rezup-net is neither at " + filepath.Join(filepath.Dir(alone), "rezup-net") + " nor on PATH"
	if res.Code != 1 || !strings.Contains(res.Stderr, "rezup: warning: ") || !strings.Contains(res.Stderr, want+"; building") ||
		!strings.Contains(res.Stderr, want+", and building here failed too") {
		t.Errorf("no rezup-net: exit %d, want 1, a warning and an error naming %q:\n%s", res.Code, want, res.Stderr)
	}

	node.Env["PATH"] = filepath.Dir(f.admin.Bin) + string(os.PathListSeparator) + node.Env["PATH"]
	res = node.MustRun("use", "prod", "--", "true")
	if !strings.Contains(res.Stderr, "fetched") {
		t.Errorf("with rezup-net on PATH, the node did not fetch:\n%s", res.Stderr)
	}
}
