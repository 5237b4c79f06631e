package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/cas"
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
	r.endProgress()
	r.a.infof(format, args...)
}

func (r *reporter) Warnf(format string, args ...any) {
	r.endProgress()
	r.a.warnf(format, args...)
}

func (r *reporter) Debugf(format string, args ...any) {
	r.endProgress()
	r.a.log.Debug(fmt.Sprintf(format, args...))
}

func (r *reporter) Progress(what string, done, total cas.Progress) {
	if !r.terminal {
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
// and how many lines it left out. The useful lines are pip's "ERROR:"
// lines when there are any, else the last lines; either way a Python
// traceback counts only by its exception line, and a line that repeats
// the error's message (msg) is not shown again.
func excerpt(output, msg string, all bool) (lines []string, more int) {
	var kept []string
	for _, l := range strings.Split(output, "\n") {
		l = strings.TrimRight(l, " \t\r")
		if strings.TrimSpace(l) != "" {
			kept = append(kept, l)
		}
	}
	if all {
		return kept, 0
	}
	var useful, errs []string
	inTraceback := false
	for _, l := range kept {
		t := strings.TrimSpace(l)
		switch {
		case t == "Traceback (most recent call last):":
			inTraceback = true
			continue
		case inTraceback && t != l:
			continue // a frame or its source line, indented
		case inTraceback:
			inTraceback = false // the exception line: shown
		case t == "During handling of the above exception, another exception occurred:",
			t == "The above exception was the direct cause of the following exception:":
			continue
		}
		if len(t) >= minRepeat && strings.Contains(msg, t) {
			continue
		}
		useful = append(useful, t)
		if strings.HasPrefix(t, "ERROR:") {
			errs = append(errs, t)
		}
	}
	if len(errs) > 0 {
		useful = errs
	}
	if len(useful) > excerptLines {
		useful = useful[len(useful)-excerptLines:]
	}
	return useful, len(kept) - len(useful)
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
