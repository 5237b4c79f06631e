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
// at once. Stat, List and Delete are cheap and pass straight through.
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
	if err := l.acquire(ctx); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	defer l.release()
	return l.Backend.Put(ctx, name, src)
}

// Open waits for a free transfer slot and holds it until the reader is
// closed.
func (l *Limited) Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error) {
	if err := l.acquire(ctx); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	rc, err := l.Backend.Open(ctx, name, offset)
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
