package backend

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// A transfer holds its slot until its reader is closed; a transfer that
// cannot get one gives up when its context ends.
func TestLimitTransfers(t *testing.T) {
	ctx := context.Background()
	l := LimitTransfers(NewDirBackend(t.TempDir(), DirOptions{}), 1)
	if err := l.Put(ctx, "a", BytesSource([]byte("a"))); err != nil {
		t.Fatal(err)
	}
	rc, err := l.Open(ctx, "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	busy, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Open(busy, "a", 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("open with every slot taken: %v, want to wait until cancelled", err)
	}
	if err := l.Put(busy, "b", BytesSource([]byte("b"))); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with every slot taken: %v, want to wait until cancelled", err)
	}
	// Cheap calls pass straight through.
	if _, err := l.Stat(busy, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("stat: %v", err)
	}
	rc.Close()
	rc.Close() // a second close must not free a second slot
	rc, err = l.Open(ctx, "a", 0)
	if err != nil {
		t.Fatalf("open after the slot was freed: %v", err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "a" {
		t.Fatalf("read %q", b)
	}
	if _, err := l.Open(busy, "a", 0); !errors.Is(err, context.Canceled) {
		t.Fatal("a double close freed a second slot")
	}
	// A failed open frees its slot.
	rc.Close()
	if _, err := l.Open(ctx, "missing", 0); !IsNotExist(err) {
		t.Fatalf("open missing: %v", err)
	}
	if rc, err := l.Open(ctx, "a", 0); err != nil {
		t.Fatalf("open after a failed open: %v", err)
	} else {
		rc.Close()
	}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		err                 error
		notExist, permanent bool
	}{
		{nil, false, false},
		{errors.New("connection reset"), false, false},
		{ErrExist, false, false},
		{Permanent(errors.New("disk full")), false, true},
		{ErrInvalidName, false, true},
		{context.Canceled, false, true},
	}
	for _, tt := range tests {
		if IsNotExist(tt.err) != tt.notExist || IsPermanent(tt.err) != tt.permanent {
			t.Errorf("%v: not-exist %v permanent %v, want %v %v", tt.err, IsNotExist(tt.err), IsPermanent(tt.err), tt.notExist, tt.permanent)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	var got string
	r.Register("mem", func(loc string) (Backend, error) { got = loc; return NewDirBackend("/x", DirOptions{}), nil })
	if _, err := r.Open("mem://bucket/path"); err != nil || got != "mem://bucket/path" {
		t.Fatalf("open = %v; the opener got %q, want the whole location", err, got)
	}
	if _, err := r.Open("/some/path"); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("a registry without file opened a path: %v", err)
	}
	defer func() {
		if p := recover(); p == nil || !strings.Contains(p.(string), "duplicate") {
			t.Fatalf("second registration: %v, want a panic", p)
		}
	}()
	r.Register("mem", nil)
}
