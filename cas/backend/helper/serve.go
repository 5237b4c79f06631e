package helper

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rezup/rezup/cas/backend"
)

// shutdownWait is how long Serve waits, after its input ended, for the
// requests it cancelled to end.
const shutdownWait = 5 * time.Second

// ServeOptions say what Serve serves.
type ServeOptions struct {
	// Version is the helper's own version, which the client checks in the
	// handshake.
	Version string
	// Open opens the backend, once the client's handshake has been read.
	// Its error goes to the client with the handshake, and every
	// operation of the client fails with it.
	Open func() (backend.Backend, error)
}

// Serve answers the client at the other end of in (what the client
// writes) and out (what it reads) with the backend o.Open opens: each
// request on a goroutine of its own, with a context that a cancel from
// the client, or the end of in, ends. It returns when in ends (nil) or ctx
// is done, after cancelling the requests in flight and waiting a few
// seconds for them; and at once when the handshake fails or the backend
// cannot be opened (that error, which the client was sent).
func Serve(ctx context.Context, in io.Reader, out io.Writer, o ServeOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &server{w: &frameWriter{w: out}, reqs: map[uint64]*serverReq{}}
	var hdr [headerLen]byte
	f, err := readFrame(in, &hdr)
	if err != nil {
		return fmt.Errorf("read the handshake: %w", err)
	}
	var h helloMsg
	if f.typ != frameHello || json.Unmarshal(f.payload, &h) != nil {
		return fmt.Errorf("read the handshake: %w", errBadFrame)
	}
	var openErr error
	if h.Protocol != Protocol {
		openErr = backend.Permanent(fmt.Errorf("the client speaks protocol %d, rezup-net %s speaks %d", h.Protocol, o.Version, Protocol))
	} else if srv.b, openErr = o.Open(); openErr == nil && srv.b == nil {
		openErr = errors.New("no backend")
	}
	payload, err := json.Marshal(helloMsg{Helper: helperMagic, Protocol: Protocol, Version: o.Version, Error: encodeError(openErr)})
	if err != nil {
		return err
	}
	if err := srv.w.write(frameHello, 0, payload); err != nil {
		return fmt.Errorf("send the handshake: %w", err)
	}
	if openErr != nil {
		return openErr
	}

	done := make(chan error, 1)
	go func() { done <- srv.loop(ctx, in) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	cancel()
	waited := make(chan struct{})
	go func() {
		srv.wg.Wait()
		close(waited)
	}()
	t := time.NewTimer(shutdownWait)
	defer t.Stop()
	select {
	case <-waited:
	case <-t.C:
		// A request ignoring its context: the process exits anyway.
	}
	return err
}

type server struct {
	b  backend.Backend
	w  *frameWriter
	wg sync.WaitGroup

	mu   sync.Mutex
	reqs map[uint64]*serverReq
}

// loop reads the client's frames until in ends. It never waits on a
// request: a request's frames are queued for it.
func (srv *server) loop(ctx context.Context, in io.Reader) error {
	var hdr [headerLen]byte
	for {
		f, err := readFrame(in, &hdr)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read a request: %w", err)
		}
		switch f.typ {
		case frameRequest:
			var req requestMsg
			if err := json.Unmarshal(f.payload, &req); err != nil {
				return fmt.Errorf("%w: a bad request: %v", errBadFrame, err)
			}
			r := &serverReq{id: f.id, req: req, credit: window, poke: make(chan struct{}, 1)}
			r.ctx, r.cancel = context.WithCancel(ctx)
			srv.mu.Lock()
			_, dup := srv.reqs[f.id]
			srv.reqs[f.id] = r
			srv.mu.Unlock()
			if dup {
				return fmt.Errorf("%w: request %d sent twice", errBadFrame, f.id)
			}
			srv.wg.Add(1)
			go srv.handle(r)
		case frameData, frameCancel, frameWindow:
			srv.mu.Lock()
			r := srv.reqs[f.id]
			srv.mu.Unlock()
			if r == nil {
				continue // a request that ended: what the client sent meanwhile is moot
			}
			switch f.typ {
			case frameData:
				r.feed(f.payload)
			case frameCancel:
				r.cancel()
			case frameWindow:
				if len(f.payload) != 8 {
					return fmt.Errorf("%w: a bad window", errBadFrame)
				}
				r.grant(int64(binary.BigEndian.Uint64(f.payload)))
			}
		default:
			return fmt.Errorf("%w: frame type %q", errBadFrame, f.typ)
		}
	}
}

func (srv *server) handle(r *serverReq) {
	defer srv.wg.Done()
	defer r.cancel()
	var end endMsg
	var err error
	switch r.req.Op {
	case "stat":
		var fi backend.ObjectInfo
		if fi, err = srv.b.Stat(r.ctx, r.req.Name); err == nil {
			end.Info = &fi
		}
	case "delete":
		err = srv.b.Delete(r.ctx, r.req.Name)
	case "put":
		err = srv.put(r)
	case "open":
		err = srv.open(r)
	case "list":
		err = srv.list(r)
	default:
		err = backend.Permanent(fmt.Errorf("rezup-net: unknown request %q", r.req.Op))
	}
	end.Error = encodeError(err)
	srv.mu.Lock()
	delete(srv.reqs, r.id)
	srv.mu.Unlock()
	payload, err := json.Marshal(end)
	if err == nil {
		// An error here means the client is gone: there is no one to
		// tell.
		_ = srv.w.write(frameEnd, r.id, payload)
	}
}

