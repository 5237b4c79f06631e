//go:build linux

package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/internal/testkit"
)

// On a terminal, a long add shows one live status line (the step, what
// pip is doing, the time it has taken), erased when it is done; piped,
// nothing but the step lines. -q prints nothing on success.
func TestLiveStatusLine(t *testing.T) {
	t.Parallel()
	s, wh := newBuilder(t)
	wheels := filepath.Join(t.TempDir(), "wheels")
	copyDir(t, wh, wheels)
	writeWheel(t, wheels, slowWheel()) // seconds of compileall
	s.WriteFile("rezup.dev.toml", testkit.RecipeTOML(wheels, "lib = [\"slowcompile\"]\n"))
	s.Env["TERM"] = "xterm"
	var env []string
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	tm := newTmux(t, env)
	tm.run("new-session", "-d", "-s", "rezup", "-x", "200", "-y", "40", "-c", s.Home,
		"sh", "-c", `"$0" add dev -s --fresh; echo "done-$?"; sleep 600`, s.Bin)
	live := regexp.MustCompile(`rezup: .* · \d+\.\ds`)
	deadline := time.Now().Add(3 * time.Minute)
	var screen string
	for {
		screen = tm.run("capture-pane", "-p", "-t", "rezup")
		if live.MatchString(screen) {
			break
		}
		if strings.Contains(screen, "done-") || time.Now().After(deadline) {
			t.Fatalf("no live status line while add worked; the pane shows:\n%s", screen)
		}
		time.Sleep(20 * time.Millisecond) // polling the screen, not waiting for time to pass
	}
	screen = tm.waitScreen("done-")
	if !strings.Contains(screen, "done-0") || live.MatchString(screen) {
		t.Errorf("after add, the live line is still there, or add failed:\n%s", screen)
	}
	if !strings.Contains(screen, "revision ") || !strings.Contains(screen, " of dev is ready") {
		t.Errorf("the step lines are gone:\n%s", screen)
	}

	// Piped: the step lines only, no line redrawn.
	res := s.MustRun("add", "dev", "-s", "--fresh")
	if strings.ContainsAny(res.Stderr, "\r\033") || live.MatchString(res.Stderr) || !strings.Contains(res.Stderr, " of dev is ready") {
		t.Errorf("piped stderr:\n%q", res.Stderr)
	}
	// -q: nothing at all on success.
	res = s.MustRun("add", "dev", "-s", "-q")
	if res.Stderr != "" || res.Stdout != "" {
		t.Errorf("add -q printed:\n%s%s", res.Stdout, res.Stderr)
	}
}
