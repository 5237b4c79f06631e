package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/internal/pyout"
	"github.com/rezup/rezup/materialize"
)

// reporter prints progress for people on stderr: lines for steps, and a
// progress line for transfers that take more than a second, only when
// stderr is a terminal.
type reporter struct {
	a        *app
	terminal bool
	now      func() time.Time

	mu      sync.Mutex
	started map[string]time.Time
	last    time.Time
}

func newReporter(a *app) *reporter {
	return &reporter{a: a, terminal: isTerminal(a.stderr), now: time.Now, started: map[string]time.Time{}}
}

func (r *reporter) Infof(format string, args ...any) {
	r.a.infof(format, args...)
	if r.a.live != nil {
		r.a.live.setStep(fmt.Sprintf(format, args...))
	}
}

func (r *reporter) Warnf(format string, args ...any) {
	r.a.warnf(format, args...)
}

func (r *reporter) Debugf(format string, args ...any) {
	r.endProgress()
	r.a.log.Debug(fmt.Sprintf(format, args...))
}

func (r *reporter) Progress(what string, done, total archive.Progress) {
	if !r.terminal || r.a.quiet {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	start, ok := r.started[what]
	if !ok {
		r.started[what] = now
		return
	}
	if now.Sub(start) < time.Second || now.Sub(r.last) < 100*time.Millisecond {
		return
	}
	r.last = now
	pct := ""
	if total.Bytes > 0 {
		pct = fmt.Sprintf(" %3d%%", min(100, done.Bytes*100/total.Bytes))
	}
	r.a.showProgress(fmt.Sprintf("\rrezup: %s%s  %s / %s, %d / %d files\033[K", what, pct,
		materialize.HumanSize(done.Bytes), materialize.HumanSize(total.Bytes), done.Files, total.Files))
}

// endProgress ends the app's progress line: every reporter of a run, and
// the error run prints last, share stderr.
func (r *reporter) endProgress() { r.a.endProgress() }

// excerptLines is how many lines of a tool's output an error shows
// without -D.
const excerptLines = 10

// writeError prints err for people: `rezup: error:` and the error's first
// line, `rezup: hint:` and what to do, if anything, then what a tool
// printed, if the error carries it. The libraries' convention is that an
// error's first line is the message and any line after it is the output
// of the tool that failed (pip, python, rez): without debug only an
// excerpt of that output is shown, indented, so that the error stays one
// line a user can read, and a log or a terminal shows at once where
// rezup's words end.
func writeError(w io.Writer, err error, debug bool) {
	msg, output, _ := strings.Cut(err.Error(), "\n")
	msg = strings.TrimRight(msg, " \t\r")
	var b strings.Builder
	fmt.Fprintf(&b, "rezup: error: %s\n", msg)
	if h := hintFor(err); h != "" {
		fmt.Fprintf(&b, "rezup: hint: %s\n", h)
	}
	lines, more := excerpt(output, msg, debug)
	for _, l := range lines {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	if more > 0 {
		fmt.Fprintf(&b, "    (%d more %s; run with -D to see all)\n", more, plural(more, "line", "lines"))
	}
	// One write: a reporter on another goroutine cannot cut into it.
	io.WriteString(w, b.String())
}

// excerpt picks what to show of a tool's output: with all, every
// non-blank line; else at most excerptLines of the most useful ones,
// and how many lines it left out. The useful lines are those that say
// what failed, when there are any: pip's "ERROR:" and "error:" lines, the
// summary of a build step it ran ("× ..."), and the exception line of a
// Python traceback (its frames never); else the last lines. A line that
// repeats the error's message (msg), or one shown already, is not shown
// again.
func excerpt(output, msg string, all bool) (lines []string, more int) {
	kept := pyout.Lines(output)
	if all {
		for _, l := range kept {
			lines = append(lines, l.Raw)
		}
		return lines, 0
	}
	var rest, failed []string
	shown := map[string]bool{}
	for _, l := range kept {
		t, exception := l.Text, l.Exception
		if l.Frame {
			continue
		}
		said := strings.TrimPrefix(t, "ERROR: ")
		if shown[t] || len(said) >= minRepeat && strings.Contains(msg, said) {
			continue
		}
		shown[t] = true
		rest = append(rest, t)
		if exception || strings.HasPrefix(t, "ERROR:") || strings.HasPrefix(t, "error:") || strings.HasPrefix(t, "× ") || explains(t) {
			failed = append(failed, t)
		}
	}
	if len(failed) > 0 {
		rest = failed
	}
	if len(rest) > excerptLines {
		rest = rest[len(rest)-excerptLines:]
	}
	return rest, len(kept) - len(rest)
}

// explains says whether t is a warning of pip's that explains a failure
// (a --find-links directory that does not exist, an index that does not
// answer, a retry): pip prints them as WARNING lines, before its ERROR.
// Its routine warnings (its version, running as root) explain nothing.
func explains(t string) bool {
	if !strings.HasPrefix(t, "WARNING: ") {
		return false
	}
	for _, noise := range []string{"You are using pip version", "Running pip as the 'root' user", "pip version", "There was an error checking the latest version", "consider upgrading"} {
		if strings.Contains(t, noise) {
			return false
		}
	}
	return true
}

// minRepeat is how long a line must be to count as a repeat of the
// error's message: a short one ("1", "error") may be in it by chance.
const minRepeat = 16

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