// put stores a file the helper opens itself, or the bytes the client sent.
func (srv *server) put(r *serverReq) error {
	var src backend.Source
	if r.req.Path != "" {
		f, err := backend.OpenFileSource(r.req.Path)
		if err != nil {
			// %v: a file missing here is not a missing object.
			return backend.Permanent(fmt.Errorf("put %s: read the file to put: %v", r.req.Name, err))
		}
		defer f.Close() // read-only
		if f.Length() != r.req.Size {
			return backend.Permanent(fmt.Errorf("put %s: %s has %d bytes, not the %d it had", r.req.Name, r.req.Path, f.Length(), r.req.Size))
		}
		src = f
	} else {
		data, err := r.inline()
		if err != nil {
			return fmt.Errorf("put %s: %w", r.req.Name, err)
		}
		src = backend.BytesSource(data)
	}
	return srv.b.Put(r.ctx, r.req.Name, src)
}

// open streams the object, or the range of it asked for, no further
// ahead of the client than its window.
func (srv *server) open(r *serverReq) error {
	length := int64(-1) // to the end
	if r.req.Length != nil {
		length = *r.req.Length
	}
	rc, err := srv.b.Open(r.ctx, r.req.Name, r.req.Offset, length)
	if err != nil {
		return err
	}
	defer rc.Close() // read-only
	if err := srv.w.write(frameOpened, r.id, nil); err != nil {
		return err
	}
	buf := make([]byte, chunkSize)
	for {
		avail, err := r.waitCredit(1)
		if err != nil {
			return err
		}
		n, rerr := rc.Read(buf[:min(avail, chunkSize)])
		if n > 0 {
			r.spend(n)
			if err := srv.w.write(frameData, r.id, buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// list sends the listing in batches of items, JSON arrays of about
// listBatch bytes.
func (srv *server) list(r *serverReq) error {
	var batch []backend.ObjectInfo
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		data, err := json.Marshal(batch)
		if err != nil {
			return err
		}
		batch, size = batch[:0], 0
		if _, err := r.waitCredit(int64(len(data))); err != nil {
			return err
		}
		r.spend(len(data))
		return srv.w.write(frameData, r.id, data)
	}
	err := srv.b.List(r.ctx, r.req.Name, func(oi backend.ObjectInfo) error {
		batch = append(batch, oi)
		if size += len(oi.Name) + 96; size >= listBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return err
}

// serverReq is a request being served.
type serverReq struct {
	id     uint64
	req    requestMsg
	ctx    context.Context
	cancel context.CancelFunc
	poke   chan struct{} // credit granted, bytes arrived

	mu     sync.Mutex
	credit int64
	data   []byte // an inline Put's bytes so far
	bad    error  // the client sent more than it said
}

func (r *serverReq) wake() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

func (r *serverReq) feed(p []byte) {
	r.mu.Lock()
	switch {
	case r.req.Size > MaxInline:
		r.bad = backend.Permanent(fmt.Errorf("%d bytes inline is more than rezup-net takes (%d)", r.req.Size, MaxInline))
	case int64(len(r.data)+len(p)) > r.req.Size:
		r.bad = backend.Permanent(fmt.Errorf("the client sent more than the %d bytes it put", r.req.Size))
	case r.data == nil:
		r.data = make([]byte, 0, r.req.Size)
		fallthrough
	default:
		r.data = append(r.data, p...)
	}
	r.mu.Unlock()
	r.wake()
}

// inline waits for all the bytes of an inline Put.
func (r *serverReq) inline() ([]byte, error) {
	if r.req.Size > MaxInline {
		return nil, backend.Permanent(fmt.Errorf("%d bytes inline is more than rezup-net takes (%d)", r.req.Size, MaxInline))
	}
	for {
		r.mu.Lock()
		data, bad := r.data, r.bad
		r.mu.Unlock()
		switch {
		case bad != nil:
			return nil, bad
		case int64(len(data)) == r.req.Size:
			return data, nil
		}
		select {
		case <-r.poke:
		case <-r.ctx.Done():
			return nil, r.ctx.Err()
		}
	}
}

func (r *serverReq) grant(n int64) {
	r.mu.Lock()
	r.credit += n
	r.mu.Unlock()
	r.wake()
}

func (r *serverReq) spend(n int) {
	r.mu.Lock()
	r.credit -= int64(n)
	r.mu.Unlock()
}

// waitCredit waits until the client lets the helper send at least want
// bytes, and returns how many it may.
func (r *serverReq) waitCredit(want int64) (int64, error) {
	for {
		r.mu.Lock()
		c := r.credit
		r.mu.Unlock()
		if c >= want {
			return c, nil
		}
		select {
		case <-r.poke:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}
