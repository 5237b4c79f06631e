package selfupdate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A release whose --version leaves a child holding stdout, or hangs with
// one, cannot hold the upgrade check past its bounds: the run returns with
// an error saying why, and the children are killed with it.
func TestVerifyBoundedWithChildren(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"exits leaving a child on stdout", "echo rezup 1.1.0", "left a process holding its output"},
		{"hangs with a child", "sleep 100", "timed out after 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "child.pid")
			rel := Release{Path: filepath.Join(dir, "rezup-1.1.0-linux-amd64")}
			rel.Version, _ = ParseVersion("1.1.0")
			script := "#!/bin/sh\nsleep 100 &\necho $! > " + pidFile + "\n" + tt.body + "\n"
			if err := os.WriteFile(rel.Path, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				done <- verifyWithin(context.Background(), rel.Path, rel.Path, rel.Version, env(), verifyBounds{timeout: time.Second, waitDelay: time.Second})
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("verify still running after 30s")
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			b, rerr := os.ReadFile(pidFile)
			pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
			if rerr != nil || perr != nil {
				t.Fatalf("child pid: %v %v", rerr, perr)
			}
			// Killed means gone, or a zombie until init reaps it.
			deadline := time.Now().Add(10 * time.Second)
			for !gone(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("the child %d outlived the check", pid)
				}
				time.Sleep(10 * time.Millisecond) // polling the condition, not waiting for a state
			}
		})
	}
}

func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) STATE ...: the comm may hold spaces, the state follows
	// the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
