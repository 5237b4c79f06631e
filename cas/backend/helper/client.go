package helper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rezup/rezup/cas/backend"
)

// DefaultStartTimeout bounds starting a helper and its handshake.
const DefaultStartTimeout = 20 * time.Second

const (
	// cancelGrace is how long a cancelled Put or Delete waits for the
	// helper to say how it ended, so that the object is created (or
	// deleted) or not by the time the call returns, as with a backend in
	// the process.
	cancelGrace = 5 * time.Second
	// writeTimeout is how long a frame may wait to be written: a helper
	// that reads nothing for that long is hung, and is killed.
	writeTimeout = 60 * time.Second
)

// Options say how a Client runs its helper.
type Options struct {
	// Command returns the helper's command, not started: its path, its
	// arguments (which name the location), its environment. The client
	// sets Stdin, Stdout and Stderr. It is called on the first operation,
	// and again after a helper died; an error (no helper installed) fails
	// every operation of the client with it, as a permanent error.
	Command func() (*exec.Cmd, error)
	// Version is the version the helper must announce: the caller's own,
	// since the two are released together.
	Version string
	// StartTimeout bounds starting the helper and its handshake (<= 0:
	// DefaultStartTimeout).
	StartTimeout time.Duration
}

// Client is a backend.Backend served by a helper process. It starts
// nothing until its first operation; Close ends the helper. It is safe
// for concurrent use.
type Client struct {
	location string
	version  string
	timeout  time.Duration
	dial     func(context.Context) (transport, error)

	closing chan struct{} // closed by Close

	mu       sync.Mutex
	sess     *session
	starting chan struct{} // closed when the start in progress ends
	failed   error         // sticky: the helper cannot be started or refused the location
	closed   bool
}

var _ backend.Backend = (*Client)(nil)

// New returns the client of the backend at location, served by the
// helper o.Command starts.
func New(location string, o Options) *Client {
	return newClient(location, o.Version, o.StartTimeout, func(ctx context.Context) (transport, error) {
		if o.Command == nil {
			return nil, errors.New("no helper command")
		}
		cmd, err := o.Command()
		if err != nil {
			return nil, err
		}
		return startProcess(cmd)
	})
}

func newClient(location, version string, timeout time.Duration, dial func(context.Context) (transport, error)) *Client {
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	return &Client{location: location, version: version, timeout: timeout, dial: dial, closing: make(chan struct{})}
}

// String is the location.
func (c *Client) String() string { return c.location }

// errClosed is what operations of a closed client fail with.
var errClosed = backend.Permanent(errors.New("the cache helper was closed"))

// Close ends the helper, if one runs: its input ends, and it exits within
// a few seconds or is killed. Operations still running fail, and later
// ones fail at once. Close waits for a start in progress to end.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closing)
	s, starting := c.sess, c.starting
	c.sess = nil
	c.mu.Unlock()
	if starting != nil {
		<-starting // the start sees closing, and ends what it started
	}
	if s == nil {
		return nil
	}
	return s.close()
}

// session returns the running session, starting the helper if there is
// none (or the last one died).
func (c *Client) session(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return nil, errClosed
		case c.failed != nil:
			c.mu.Unlock()
			return nil, c.failed
		case c.sess != nil && c.sess.alive():
			s := c.sess
			c.mu.Unlock()
			return s, nil
		case c.starting != nil:
			ch := c.starting
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.starting = ch
		c.mu.Unlock()

		s, err := c.start(ctx)

		c.mu.Lock()
		c.starting = nil
		close(ch)
		switch {
		case c.closed:
			if s != nil {
				s.close() // closed while starting: the helper goes at once
			}
			s, err = nil, errClosed
		case err == nil:
			c.sess = s
		case ctx.Err() != nil:
			// The caller gave up: the next caller starts again.
			err = ctx.Err()
		default:
			c.failed = err
		}
		c.mu.Unlock()
		return s, err
	}
}

