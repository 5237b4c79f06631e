package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Defaults of RetryOptions.
const (
	DefaultAttempts  = 6
	DefaultRetryBase = 250 * time.Millisecond
	DefaultRetryMax  = 10 * time.Second
)

// stallAttempts is how many times one operation (or one stretch of a
// read) is tried when it stalls (ErrStalled): each stall has already
// cost an idle timeout, and a cache that stalled twice in a row is hung,
// not flaky, so the caller is better off building (see materialize).
const stallAttempts = 2

// RetryOptions configure Retry. The zero value is the defaults.
type RetryOptions struct {
	// Attempts is how many times an operation is tried, the first time
	// included (< 1: DefaultAttempts). A resumed read counts its tries
	// since the last byte it got.
	Attempts int
	// Base and Max bound the wait before a retry: before try n+1 it is a
	// random duration in [0, min(Max, Base·2^(n-1))) ("full jitter"), so
	// that the nodes of a farm that failed together do not come back
	// together. 0: DefaultRetryBase, DefaultRetryMax.
	Base, Max time.Duration
	// Sleep waits d, or until ctx is done (then it returns ctx.Err()).
	// nil: a timer. Tests record the waits here.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) that picks the wait. nil:
	// math/rand/v2.
	Rand func() float64
	// OnRetry, when set, is called before each wait: op is "stat",
	// "open", "read", "put", "list" or "delete", attempt the number of
	// the try that failed with err (1 is the first), wait how long until
	// the next one. A CLI prints it as a debug line.
	OnRetry func(op, name string, attempt int, wait time.Duration, err error)
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.Attempts < 1 {
		o.Attempts = DefaultAttempts
	}
	if o.Base <= 0 {
		o.Base = DefaultRetryBase
	}
	if o.Max <= 0 {
		o.Max = DefaultRetryMax
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Retrying is a Backend that tries again, after a backoff, the operations
// that fail with a transient error: any error that is not IsPermanent and
// not ErrExist (a reset connection, a 5xx or 429, a timeout, ErrStalled).
// A permanent error, or a done context, is returned at once.
//
// What a caller may rely on, beyond Backend's promises:
//
//   - A reader from Open is one uninterrupted stream: when a Read fails
//     with a transient error, it reopens the object at the first byte not
//     yet delivered and goes on. It does not check that the bytes after
//     the resume belong to the same object: the caller verifies what it
//     read against the digest it expects (Unpack does).
//   - List calls fn once per name, even when a listing is retried.
//   - Put may end in ErrExist when an earlier try stored the object but
//     its answer was lost; Delete then ends in success when a retry finds
//     the object gone.
type Retrying struct {
	Backend
	o RetryOptions
}

// Retry wraps b so that its operations are retried as o says.
func Retry(b Backend, o RetryOptions) *Retrying {
	return &Retrying{Backend: b, o: o.withDefaults()}
}

// Unwrap returns the backend Retrying wraps.
func (r *Retrying) Unwrap() Backend { return r.Backend }

// tries counts the failed tries of one operation, or of one stretch of a
// read.
type tries struct {
	n, stalls int
	last      error // the error of the last try that was retried
}

// again decides, after a try failed with err, whether to try once more;
// if so, it reports the retry and waits the backoff. When it gives up it
// returns the error to return: err, or the context's error when the
// context ended the wait. When the context ended a retry, err (its error,
// a deadline) names the error that made it a retry too: a cache that
// refuses connections is not mistaken for a slow one.
func (r *Retrying) again(ctx context.Context, t *tries, op, name string, err error) (bool, error) {
	t.n++
	if errors.Is(err, ErrStalled) {
		t.stalls++
	}
	switch {
	case ctx.Err() != nil && t.last != nil:
		return false, fmt.Errorf("%w (the try before: %v)", err, t.last)
	case ctx.Err() != nil, errors.Is(err, ErrExist), IsPermanent(err):
		return false, err
	case t.n >= r.o.Attempts, t.stalls >= stallAttempts:
		if t.n > 1 {
			return false, fmt.Errorf("%w (tried %d times)", err, t.n)
		}
		return false, err
	}
	t.last = err
	wait := r.backoff(t.n)
	if r.o.OnRetry != nil {
		r.o.OnRetry(op, name, t.n, wait, err)
	}
	if serr := r.o.Sleep(ctx, wait); serr != nil {
		return false, fmt.Errorf("%s %s: gave up waiting to retry: %w (the last try: %v)", op, name, serr, err)
	}
	return true, nil
}

// backoff is the wait after the n-th failed try.
func (r *Retrying) backoff(n int) time.Duration {
	ceil := r.o.Base
	for i := 1; i < n && ceil < r.o.Max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, r.o.Max)
	return time.Duration(r.o.Rand() * float64(ceil))
}

// do runs call until it succeeds, fails for good, or was tried Attempts
// times. call gets the try's number (1 is the first); final makes its
// error the result at once.
func (r *Retrying) do(ctx context.Context, op, name string, call func(try int) (err error, final bool)) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, name, err)
	}
	var t tries
	for {
		err, final := call(t.n + 1)
		if err == nil || final {
			return err
		}
		if ok, err := r.again(ctx, &t, op, name, err); !ok {
			return err
		}
	}
}

