package backend

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// stallBackend serves objects from a map; the reader of "stall" yields
// its first bytes, then blocks until it is closed, as a read of a hung
// file server or of a FIFO nobody writes would; "slow" yields one byte
// per tick.
type stallBackend struct {
	Backend
	tick    time.Duration
	started chan struct{} // closed when a stalled read begins
	once    sync.Once
}

func (b *stallBackend) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	switch name {
	case "stall":
		return &blockingReader{head: []byte("head"), closed: make(chan struct{}), started: b.signal}, nil
	case "slow":
		return &slowReader{left: 5, tick: b.tick}, nil
	}
	return b.Backend.Open(ctx, name, offset, length)
}

func (b *stallBackend) signal() { b.once.Do(func() { close(b.started) }) }

type blockingReader struct {
	head    []byte
	closed  chan struct{}
	once    sync.Once
	started func()
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.head) > 0 {
		n := copy(p, r.head)
		r.head = r.head[n:]
		return n, nil
	}
	r.started()
	<-r.closed
	return 0, errors.New("read on a closed file")
}

func (r *blockingReader) Close() error {
	r.once.Do(func() { close(r.closed) })
	return nil
}

type slowReader struct {
	left int
	tick time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.tick) // the slowness under test, not a wait for a state
	r.left--
	p[0] = 'x'
	return 1, nil
}

func (r *slowReader) Close() error { return nil }

func newStall(tick time.Duration) *stallBackend {
	return &stallBackend{Backend: NewDirBackend("/nonexistent", DirOptions{}), tick: tick, started: make(chan struct{})}
}

// A read that gets no byte for the idle timeout fails with ErrStalled,
// and so does every read after it; Close does not wait for the read it
// gave up on.
func TestIdleTimeoutStalledRead(t *testing.T) {
	b := IdleTimeout(newStall(0), 50*time.Millisecond)
	rc, err := b.Open(context.Background(), "stall", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, err := io.ReadAll(rc)
	if !errors.Is(err, ErrStalled) || string(got) != "head" {
		t.Fatalf("read %q, %v; want the head, then ErrStalled", got, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the stalled read took %v", d)
	}
	if !strings.Contains(err.Error(), "stall") {
		t.Errorf("the error does not name the object: %v", err)
	}
	if _, err := rc.Read(make([]byte, 8)); !errors.Is(err, ErrStalled) {
		t.Errorf("a read after the stall: %v", err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// A slow reader that keeps sending is never cut off, however long the
// whole read takes.
func TestIdleTimeoutSlowButSteady(t *testing.T) {
	b := IdleTimeout(newStall(20*time.Millisecond), 60*time.Millisecond)
	rc, err := b.Open(context.Background(), "slow", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || string(got) != "xxxxx" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// A done context ends a blocked read at once, whatever the timeout.
func TestIdleTimeoutHonoursContext(t *testing.T) {
	sb := newStall(0)
	b := IdleTimeout(sb, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rc, err := b.Open(ctx, "stall", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rc)
		errc <- err
	}()
	<-sb.started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
}

// An Open that hangs is bounded too; what it opens later is closed.
func TestIdleTimeoutStalledOpen(t *testing.T) {
	release := make(chan struct{})
	closed := make(chan struct{})
	b := IdleTimeout(hangingOpen{release: release, closed: closed}, 30*time.Millisecond)
	if _, err := b.Open(context.Background(), "x", 0, -1); !errors.Is(err, ErrStalled) {
		t.Fatalf("hung open: %v, want ErrStalled", err)
	}
	close(release)
	<-closed // the late reader is closed by the wrapper, or this test hangs
}

type hangingOpen struct {
	Backend
	release, closed chan struct{}
}

func (h hangingOpen) Open(context.Context, string, int64, int64) (io.ReadCloser, error) {
	<-h.release
	return closeSignal{h.closed}, nil
}

type closeSignal struct{ c chan struct{} }

func (closeSignal) Read([]byte) (int, error) { return 0, io.EOF }
func (c closeSignal) Close() error           { close(c.c); return nil }
