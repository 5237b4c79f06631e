// Command rezup launches Rez from versioned, content-addressed Python
// environments. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/rezup/rezup/internal/pyenv"
	"github.com/rezup/rezup/launch"
	"github.com/rezup/rezup/materialize"
	"github.com/rezup/rezup/recipe"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(args, environ []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		// A bug must still end in one line for the user, not a stack.
		if r := recover(); r != nil {
			writeError(stderr, withHint(fmt.Errorf("internal error: %v", r), "this is a bug in rezup %s; run again with -D and report it", rezupVersion()), false)
			code = 1
		}
	}()
	ctx, arm, stop := interruptible(context.Background())
	defer stop()
	app := newApp(environ, stdout, stderr)
	app.armInterrupts = arm
	defer app.closeNet()
	cmd := app.commandFor(args)
	cmd.SetArgs(args)
	ran, err := cmd.ExecuteContextC(ctx)
	app.stopLive()
	if err == nil {
		return 0
	}
	var in *interrupted
	if errors.As(context.Cause(ctx), &in) {
		// What was running ended with its process groups (see
		// internal/proc), and what it made was taken back on the way
		// out: one line, and the shell's code for the signal.
		app.endProgress()
		fmt.Fprintln(stderr, "rezup: interrupted")
		return in.code()
	}
	var ue *usageError
	if errors.As(err, &ue) && ue.cmd == "" && ran != nil {
		ue.cmd = ran.CommandPath()
	}
	var exit *launch.ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	app.printError(err)
	return exitCode(err)
}

// interrupted is the cause of a run's context when SIGINT (Ctrl-C) or
// SIGTERM arrived.
type interrupted struct{ sig os.Signal }

func (i *interrupted) Error() string { return "interrupted by " + i.sig.String() }

// code is the exit code of a run interrupted by i.sig, as a shell reports
// a command killed by it: 128 + the signal's number (130, 143).
func (i *interrupted) code() int {
	if s, ok := i.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// interruptible returns a context that SIGINT and SIGTERM cancel, once
// arm was called, with an *interrupted as its cause; stop stops
// listening. Until arm, the signals keep their default, which ends
// rezup: a warm launch makes nothing that an interrupt must take back,
// and watching for signals (a goroutine, the runtime's signal loop and
// its thread) cost it a few percent of its time. app.makes arms it
// before anything is made.
func interruptible(parent context.Context) (ctx context.Context, arm, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	done := make(chan struct{})
	arm = sync.OnceFunc(func() {
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		go func() {
			select {
			case sig := <-sigs:
				cancel(&interrupted{sig})
			case <-done:
			}
		}()
	})
	return ctx, arm, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// printError prints err for people (see writeError), on a line of its
// own even after a progress line. Every error rezup prints goes through
// it.
func (a *app) printError(err error) {
	a.endProgress()
	writeError(a.stderr, err, a.debug)
}

// exitCode is the one place errors become exit codes: 2 for usage,
// recipe and configuration errors (a recipe add --remote --strict
// refuses included; nothing was changed), 127 and 126 for a command `use`
// cannot find or run (as shells say it), 1 for everything else.
func exitCode(err error) int {
	var re *recipe.Error
	var ue *usageError
	var ce *commandError
	var cfg *configError
	switch {
	case errors.As(err, &ue), errors.As(err, &re), errors.As(err, &cfg), errors.Is(err, recipe.ErrBadName),
		errors.Is(err, materialize.ErrPythonDifferences):
		return 2
	case errors.As(err, &ce):
		return ce.Code
	}
	return 1
}

// usageError is a bad command line. cmd is the command path it was
// given to, such as "rezup use", whose help the hint points at; run sets
// it from the command cobra ran, so usagef needs no command.
type usageError struct{ msg, cmd string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// configError is a setting (an environment variable, a recipe value read
// by rezup itself) that cannot be used as it is: exit code 2, as a bad
// recipe, since nothing was changed.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// hinted carries what the user can do about an error.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

func withHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &hinted{err, fmt.Sprintf(format, args...)}
}

func hintFor(err error) string {
	// A root the user may not write is the cause whatever the command was
	// doing: its hint wins over the command's own.
	var nw *materialize.NotWritableError
	switch {
	case errors.As(err, &nw) && nw.Remote:
		return fmt.Sprintf("publishing needs write access to %s: ask its owner", nw.Root)
	case errors.As(err, &nw):
		return fmt.Sprintf("ask the owner of %s, or use a root of your own (REZUP_ROOT_LOCAL)", nw.Root)
	}
	// So does the disk: a full, read-only or misplaced root is never a
	// matter of the recipe, whatever the command was building.
	if h := diskHint(err); h != "" {
		return h
	}
	var h *hinted
	if errors.As(err, &h) {
		return h.hint
	}
	var ue *usageError
	switch {
	case errors.As(err, &ue) && ue.cmd != "":
		return "see " + ue.cmd + " --help"
	case errors.As(err, &ue):
		return "see rezup --help"
	case errors.Is(err, recipe.ErrBadName):
		return "use a name like prod or dev-2 (letters, digits, '.', '_' and '-')"
	case errors.Is(err, pyenv.ErrNoPython):
		return "install that python, or set python in the recipe to a version or path that exists"
	case errors.Is(err, materialize.ErrInUse):
		return "wait for the jobs that use it to end, then try again"
	case errors.Is(err, launch.ErrNested):
		return "exit that shell first: rezup does not launch a container inside another"
	}
	return ""
}

// onDisk reports whether err came from the filesystem (a path, a link, a
// system call) rather than from a network cache, whose refusals say
// themselves which credentials to check.
func onDisk(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se)
}

// diskHint is the hint for an error about the disk or the root rather
// than what was being built: no space, a read-only filesystem, no
// permission, or a path that must be a directory being a file. The error
// itself names the path.
func diskHint(err error) string {
	// A command rezup launches that cannot run (fork/exec: permission
	// denied) is the user's command, not the root.
	var pe *fs.PathError
	launching := errors.As(err, &pe) && strings.Contains(pe.Op, "exec")
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "the disk (or your quota) is full: free some space (rezup gc removes what nothing uses), then try again"
	case errors.Is(err, syscall.EROFS):
		return "that filesystem is read-only: use a root on a writable one (REZUP_ROOT_LOCAL)"
	case launching:
		return ""
	case errors.Is(err, fs.ErrPermission) && onDisk(err):
		return "permission denied on the path above: check its permissions, or use a root of your own (REZUP_ROOT_LOCAL)"
	case errors.Is(err, syscall.ENOTDIR):
		return "a path rezup needs as a directory is a file: move that file away, or use another root (REZUP_ROOT_LOCAL)"
	}
	return ""
}
