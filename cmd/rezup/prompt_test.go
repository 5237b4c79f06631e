//go:build unix

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/testkit"
)

// tmuxServer is a private tmux server on its own socket.
type tmuxServer struct {
	t      *testing.T
	tmux   string
	socket string
	env    []string
}

func newTmux(t *testing.T, env []string) *tmuxServer {
	t.Helper()
	tm := &tmuxServer{t: t, tmux: testkit.RequireTool(t, "tmux"), env: env}
	// Socket paths are limited to ~100 bytes: a short temp dir, not t.TempDir.
	dir, err := os.MkdirTemp("", "rzt")
	if err != nil {
		t.Fatal(err)
	}
	tm.socket = filepath.Join(dir, "s")
	t.Cleanup(func() {
		// The server may have exited with its last pane already.
		_ = exec.Command(tm.tmux, "-S", tm.socket, "kill-server").Run()
		os.RemoveAll(dir)
	})
	return tm
}

func (tm *tmuxServer) run(args ...string) string {
	tm.t.Helper()
	cmd := exec.Command(tm.tmux, append([]string{"-S", tm.socket, "-f", "/dev/null"}, args...)...)
	cmd.Env = tm.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// waitScreen polls the pane until it shows want, and returns the screen.
func (tm *tmuxServer) waitScreen(want string) string {
	tm.t.Helper()
	var screen string
	deadline := time.Now().Add(time.Minute)
	for {
		screen = tm.run("capture-pane", "-p", "-t", "rezup")
		if strings.Contains(screen, want) {
			return screen
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the pane never showed %q; it shows:\n%s", want, screen)
		}
		time.Sleep(20 * time.Millisecond) // polling the screen, not waiting for time to pass
	}
}

// waitExit waits for the session to end, that is for its shell to exit:
// bash writes ~/.bash_history as it exits, and HOME is removed when the
// test ends, so the test must not end before.
func (tm *tmuxServer) waitExit() {
	tm.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		cmd := exec.Command(tm.tmux, "-S", tm.socket, "has-session", "-t", "rezup")
		cmd.Env = tm.env
		if cmd.Run() != nil {
			return // no such session, or no server left: the shell is gone
		}
		if time.Now().After(deadline) {
			tm.t.Fatal("the shell in the pane did not exit within a minute of `exit`")
		}
		time.Sleep(20 * time.Millisecond) // polling the session, not waiting for time to pass
	}
}

// The scenario: ~/.bashrc sets its own PS1, and an interactive
// rezup in a terminal shows the rezup prompt in front of it, with
// REZUP_CONTAINER set, and no rc file edited.
func TestInteractivePromptInTmux(t *testing.T) {
	// Parallel: a private tmux server on its own socket; the screen is
	// polled for up to a minute.
	t.Parallel()
	s := builtUser(t, "")
	bash := testkit.RequireTool(t, "bash")
	s.WriteFile(".bashrc", `PS1="plain$ "`+"\n")
	s.Env["REZUP_DEFAULT_SHELL"] = bash
	s.Env["TERM"] = "xterm"
	var env []string
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	tm := newTmux(t, env)
	tm.run("new-session", "-d", "-s", "rezup", "-x", "120", "-y", "30", "-c", s.Home, s.Bin)
	screen := tm.waitScreen("plain$") // capture-pane trims trailing spaces
	if !strings.Contains(screen, "rezup (.main/local) plain$") {
		t.Errorf("the prompt is not rezup's followed by ~/.bashrc's:\n%s", screen)
	}
	tm.run("send-keys", "-t", "rezup", "echo \"[$REZUP_CONTAINER]\"", "Enter")
	tm.waitScreen("[.main]")
	tm.run("send-keys", "-t", "rezup", "exit", "Enter")
	tm.waitExit()
	if b, _ := os.ReadFile(filepath.Join(s.Home, ".bashrc")); string(b) != "PS1=\"plain$ \"\n" {
		t.Errorf("~/.bashrc was edited: %q", b)
	}
}
