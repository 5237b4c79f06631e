//go:build unix

package launch

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/rezup/rezup/internal/envlist"
)

func TestExecExitStatusIsTheCommands(t *testing.T) {
	tests := []struct {
		script string
		code   int
		signal syscall.Signal
	}{
		{"exit 0", 0, 0},
		{"exit 7", 7, 0},
		{"exit 255", 255, 0},
		// A signal reaches the command itself: there is no rezup left in
		// between to catch it or turn it into an exit code.
		{"kill -TERM $$", -1, syscall.SIGTERM},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			cmd := helper("exec", "-", "sh", "-c", tt.script)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatal(err)
			}
			ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if tt.signal != 0 {
				if !ws.Signaled() || ws.Signal() != tt.signal {
					t.Fatalf("status %v, want killed by %v; stderr: %s", cmd.ProcessState, tt.signal, stderr.String())
				}
				return
			}
			if got := cmd.ProcessState.ExitCode(); got != tt.code {
				t.Fatalf("exit code %d, want %d; stderr: %s", got, tt.code, stderr.String())
			}
		})
	}
}

func TestExecNotFound(t *testing.T) {
	err := Exec([]string{"no-such-command"}, []string{"PATH=" + t.TempDir()}, nil, nil)
	if !errors.Is(err, envlist.ErrNotFound) {
		t.Fatalf("err = %v, want envlist.ErrNotFound", err)
	}
	if err := Exec(nil, nil, nil, nil); err == nil {
		t.Fatal("Exec(nil) did not fail")
	}
}
