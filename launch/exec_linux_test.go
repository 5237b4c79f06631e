package launch

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// needFlock returns the path of util-linux flock(1), which these tests use
// to see a lock from a process that does not share the helper's open file.
func needFlock(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("flock")
	if err != nil {
		t.Fatalf("flock(1) from util-linux is needed by this test (apt-get install util-linux): %v", err)
	}
	return p
}

// The exec'd command holds the in-use lock: flock(1) opens the file anew,
// so its exclusive try conflicts with the shared lock the command
// inherited, and fails. Without the hand-off, exec closes the descriptor
// and the lock goes with it.
func TestExecHandsTheLockToTheCommand(t *testing.T) {
	flock := needFlock(t)
	tests := []struct {
		mode string
		code int
	}{
		{"exec", 1},
		{"exec-keep", 0},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			lock := filepath.Join(t.TempDir(), "entry.lock")
			cmd := helper(tt.mode, lock, flock, "-n", "-x", lock, "true")
			var stderr strings.Builder
			cmd.Stderr = &stderr
			cmd.Run()
			if got := cmd.ProcessState.ExitCode(); got != tt.code {
				t.Fatalf("flock -n -x after %s: exit %d, want %d; stderr: %s", tt.mode, got, tt.code, stderr.String())
			}
		})
	}
}

// Start returns at once; the command lives on in its own session, reads
// /dev/null, and keeps the lock after the helper (rezup) has exited.
func TestStartDetachesAndKeepsTheLock(t *testing.T) {
	flock := needFlock(t)
	tests := []struct {
		mode  string
		flock string
	}{
		{"start", "1"},
		{"start-keep", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			dir := t.TempDir()
			lock := filepath.Join(dir, "entry.lock")
			gate := filepath.Join(dir, "gate")
			if err := syscall.Mkfifo(gate, 0o600); err != nil {
				t.Fatal(err)
			}
			// The command waits at the gate until the helper is gone, so
			// only its own descriptor can be holding the lock then.
			script := `cat "$1" >/dev/null
"$3" -n -x "$2" true; echo "flock=$?"
echo "stdin=$(readlink /proc/self/fd/0)"
echo "sid=$(cut -d' ' -f6 /proc/self/stat)"`
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			cmd := helper(tt.mode, lock, "sh", "-c", script, "sh", gate, lock, flock)
			// Both outputs must be files: a pipe os/exec copies from
			// would wait for the detached command to close it too.
			stderr, err := os.Create(filepath.Join(dir, "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer stderr.Close()
			cmd.Stdout = w
			cmd.Stderr = stderr
			err = cmd.Run()
			w.Close()
			if err != nil {
				msg, _ := os.ReadFile(stderr.Name())
				t.Fatalf("helper: %v; stderr: %s", err, msg)
			}
			g, err := os.OpenFile(gate, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			g.Close()
			out, err := io.ReadAll(r) // EOF once the command has exited
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, line := range strings.Split(string(bytes.TrimSpace(out)), "\n") {
				k, v, _ := strings.Cut(line, "=")
				got[k] = v
			}
			if _, err := strconv.Atoi(got["pid"]); err != nil {
				t.Fatalf("no pid in output %q", out)
			}
			want := map[string]string{"flock": tt.flock, "stdin": "/dev/null", "sid": got["pid"]}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q (output %q)", k, got[k], v, out)
				}
			}
		})
	}
}

// parentShell finds the shell that started rezup even with a non-shell in
// between, and reports the shell's own executable.
func TestParentShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(sh)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		argv []string
	}{
		// "; exit" keeps sh from exec'ing its last command in place.
		{"direct child", []string{sh, "-c", `"$0" ` + helperArg + ` parentshell; exit $?`, os.Args[0]}},
		{"through a non-shell", []string{sh, "-c", `timeout 600 "$0" ` + helperArg + ` parentshell; exit $?`, os.Args[0]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(tt.argv[0], tt.argv[1:]...).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != want+" true" {
				t.Errorf("parentShell = %q, want %q", got, want+" true")
			}
		})
	}
}
