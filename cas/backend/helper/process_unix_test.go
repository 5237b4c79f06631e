//go:build unix

package helper

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/backend"
)

// A program that is not rezup-net is refused within the start timeout,
// whether it says nothing or something else, and is not left running.
func TestNotAHelper(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		argv    []string
		timeout time.Duration
		want    string
	}{
		{[]string{"sleep", "100"}, time.Second, "no handshake within 1s"},
		{[]string{"yes"}, 10 * time.Second, "not a rezup-net stream"},
		{[]string{"true"}, 10 * time.Second, "exited"},
		{[]string{"/nonexistent/rezup-net"}, 10 * time.Second, "no such file"},
	} {
		var cmd *exec.Cmd
		c := New("http://h/cache", Options{
			Version:      "1.0.0",
			StartTimeout: tt.timeout,
			Command: func() (*exec.Cmd, error) {
				cmd = exec.Command(tt.argv[0], tt.argv[1:]...)
				return cmd, nil
			},
		})
		start := time.Now()
		_, err := c.Stat(t.Context(), "k/a")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !backend.IsPermanent(err) {
			t.Errorf("%s: %v, want a permanent error saying %q", tt.argv[0], err, tt.want)
		}
		if d := time.Since(start); d > tt.timeout+10*time.Second {
			t.Errorf("%s: refused after %v", tt.argv[0], d)
		}
		if cmd != nil && cmd.Process != nil && cmd.ProcessState == nil {
			t.Errorf("%s: still running (not waited for)", tt.argv[0])
		}
		if err := c.Close(); err != nil {
			t.Errorf("%s: close: %v", tt.argv[0], err)
		}
	}
}
