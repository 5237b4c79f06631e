package backend

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// DefaultTransfers is how many transfers (Put, and Open until its reader
// is closed) Open lets run at once against one cache location: enough to
// keep a network filesystem busy, few enough not to swamp a file server
// when every process of a farm node fetches at once.
const DefaultTransfers = 4

// Limited is a Backend that lets at most a fixed number of transfers run
// at once. Stat, List and Delete are cheap and pass straight through, and
// so do the calls whose context is marked with Unlimited.
type Limited struct {
	Backend
	tokens chan struct{}
}

// LimitTransfers wraps b so that at most n transfers run at once (n < 1
// means 1).
func LimitTransfers(b Backend, n int) *Limited {
	return &Limited{Backend: b, tokens: make(chan struct{}, max(n, 1))}
}

// Unwrap returns the backend Limited wraps.
func (l *Limited) Unwrap() Backend { return l.Backend }

// unlimitedKey marks a context with Unlimited.
type unlimitedKey struct{}

// Unlimited returns a context whose Put and Open calls Limited lets
// through without a transfer slot; every other wrapper treats them as
// usual (Retrying retries them, Idle bounds their reads).
//
// It is for small objects whose latency is part of a protocol, never for
// bulk data: the cache's build lease marks its lease objects with it, as
// restic's semaphore lets lock files pass. A lease refresh must not wait
// behind uploads that can take longer than the lease lives. Limited knows
// only names, and which names are a lease is the cache's layout, not the
// backend's: so the caller, which knows, says so on the call.
func Unlimited(ctx context.Context) context.Context {
	return context.WithValue(ctx, unlimitedKey{}, true)
}

func isUnlimited(ctx context.Context) bool {
	v, _ := ctx.Value(unlimitedKey{}).(bool)
	return v
}

func (l *Limited) acquire(ctx context.Context) error {
	select {
	case l.tokens <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Limited) release() { <-l.tokens }

// Put waits for a free transfer slot, then stores src.
func (l *Limited) Put(ctx context.Context, name string, src Source) error {
	if isUnlimited(ctx) {
		return l.Backend.Put(ctx, name, src)
	}
	if err := l.acquire(ctx); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	defer l.release()
	return l.Backend.Put(ctx, name, src)
}

// Open waits for a free transfer slot and holds it until the reader is
// closed.
func (l *Limited) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if isUnlimited(ctx) {
		return l.Backend.Open(ctx, name, offset, length)
	}
	if err := l.acquire(ctx); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	rc, err := l.Backend.Open(ctx, name, offset, length)
	if err != nil {
		l.release()
		return nil, err
	}
	return &limitedReader{ReadCloser: rc, release: l.release}, nil
}

type limitedReader struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (r *limitedReader) Close() error {
	err := r.ReadCloser.Close()
	r.once.Do(r.release)
	return err
}

// Unwrapper is a Backend that wraps another one.
type Unwrapper interface {
	Unwrap() Backend
}

// AsBackend finds a backend of type B in the chain of wrappers starting at
// b (b itself first). Use it for what only one backend can tell, never to
// detect behaviour: a wrapper must add its concern, not hide others.
func AsBackend[B Backend](b Backend) (B, bool) {
	for b != nil {
		if be, ok := b.(B); ok {
			return be, true
		}
		u, ok := b.(Unwrapper)
		if !ok {
			break
		}
		b = u.Unwrap()
	}
	var zero B
	return zero, false
}
