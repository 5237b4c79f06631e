package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/backend"
)

// REZUP_CACHE_TRANSFERS is a number of 1 or more; anything else is one
// error with a hint, before the cache is opened.
func TestCacheTransfers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value string
		want  int // -1: refused
	}{
		{"", 0},
		{"1", 1},
		{"16", 16},
		{" 8 ", 8},
		{"0", -1},
		{"-2", -1},
		{"four", -1},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			a := newApp([]string{"REZUP_CACHE_TRANSFERS=" + tt.value}, &bytes.Buffer{}, &bytes.Buffer{})
			n, err := a.cacheTransfers()
			if tt.want >= 0 {
				if err != nil || n != tt.want {
					t.Fatalf("got %d, %v; want %d", n, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "REZUP_CACHE_TRANSFERS") || hintFor(err) == "" {
				t.Fatalf("got %d, %v (hint %q); want an error naming the variable, with a hint", n, err, hintFor(err))
			}
			if _, err := a.openCache(t.TempDir()); err == nil {
				t.Fatal("the cache opened with a bad REZUP_CACHE_TRANSFERS")
			}
		})
	}
}

// terminalApp is an app whose stderr takes progress lines, with a
// progress line shown.
func terminalApp(t *testing.T, debug bool) (*app, *bytes.Buffer) {
	var errOut bytes.Buffer
	a := newApp(nil, &bytes.Buffer{}, &errOut)
	if debug {
		a.debug = true
		a.log = slog.New(slog.NewTextHandler(&errOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	clock := time.Unix(1000, 0)
	r := newReporter(a)
	r.terminal = true
	r.now = func() time.Time { return clock }
	total := archive.Progress{Bytes: 100, Files: 1}
	r.Progress("fetching k", archive.Progress{}, total)
	clock = clock.Add(2 * time.Second)
	r.Progress("fetching k", archive.Progress{Bytes: 40}, total)
	if !strings.Contains(errOut.String(), "40%") {
		t.Fatalf("no progress line: %q", errOut.String())
	}
	return a, &errOut
}

// With -D, each retry is a debug line of its own, even during a
// progress line; without -D it says nothing.
func TestRetryDebugLine(t *testing.T) {
	t.Parallel()
	a, errOut := terminalApp(t, true)
	a.logRetry("https://cache.example/rezup")("open", "k/d.tar.zst", 2, 1500*time.Millisecond, errors.New("503 service unavailable"))
	out := errOut.String()
	last, erased := afterErase(out)
	if !erased || strings.Count(last, "\n") != 1 || !strings.HasPrefix(last, "time=") ||
		!strings.Contains(last, "shared cache https://cache.example/rezup: open k/d.tar.zst: try 2 failed, retrying in 1.5s: 503 service unavailable") {
		t.Fatalf("debug output: %q", out)
	}

	a, errOut = terminalApp(t, false)
	before := errOut.Len()
	a.logRetry("/cache")("stat", "k/entry.json", 1, time.Second, errors.New("x"))
	if errOut.Len() != before {
		t.Fatalf("a retry printed without -D: %q", errOut.String()[before:])
	}
}

// A permanent error of the cache, after a progress line, is one error
// line of its own.
func TestCacheErrorIsOneLine(t *testing.T) {
	t.Parallel()
	a, errOut := terminalApp(t, false)
	forbidden := backend.Permanent(errors.New("GET https://cache.example/rezup/k/d.tar.zst: 403 Forbidden"))
	a.printError(fmt.Errorf("materialize k from https://cache.example/rezup: open k: %w", forbidden))
	out := errOut.String()
	if n := strings.Count(out, "rezup: error:"); n != 1 || !strings.Contains(out, "\r\x1b[Krezup: error: materialize k from https://cache.example/rezup: open k: GET https://cache.example/rezup/k/d.tar.zst: 403 Forbidden\n") {
		t.Fatalf("stderr: %q", out)
	}
}

// afterErase is what out holds after the progress line was erased (a
// carriage return and the erase-line sequence), and whether it was.
func afterErase(out string) (string, bool) {
	const erase = "\r\x1b[K"
	i := strings.LastIndex(out, erase)
	if i < 0 {
		return out, false
	}
	return out[i+len(erase):], true
}
