package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultIdleTimeout is how long Open lets a read of the cache go without
// a single byte before it gives up: far longer than any healthy file
// server pauses, and short enough that a node whose cache hangs (a dead
// NFS server, a planted file that never ends) gives its exclusive lock
// back within minutes (Retry tries a stalled call twice at most, so a
// hung cache costs two timeouts and a backoff).
const DefaultIdleTimeout = 60 * time.Second

// ErrStalled means a read of the cache went longer than its idle timeout
// without a byte (see IdleTimeout). It is transient (not IsPermanent):
// Retry resumes a stalled read, and tries a stalled Stat or Open once
// more, no further, since a cache that stalls twice in a row is hung.
var ErrStalled = errors.New("the shared cache stopped sending data")

// Idle is a Backend whose reads give up when no byte arrives for a while,
// or as soon as their context is done, even when the call underneath
// stays blocked (a hung network filesystem): the caller gets its error
// and goes on, and the blocked call is left to finish, or not, on a
// goroutine of its own, its result discarded and its reader closed.
//
// Open, the reads of what it returns, and Stat are bounded; Put, List and
// Delete pass straight through.
type Idle struct {
	Backend
	timeout time.Duration
}

// IdleTimeout wraps b so that its reads fail with ErrStalled after d
// without a byte (d <= 0 means DefaultIdleTimeout).
func IdleTimeout(b Backend, d time.Duration) *Idle {
	if d <= 0 {
		d = DefaultIdleTimeout
	}
	return &Idle{Backend: b, timeout: d}
}

// Unwrap returns the backend Idle wraps.
func (b *Idle) Unwrap() Backend { return b.Backend }

// bounded runs call on a goroutine and waits for it for at most the idle
// timeout, or until ctx is done. When it gives up, discard receives the
// result whenever call returns.
func bounded[T any](ctx context.Context, d time.Duration, what string, call func() (T, error), discard func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call()
		done <- result{v, err}
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	var zero T
	var err error
	select {
	case r := <-done:
		return r.v, r.err
	case <-timer.C:
		err = fmt.Errorf("%s: no answer for %v: %w", what, d, ErrStalled)
	case <-ctx.Done():
		err = fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
	go func() {
		if r := <-done; r.err == nil && discard != nil {
			discard(r.v)
		}
	}()
	return zero, err
}

// Stat is the wrapped Stat, bounded.
func (b *Idle) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	return bounded(ctx, b.timeout, "stat "+name, func() (ObjectInfo, error) {
		return b.Backend.Stat(ctx, name)
	}, nil)
}

// Open is the wrapped Open, bounded, and so is each Read of the reader it
// returns: ctx is the reader's too, and once it is done every Read fails.
func (b *Idle) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := bounded(ctx, b.timeout, "open "+name, func() (io.ReadCloser, error) {
		return b.Backend.Open(ctx, name, offset, length)
	}, func(rc io.ReadCloser) {
		rc.Close() // opened too late for anyone to read: nothing to lose
	})
	if err != nil {
		return nil, err
	}
	return &idleReader{ctx: ctx, rc: rc, name: name, timeout: b.timeout}, nil
}

// idleReader reads rc on a goroutine per Read, into a buffer of its own:
// a Read it gave up on may still write into that buffer later, never into
// the caller's. After an error it gave up with, every Read fails the same
// way, and Close does not wait for the abandoned Read.
type idleReader struct {
	ctx     context.Context
	rc      io.ReadCloser
	name    string
	timeout time.Duration

	buf       []byte
	err       error // sticky: the Read that failed, given up or not
	abandoned bool  // a Read was given up on and may still be blocked
	once      sync.Once
	cerr      error
}

type readResult struct {
	n   int
	err error
}

func (r *idleReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.ctx.Err() != nil {
		r.err = fmt.Errorf("read %s: %w", r.name, context.Cause(r.ctx))
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if cap(r.buf) < len(p) {
		r.buf = make([]byte, len(p))
	}
	buf := r.buf[:len(p)]
	done := make(chan readResult, 1)
	go func() {
		n, err := r.rc.Read(buf)
		done <- readResult{n, err}
	}()
	timer := time.NewTimer(r.timeout)
	defer timer.Stop()
	select {
	case res := <-done:
		copy(p, buf[:res.n])
		if res.err != nil {
			r.err = res.err
		}
		return res.n, res.err
	case <-timer.C:
		r.err = fmt.Errorf("read %s: no data for %v: %w", r.name, r.timeout, ErrStalled)
	case <-r.ctx.Done():
		r.err = fmt.Errorf("read %s: %w", r.name, context.Cause(r.ctx))
	}
	// The buffer belongs to the abandoned Read now; closing rc is what
	// unblocks it where the system can (a pipe, a socket).
	r.buf, r.abandoned = nil, true
	go r.closeOnce()
	return 0, r.err
}

// Close closes the underlying reader once. After a Read was given up on,
// it returns at once: the close may wait on that Read, and nothing read
// is kept anyway.
func (r *idleReader) Close() error {
	if r.abandoned {
		go r.closeOnce()
		return nil
	}
	return r.closeOnce()
}

func (r *idleReader) closeOnce() error {
	r.once.Do(func() { r.cerr = r.rc.Close() })
	return r.cerr
}

// ContextReader returns a reader of r that stops as soon as ctx is done:
// a long copy or unpack ends at the next read after a cancel. (A read that
// blocks is bounded by IdleTimeout, not by this.)
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
