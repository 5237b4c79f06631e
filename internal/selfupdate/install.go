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

// VerifyTimeout bounds the --version run of each new binary.
const VerifyTimeout = 30 * time.Second

// HelperPath is where rezup looks for its helper first, and where Install
// puts it: beside the executable exe.
func HelperPath(exe string) string {
	return filepath.Join(filepath.Dir(exe), HelperProgram+exeSuffix)
}

// Install replaces the executable exe with the release rel, and the
// helper beside it (HelperPath) with rel's helper when the release has
// one:
//
//  1. copy each new binary beside exe (same directory, so the final
//     renames never cross filesystems), executable;
//  2. run each copy with --version (environ is its environment) and check
//     that it prints rel's version;
//  3. rename the helper's copy into place, then rezup's over exe (on
//     Windows, move each running file aside first, as a running
//     executable cannot be replaced).
//
// The helper goes first, so that a failure leaves at worst a new helper
// beside the old rezup, which refuses it with a message, never a new
// rezup without its helper. On any failure before the renames nothing is
// replaced, and the copies are removed. exe should be the resolved path of
// the running executable (os.Executable, then filepath.EvalSymlinks), so a
// symlinked rezup is upgraded where it lives. A release without a helper
// replaces rezup alone: the caller says that the old helper stays.
func Install(ctx context.Context, rel Release, exe string, environ []string) (err error) {
	type file struct{ src, staged, dst string }
	files := []file{{src: rel.Path, dst: exe}}
	if rel.Helper != "" {
		files = []file{{src: rel.Helper, dst: HelperPath(exe)}, files[0]}
	}
	dir := filepath.Dir(exe)
	defer func() {
		if err != nil {
			for _, f := range files {
				if f.staged != "" {
					// Best effort: a leftover is a hidden file beside
					// rezup, and nothing ever runs it.
					_ = os.Remove(f.staged)
				}
			}
		}
	}()
	for i := range files {
		f := &files[i]
		f.staged = filepath.Join(dir, fsx.RandomName("."+filepath.Base(f.dst)+".upgrade-")) + exeSuffix
		if err := stage(f.src, f.staged); err != nil {
			return fmt.Errorf("upgrade to %s: copy %s beside %s: %w", rel.Version, f.src, exe, err)
		}
		if err := verify(ctx, f.staged, f.src, rel.Version, environ); err != nil {
			return err
		}
	}
	for i := range files {
		f := &files[i]
		if err := replace(f.staged, f.dst); err != nil {
			return fmt.Errorf("upgrade to %s: replace %s: %w", rel.Version, f.dst, err)
		}
		f.staged = "" // renamed: nothing left to remove
	}
	return fsx.SyncDir(dir)
}

// stage copies src to staged, executable.
func stage(src, staged string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close() // read-only
	return fsx.WriteFileFunc(staged, 0o777, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
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

// verify runs the staged copy of src with --version.
func verify(ctx context.Context, staged, src string, want Version, environ []string) error {
	return verifyWithin(ctx, staged, src, want, environ, verifyBounds{VerifyTimeout, verifyWaitDelay})
}

// verifyWithin runs path --version in its own process group, so that the
// whole group is killed when the bound is reached and whatever it left
// running is killed when it is done: the run ends within b.timeout plus
// b.waitDelay, children included. src names the release file in
// messages.
func verifyWithin(ctx context.Context, path, src string, want Version, environ []string, b verifyBounds) error {
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
		return fmt.Errorf("upgrade to %s: %s --version exited but left a process holding its output", want, src)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("upgrade to %s: %s --version timed out after %v", want, src, b.timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("upgrade to %s: %s --version: %w", want, src, ctx.Err())
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = strings.TrimSpace(msg[i+1:]) // one line: the last
		}
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("upgrade to %s: %s does not run (--version: %v%s)", want, src, err, msg)
	}
	out := stdout.String()
	printed, ok := PrintedVersion(out)
	if !ok {
		return fmt.Errorf("upgrade to %s: %s --version printed nothing", want, src)
	}
	got, err := ParseVersion(printed)
	if err != nil || Compare(got, want) != 0 {
		return fmt.Errorf("upgrade to %s: %s --version printed %q, not that version", want, src, strings.TrimSpace(out))
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
