package selfupdate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rezup/rezup/internal/fsx"
	"github.com/rezup/rezup/internal/proc"
)

// VerifyTimeout bounds the new binary's --version run.
const VerifyTimeout = 30 * time.Second

// Install replaces the executable exe with the release rel:
//
//  1. copy rel beside exe (same directory, so the final rename never
//     crosses filesystems), executable;
//  2. run the copy with --version (environ is its environment) and check
//     that the last word it prints is rel's version;
//  3. rename the copy over exe (on Windows, move the running exe aside
//     first, as a running executable cannot be replaced).
//
// On any failure exe is untouched and the copy is removed. exe should be
// the resolved path of the running executable (os.Executable, then
// filepath.EvalSymlinks), so a symlinked rezup is upgraded where it lives.
func Install(ctx context.Context, rel Release, exe string, environ []string) (err error) {
	dir := filepath.Dir(exe)
	staged := filepath.Join(dir, fsx.RandomName("."+filepath.Base(exe)+".upgrade-")) + exeSuffix
	defer func() {
		if err != nil {
			// Best effort: a leftover is a hidden file beside rezup, and
			// nothing ever runs it.
			_ = os.Remove(staged)
		}
	}()
	src, err := os.Open(rel.Path)
	if err != nil {
		return fmt.Errorf("upgrade to %s: %w", rel.Version, err)
	}
	defer src.Close() // read-only
	err = fsx.WriteFileFunc(staged, 0o777, func(w io.Writer) error {
		_, err := io.Copy(w, src)
		return err
	})
	if err != nil {
		return fmt.Errorf("upgrade to %s: copy %s beside %s: %w", rel.Version, rel.Path, exe, err)
	}
	if err := verify(ctx, staged, rel, environ); err != nil {
		return err
	}
	if err := replace(staged, exe); err != nil {
		return fmt.Errorf("upgrade to %s: replace %s: %w", rel.Version, exe, err)
	}
	return fsx.SyncDir(dir)
}

// verifyWaitDelay is how long the --version run may keep its output open
// after it exits or is killed: a release that leaves a child holding
// stdout must not hold the upgrade check (and the command behind it).
const verifyWaitDelay = 5 * time.Second

// maxVersionOutput bounds what is kept of the --version output.
const maxVersionOutput = 64 << 10

// verifyBounds bound one --version run; tests shorten them.
type verifyBounds struct {
	timeout   time.Duration // the whole run
	waitDelay time.Duration // after the process exits or is killed
}

// verify runs the staged binary with --version.
func verify(ctx context.Context, path string, rel Release, environ []string) error {
	return verifyWithin(ctx, path, rel, environ, verifyBounds{VerifyTimeout, verifyWaitDelay})
}

// verifyWithin runs path --version in its own process group, so that the
// whole group is killed when the bound is reached and whatever it left
// running is killed when it is done: the run ends within b.timeout plus
// b.waitDelay, children included.
func verifyWithin(ctx context.Context, path string, rel Release, environ []string, b verifyBounds) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = environ
	cmd.WaitDelay = b.waitDelay
	proc.Group(cmd)
	stdout := &cappedBuffer{max: maxVersionOutput}
	stderr := &cappedBuffer{max: maxVersionOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	proc.KillGroup(cmd)
	switch {
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited successfully, but its output stayed open.
		return fmt.Errorf("upgrade to %s: %s --version exited but left a process holding its output", rel.Version, rel.Path)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("upgrade to %s: %s --version timed out after %v", rel.Version, rel.Path, b.timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("upgrade to %s: %s --version: %w", rel.Version, rel.Path, ctx.Err())
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:]) // one line: the last
		}
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("upgrade to %s: %s does not run (--version: %v%s)", rel.Version, rel.Path, err, msg)
	}
	out := stdout.String()
	printed, ok := PrintedVersion(out)
	if !ok {
		return fmt.Errorf("upgrade to %s: %s --version printed nothing", rel.Version, rel.Path)
	}
	got, err := ParseVersion(printed)
	if err != nil || Compare(got, rel.Version) != 0 {
		return fmt.Errorf("upgrade to %s: %s --version printed %q, not that version", rel.Version, rel.Path, strings.TrimSpace(out))
	}
	return nil
}

// cappedBuffer keeps the first max bytes written to it and drops the
// rest, so that a release printing without end costs no memory.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string { return c.buf.String() }

// PrintedVersion is the version in what rezup --version printed: the word
// after "rezup" on the first line ("rezup 1.4.0 (commit …, go…, os/arch)";
// releases before the build details printed "rezup 1.4.0"), or else the
// last word of that line. ok is false when nothing was printed.
func PrintedVersion(out string) (v string, ok bool) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	f := strings.Fields(line)
	switch {
	case len(f) == 0:
		return "", false
	case len(f) >= 2 && f[0] == "rezup":
		return f[1], true
	}
	return f[len(f)-1], true
}
