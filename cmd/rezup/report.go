package main

import (
	"fmt"
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