// start starts a helper and runs the handshake, within the start timeout.
// Its errors are permanent: a helper that is missing, of another release
// or that cannot open the location will not do better on a second try.
func (c *Client) start(ctx context.Context) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	t, err := c.dial(ctx)
	if err != nil {
		return nil, backend.Permanent(fmt.Errorf("start the cache helper for %s: %w", c.location, err))
	}
	s := newSession(t)
	hello, err := s.handshake(ctx, c.version)
	if err != nil {
		s.close()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no handshake within %v", c.timeout)
		}
		return nil, backend.Permanent(fmt.Errorf("start %s for %s: %w", t.name(), c.location, err))
	}
	switch {
	case hello.Helper != helperMagic:
		err = fmt.Errorf("%s is not rezup-net (it calls itself %q)", t.name(), hello.Helper)
	case hello.Protocol != Protocol || hello.Version != c.version:
		err = fmt.Errorf("%s is version %s (protocol %d), not %s (protocol %d): install rezup-net from the same release as rezup, beside it",
			t.name(), hello.Version, hello.Protocol, c.version, Protocol)
	case hello.Error != nil:
		// The helper could not open the location (a bad URL, bad AWS
		// settings): every operation fails with that, as it did when
		// the backend was opened in the process.
		err = hello.Error.err()
		if !backend.IsPermanent(err) {
			err = backend.Permanent(err)
		}
		s.close()
		return nil, err
	}
	if err != nil {
		s.close()
		return nil, backend.Permanent(err)
	}
	go s.readLoop()
	return s, nil
}

// where names an object of the cache in messages.
func (c *Client) where(name string) string {
	return strings.TrimSuffix(c.location, "/") + "/" + name
}

// begin starts a request on the running session. Its error is the
// operation's: a helper that cannot start says so in its own words, the
// rest is prefixed with the operation.
func (c *Client) begin(ctx context.Context, req requestMsg) (*call, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Op, c.where(req.Name), err)
	}
	s, err := c.session(ctx)
	if err == nil {
		var cl *call
		if cl, err = s.begin(req); err == nil {
			return cl, nil
		}
	}
	if c.sticky(err) {
		return nil, err
	}
	return nil, fmt.Errorf("%s %s: %w", req.Op, c.where(req.Name), err)
}

// sticky reports whether err is the client's own failure to start, which
// every operation returns as it is.
func (c *Client) sticky(err error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failed != nil && err == c.failed
}

// Stat asks the helper.
func (c *Client) Stat(ctx context.Context, name string) (backend.ObjectInfo, error) {
	cl, err := c.begin(ctx, requestMsg{Op: "stat", Name: name})
	if err != nil {
		return backend.ObjectInfo{}, err
	}
	end, err := cl.wait(ctx, false)
	switch {
	case err != nil:
		return backend.ObjectInfo{}, fmt.Errorf("stat %s: %w", c.where(name), err)
	case end.Error != nil:
		return backend.ObjectInfo{}, end.Error.err()
	case end.Info == nil:
		return backend.ObjectInfo{}, fmt.Errorf("stat %s: the helper sent no answer", c.where(name))
	}
	return *end.Info, nil
}

// Delete asks the helper, and waits for its answer even when ctx ends (a
// few seconds at most), so that the object is gone or not when it
// returns.
func (c *Client) Delete(ctx context.Context, name string) error {
	cl, err := c.begin(ctx, requestMsg{Op: "delete", Name: name})
	if err != nil {
		return err
	}
	end, err := cl.wait(ctx, true)
	if err != nil {
		return fmt.Errorf("delete %s: %w", c.where(name), err)
	}
	return end.Error.err()
}

