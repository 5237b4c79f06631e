package selfupdate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rezup/rezup/internal/fsx"
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

// verify runs the staged binary with --version.
func verify(ctx context.Context, path string, rel Release, environ []string) error {
	ctx, cancel := context.WithTimeout(ctx, VerifyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("upgrade to %s: %s does not run (--version: %v%s)", rel.Version, rel.Path, err, msg)
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return fmt.Errorf("upgrade to %s: %s --version printed nothing", rel.Version, rel.Path)
	}
	got, err := ParseVersion(fields[len(fields)-1])
	if err != nil || Compare(got, rel.Version) != 0 {
		return fmt.Errorf("upgrade to %s: %s --version printed %q, not that version", rel.Version, rel.Path, strings.TrimSpace(string(out)))
	}
	return nil
}
