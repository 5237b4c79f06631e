package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// liveLine is the one status line a terminal shows while rezup works on
// something long (a resolution, a build, a fetch): the step, what pip is
// doing, and the time the step has taken, redrawn a few times a second so
// that a slow step still shows life. Whatever rezup prints next erases it
// first, and it is erased for good when the command is done (stop). It is
// never drawn when stderr is not a terminal, nor with -q or -D.
type liveLine struct {
	a   *app
	now func() time.Time

	mu        sync.Mutex
	step      string
	stepStart time.Time
	pip       string
	pending   []byte // pip's output since its last newline
	ticking   bool
	done      chan struct{} // closed: the redraws stop
	exited    chan struct{} // closed by the redraws once they stopped
	stopped   bool
}

// liveEvery is how often the line is redrawn.
const liveEvery = 250 * time.Millisecond

// setStep makes msg the step the line shows, and starts the redraws.
func (l *liveLine) setStep(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	l.step, l.stepStart, l.pip = msg, l.now(), ""
	if !l.ticking {
		l.ticking = true
		l.done, l.exited = make(chan struct{}), make(chan struct{})
		go l.tick(l.done, l.exited)
	}
}

// Write takes what pip prints: its last line is what pip is doing.
func (l *liveLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, p...)
	for {
		i := bytes.IndexAny(l.pending, "\r\n")
		if i < 0 {
			break
		}
		if s := strings.TrimSpace(string(l.pending[:i])); s != "" {
			l.pip = s
		}
		l.pending = l.pending[i+1:]
	}
	if len(l.pending) > 4096 {
		l.pending = l.pending[len(l.pending)-4096:]
	}
	return len(p), nil
}

func (l *liveLine) tick(done, exited chan struct{}) {
	defer close(exited)
	t := time.NewTicker(liveEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			l.draw()
		}
	}
}

// draw shows the line: "rezup: STEP · PIP · 3.2s", cut to the terminal's
// width.
func (l *liveLine) draw() {
	l.mu.Lock()
	if l.stopped || l.step == "" {
		l.mu.Unlock()
		return
	}
	text := l.step
	if l.pip != "" {
		text += " · pip: " + l.pip
	}
	elapsed := l.now().Sub(l.stepStart).Round(100 * time.Millisecond)
	l.mu.Unlock()
	suffix := fmt.Sprintf(" · %.1fs", elapsed.Seconds())
	width := 80
	if f, ok := l.a.stderr.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 20 {
			width = w
		}
	}
	line := "rezup: " + text
	if max := width - 1 - utf8.RuneCountInString(suffix); utf8.RuneCountInString(line) > max {
		r := []rune(line)
		line = string(r[:max-1]) + "…"
	}
	l.a.showLive("\r" + line + suffix + "\033[K")
}

// stop ends the redraws and erases the line, for good.
func (l *liveLine) stop() {
	l.mu.Lock()
	var exited chan struct{}
	if !l.stopped && l.ticking {
		close(l.done)
		exited = l.exited
	}
	l.stopped = true
	l.mu.Unlock()
	// A draw that read the line before stopped was set prints it after
	// this lock: erase only once the redraws have ended, or that line
	// stays on the terminal.
	if exited != nil {
		<-exited
	}
	l.a.endProgress()
}
