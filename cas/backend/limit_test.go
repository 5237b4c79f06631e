package backend

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// A transfer holds its slot until its reader is closed; a transfer that
// cannot get one gives up when its context ends.
func TestLimitTransfers(t *testing.T) {
	ctx := context.Background()
	l := LimitTransfers(NewDirBackend(t.TempDir(), DirOptions{}), 1)
	if err := l.Put(ctx, "a", BytesSource([]byte("a"))); err != nil {
		t.Fatal(err)
	}
	rc, err := l.Open(ctx, "a", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	busy, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Open(busy, "a", 0, -1); !errors.Is(err, context.Canceled) {
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
	rc, err = l.Open(ctx, "a", 0, -1)
	if err != nil {
		t.Fatalf("open after the slot was freed: %v", err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "a" {
		t.Fatalf("read %q", b)
	}
	if _, err := l.Open(busy, "a", 0, -1); !errors.Is(err, context.Canceled) {
		t.Fatal("a double close freed a second slot")
	}
	// A failed open frees its slot.
	rc.Close()
	if _, err := l.Open(ctx, "missing", 0, -1); !IsNotExist(err) {
		t.Fatalf("open missing: %v", err)
	}
	if rc, err := l.Open(ctx, "a", 0, -1); err != nil {
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

// A call marked Unlimited passes while every slot is taken, and takes
// none: closing its reader frees no one else's slot.
func TestLimitTransfersUnlimited(t *testing.T) {
	ctx := context.Background()
	l := LimitTransfers(NewDirBackend(t.TempDir(), DirOptions{}), 1)
	putBytes(t, l, "a", []byte("a"))
	held, err := l.Open(ctx, "a", 0, -1) // the one slot, as a long download
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	busy, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Put(busy, "b", BytesSource([]byte("b"))); !errors.Is(err, context.Canceled) {
		t.Fatalf("put with every slot taken: %v, want to wait", err)
	}

	free := Unlimited(ctx)
	if err := l.Put(free, "lease", BytesSource([]byte("small"))); err != nil {
		t.Fatalf("unlimited put with every slot taken: %v", err)
	}
	rc, err := l.Open(free, "lease", 0, -1)
	if err != nil {
		t.Fatalf("unlimited open with every slot taken: %v", err)
	}
	if b, _ := io.ReadAll(rc); string(b) != "small" {
		t.Fatalf("read %q", b)
	}
	rc.Close()
	if _, err := l.Open(busy, "a", 0, -1); !errors.Is(err, context.Canceled) {
		t.Fatal("closing an unlimited reader freed the held slot")
	}
	held.Close()
	if rc, err := l.Open(ctx, "a", 0, -1); err != nil {
		t.Fatalf("open after the held slot was freed: %v", err)
	} else {
		rc.Close()
	}
}

// Through the whole Stack, an unlimited call skips only the slot: it is
// still retried, and its reads still bounded by the idle timeout.
func TestStackUnlimited(t *testing.T) {
	ctx := context.Background()
	f := newFault(t)
	putBytes(t, f.Backend, "k/big", []byte("archive"))
	var log retryLog
	b := Stack(f, StackOptions{Transfers: 1, Retry: log.options(0)})
	held, err := b.Open(ctx, "k/big", 0, -1) // the one slot
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	f.failFirst = f.count("put") + 1
	if err := b.Put(Unlimited(ctx), "k/lease.1", BytesSource([]byte("lease"))); err != nil {
		t.Fatalf("unlimited put through the stack: %v", err)
	}
	if len(log.retries) != 1 || log.retries[0] != "put k/lease.1 1" {
		t.Fatalf("retries %q, want the failed put tried again", log.retries)
	}
	l, _ := AsBackend[*Limited](b)
	if _, ok := AsBackend[*Idle](l.Unwrap()); !ok {
		t.Fatal("no Idle under Limited")
	}

	sb := Stack(newStall(time.Hour), StackOptions{Transfers: 1, IdleTimeout: 20 * time.Millisecond, Retry: RetryOptions{Attempts: 1}})
	rc, err := sb.Open(Unlimited(ctx), "stall", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrStalled) {
		t.Fatalf("unlimited read of a hung cache: %v, want ErrStalled", err)
	}
}
