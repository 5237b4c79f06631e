package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
)

func TestProgressOnlyOnTerminalsAfterASecond(t *testing.T) {
	t.Parallel()
	var errOut bytes.Buffer
	a := newApp(nil, &bytes.Buffer{}, &errOut)
	clock := time.Unix(1000, 0)
	r := newReporter(a)
	r.now = func() time.Time { return clock }
	total := cas.Progress{Bytes: 10 << 20, Files: 100}

	// stderr is a buffer, not a terminal: nothing, however long it takes.
	for i := range 5 {
		clock = clock.Add(time.Second)
		r.Progress("unpack k", cas.Progress{Bytes: int64(i) << 20, Files: int64(i)}, total)
	}
	if errOut.Len() != 0 {
		t.Fatalf("progress printed to a non-terminal: %q", errOut.String())
	}

	r = newReporter(a)
	r.terminal = true
	r.now = func() time.Time { return clock }
	r.Progress("unpack k", cas.Progress{}, total) // starts the clock
	clock = clock.Add(500 * time.Millisecond)
	r.Progress("unpack k", cas.Progress{Bytes: 1 << 20, Files: 10}, total)
	if errOut.Len() != 0 {
		t.Fatalf("progress printed before a second: %q", errOut.String())
	}
	clock = clock.Add(time.Second)
	r.Progress("unpack k", cas.Progress{Bytes: 5 << 20, Files: 50}, total)
	if got := errOut.String(); !strings.Contains(got, "50%") || !strings.Contains(got, "50 / 100 files") {
		t.Fatalf("progress line = %q", got)
	}
	r.Infof("fetched k")
	if got := errOut.String(); !strings.HasSuffix(got, "\nrezup: fetched k\n") {
		t.Fatalf("the next message does not start on its own line: %q", got)
	}
}