// Put sends the path of a *backend.FileSource, which the helper opens
// itself (same user, same machine), or the bytes of any other source,
// read here and checked against its Length. Like Delete, it waits for
// the helper's answer even when ctx ends.
func (c *Client) Put(ctx context.Context, name string, src backend.Source) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", c.where(name), err)
	}
	req := requestMsg{Op: "put", Name: name, Size: src.Length()}
	var data []byte
	if f, ok := src.(*backend.FileSource); ok {
		path, err := filepath.Abs(f.Name())
		if err != nil {
			return fmt.Errorf("put %s: %w", c.where(name), err)
		}
		req.Path = path
	} else {
		var err error
		if data, err = readSource(src); err != nil {
			return fmt.Errorf("put %s: %w", c.where(name), err)
		}
	}
	cl, err := c.begin(ctx, req)
	if err != nil {
		return err
	}
	for len(data) > 0 && ctx.Err() == nil {
		n := min(len(data), chunkSize)
		if err := cl.s.send(frameData, cl.id, data[:n]); err != nil {
			break // the session is over: wait reports it
		}
		data = data[n:]
	}
	end, err := cl.wait(ctx, true)
	if err != nil {
		return fmt.Errorf("put %s: %w", c.where(name), err)
	}
	return end.Error.err()
}

// lengthError is a Source yielding other than its Length bytes.
type lengthError struct{ want int64 }

func (e *lengthError) Error() string {
	return fmt.Sprintf("the source does not hold the %d bytes its length says", e.want)
}

// readSource reads all of a source that is not a file: exactly its Length
// bytes, or a permanent error.
func readSource(src backend.Source) ([]byte, error) {
	n := src.Length()
	if n < 0 || n > MaxInline {
		return nil, backend.Permanent(fmt.Errorf("a source of %d bytes that is not a file is more than the cache helper takes (%d)", n, MaxInline))
	}
	if err := src.Rewind(); err != nil {
		return nil, fmt.Errorf("rewind the source: %w", err)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(src, data); err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, backend.Permanent(&lengthError{n})
	} else if err != nil {
		return nil, fmt.Errorf("read the source: %w", err)
	}
	var one [1]byte
	if k, _ := io.ReadFull(src, one[:]); k > 0 {
		return nil, backend.Permanent(&lengthError{n})
	}
	return data, nil
}

// Open asks the helper for length bytes of the object from offset on
// (length < 0: all of them) and returns its body as the helper streams
// it, never more than length bytes of it.
func (c *Client) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	req := requestMsg{Op: "open", Name: name, Offset: offset}
	if length >= 0 {
		req.Length = &length
	}
	cl, err := c.begin(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := cl.waitOpened(ctx); err != nil {
		if _, remote := errors.AsType[*remoteError](err); remote {
			return nil, err
		}
		return nil, fmt.Errorf("open %s: %w", c.where(name), err)
	}
	return backend.LimitBody(&reader{cl: cl, ctx: ctx, what: c.where(name)}, length), nil
}

// List streams the helper's listing and calls fn for each object, on the
// calling goroutine.
func (c *Client) List(ctx context.Context, prefix string, fn func(backend.ObjectInfo) error) error {
	cl, err := c.begin(ctx, requestMsg{Op: "list", Name: prefix})
	if err != nil {
		return err
	}
	defer cl.abandon()
	for {
		chunk, err := cl.next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if _, remote := errors.AsType[*remoteError](err); remote {
				return err
			}
			return fmt.Errorf("list %s: %w", c.where(prefix), err)
		}
		var items []backend.ObjectInfo
		if err := json.Unmarshal(chunk, &items); err != nil {
			return fmt.Errorf("list %s: the helper sent a bad listing: %w", c.where(prefix), err)
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return fmt.Errorf("list %s: %w", c.where(prefix), err)
			}
		}
		cl.consumed(len(chunk))
	}
}

// reader is an Open body. Read and Close may run at once (backend.Idle
// closes a reader whose Read it gave up on).
type reader struct {
	cl   *call
	ctx  context.Context
	what string
	cur  []byte
	err  error
}

func (r *reader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		chunk, err := r.cl.next(r.ctx)
		if err != nil {
			if _, remote := errors.AsType[*remoteError](err); !remote && err != io.EOF {
				err = fmt.Errorf("read %s: %w", r.what, err)
			}
			r.err = err
			if err != io.EOF {
				r.cl.abandon()
			}
			return 0, err
		}
		r.cur = chunk
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.cl.consumed(n)
	return n, nil
}

// Close abandons the rest of the body: the helper stops sending it.
func (r *reader) Close() error {
	r.cl.abandon()
	return nil
}