// Stat is the wrapped Stat, retried. A missing object is not retried.
func (r *Retrying) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	var fi ObjectInfo
	err := r.do(ctx, "stat", name, func(int) (err error, _ bool) {
		fi, err = r.Backend.Stat(ctx, name)
		return err, false
	})
	return fi, err
}

// Put is the wrapped Put, retried; the backend's Put rewinds src on each
// try.
func (r *Retrying) Put(ctx context.Context, name string, src Source) error {
	return r.do(ctx, "put", name, func(int) (error, bool) {
		return r.Backend.Put(ctx, name, src), false
	})
}

// Delete is the wrapped Delete, retried. A retry that finds the object
// gone succeeds: the try before it deleted the object but lost the
// answer.
func (r *Retrying) Delete(ctx context.Context, name string) error {
	return r.do(ctx, "delete", name, func(try int) (error, bool) {
		err := r.Backend.Delete(ctx, name)
		if try > 1 && IsNotExist(err) {
			return nil, true
		}
		return err, false
	})
}

// List is the wrapped List, retried from the start after a transient
// error; fn is not called again for a name it has seen. An error from fn
// ends the listing without a retry.
func (r *Retrying) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	seen := map[string]bool{}
	return r.do(ctx, "list", prefix, func(int) (error, bool) {
		var fnErr error
		err := r.Backend.List(ctx, prefix, func(oi ObjectInfo) error {
			if seen[oi.Name] {
				return nil
			}
			seen[oi.Name] = true
			fnErr = fn(oi)
			return fnErr
		})
		return err, fnErr != nil
	})
}

// Open is the wrapped Open, retried, and returns a reader that resumes
// after a transient error (see Retrying) and keeps to the range asked
// for: a resumed read asks for what is left of it, never beyond its end.
func (r *Retrying) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	length, err := CheckRange(offset, length)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	var rc io.ReadCloser
	err = r.do(ctx, "open", name, func(int) (err error, _ bool) {
		rc, err = r.Backend.Open(ctx, name, offset, length)
		return err, false
	})
	if err != nil {
		return nil, err
	}
	end := int64(-1)
	if length >= 0 {
		end = offset + length
	}
	return &resumingReader{r: r, ctx: ctx, name: name, off: offset, end: end, rc: rc}, nil
}

// resumingReader reads an object through as many opens as it takes. Its
// transfer slot (Limited, below it) is held by rc: it is given back while
// the reader waits to resume.
type resumingReader struct {
	r    *Retrying
	ctx  context.Context
	name string
	off  int64 // the offset of the next byte to deliver
	end  int64 // the end of the range asked for (exclusive), or -1: the object's end
	rc   io.ReadCloser
	t    tries // since the last byte delivered
	err  error // sticky: the error the reader gave up with
}

// left is the length to ask for when resuming: what is left of the
// range, or -1 for the rest of the object.
func (rr *resumingReader) left() int64 {
	if rr.end < 0 {
		return -1
	}
	return max(rr.end-rr.off, 0)
}

func (rr *resumingReader) Read(p []byte) (int, error) {
	if rr.err != nil {
		return 0, rr.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if rr.end >= 0 && rr.off >= rr.end {
		return 0, io.EOF // the range is read: nothing to resume
	}
	if rr.end >= 0 && int64(len(p)) > rr.end-rr.off {
		p = p[:rr.end-rr.off] // never a byte past the range, whatever rc holds
	}
	for {
		if rr.rc == nil {
			rc, err := rr.r.Backend.Open(rr.ctx, rr.name, rr.off, rr.left())
			if err != nil {
				if ok, err := rr.r.again(rr.ctx, &rr.t, "open", rr.name, err); !ok {
					rr.err = fmt.Errorf("resume %s at byte %d: %w", rr.name, rr.off, err)
					return 0, rr.err
				}
				continue
			}
			rr.rc = rc
		}
		n, err := rr.rc.Read(p)
		rr.off += int64(n)
		if n > 0 {
			rr.t = tries{} // bytes flow again: a new stretch
		}
		if err == nil || err == io.EOF {
			return n, err
		}
		rr.rc.Close() // the transfer failed: nothing of it to keep
		rr.rc = nil
		if n > 0 && !IsPermanent(err) {
			return n, nil // the next Read resumes
		}
		if ok, err := rr.r.again(rr.ctx, &rr.t, "read", rr.name, err); !ok {
			rr.err = err
			return n, err
		}
	}
}

// Close closes the current transfer, if any.
func (rr *resumingReader) Close() error {
	if rr.err == nil {
		rr.err = fmt.Errorf("read %s: %w", rr.name, errReaderClosed)
	}
	if rr.rc == nil {
		return nil
	}
	rc := rr.rc
	rr.rc = nil
	return rc.Close()
}

var errReaderClosed = errors.New("reader closed")
