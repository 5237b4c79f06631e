package helper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// transport is the pair of streams to one helper, and its end.
type transport interface {
	io.Reader // what the helper writes
	io.Writer // what the helper reads
	// close ends the helper gracefully: its input ends, it gets a few
	// seconds to exit, then it is killed. It returns once the helper is
	// gone, and may be called more than once.
	close() error
	// kill ends the helper at once, as close does after its wait.
	kill()
	// ended says why the helper's output ended with err: its exit
	// status, its last line on stderr.
	ended(err error) error
	// name names the helper in messages.
	name() string
}

// session is one running helper and the requests in flight on it.
type session struct {
	t transport
	w *frameWriter

	mu    sync.Mutex
	calls map[uint64]*call
	next  uint64
	err   error // why the session ended; nil while it runs
}

func newSession(t transport) *session {
	return &session{t: t, w: &frameWriter{w: t, timeout: writeTimeout}, calls: map[uint64]*call{}}
}

func (s *session) alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil
}

// handshake sends the client's hello and reads the helper's, or gives up
// when ctx ends (the caller then kills the helper, which ends the read).
func (s *session) handshake(ctx context.Context, version string) (helloMsg, error) {
	payload, err := json.Marshal(helloMsg{Protocol: Protocol, Version: version})
	if err != nil {
		return helloMsg{}, err
	}
	type result struct {
		h   helloMsg
		err error
	}
	done := make(chan result, 1)
	go func() {
		if err := s.w.write(frameHello, 0, payload); err != nil {
			done <- result{err: s.t.ended(err)}
			return
		}
		var hdr [headerLen]byte
		f, err := readFrame(s.t, &hdr)
		if err != nil {
			if !errors.Is(err, errBadFrame) {
				err = s.t.ended(err)
			}
			done <- result{err: err}
			return
		}
		var h helloMsg
		if f.typ != frameHello || f.id != 0 {
			done <- result{err: fmt.Errorf("%w: its first frame is %q, not a handshake", errBadFrame, f.typ)}
			return
		}
		if err := json.Unmarshal(f.payload, &h); err != nil {
			done <- result{err: fmt.Errorf("%w: a bad handshake: %v", errBadFrame, err)}
			return
		}
		done <- result{h: h}
	}()
	select {
	case r := <-done:
		return r.h, r.err
	case <-ctx.Done():
		s.kill(ctx.Err())
		return helloMsg{}, ctx.Err()
	}
}

// readLoop hands each frame from the helper to its request, until the
// helper's output ends.
func (s *session) readLoop() {
	var hdr [headerLen]byte
	for {
		f, err := readFrame(s.t, &hdr)
		if err != nil {
			if errors.Is(err, errBadFrame) {
				s.kill(fmt.Errorf("%s: %w", s.t.name(), err))
				return
			}
			s.fail(s.t.ended(err))
			s.t.close() // gone already: this only releases the pipes
			return
		}
		if err := s.deliver(f); err != nil {
			s.kill(fmt.Errorf("%s: %w", s.t.name(), err))
			return
		}
	}
}

func (s *session) deliver(f frame) error {
	s.mu.Lock()
	cl := s.calls[f.id]
	if f.typ == frameEnd {
		delete(s.calls, f.id)
	}
	s.mu.Unlock()
	if cl == nil {
		// An abandoned request: the helper may send a window's worth
		// and its end before it sees the cancel.
		switch f.typ {
		case frameOpened, frameData, frameEnd:
			return nil
		}
		return fmt.Errorf("%w: frame type %q", errBadFrame, f.typ)
	}
	return cl.deliver(f)
}

// fail ends the session with err: every request in flight fails with it.
// The first error wins.
func (s *session) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	calls := s.calls
	s.calls = map[uint64]*call{}
	s.mu.Unlock()
	for _, cl := range calls {
		cl.fail(err)
	}
}

// kill ends the session with err and the helper at once.
func (s *session) kill(err error) {
	s.fail(err)
	s.t.kill()
}

// close ends the session and the helper gracefully.
func (s *session) close() error {
	s.fail(errClosed)
	return s.t.close()
}

// send writes one frame. A helper that cannot be written to is killed:
// the error ends the session.
func (s *session) send(typ byte, id uint64, payload []byte) error {
	if err := s.w.write(typ, id, payload); err != nil {
		err = fmt.Errorf("write to %s: %w", s.t.name(), err)
		s.kill(err)
		s.mu.Lock()
		err = s.err // the error that ended it, if it ended before
		s.mu.Unlock()
		return err
	}
	return nil
}

// begin registers a request and sends it.
func (s *session) begin(req requestMsg) (*call, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return nil, err
	}
	s.next++
	cl := &call{s: s, id: s.next, poke: make(chan struct{}, 1)}
	s.calls[cl.id] = cl
	s.mu.Unlock()
	if err := s.send(frameRequest, cl.id, payload); err != nil {
		return nil, err
	}
	return cl, nil
}

func (s *session) remove(id uint64) {
	s.mu.Lock()
	delete(s.calls, id)
	s.mu.Unlock()
}

// errAbandoned is what a request's reads say after the client let go of
// it (a reader's Close).
var errAbandoned = errors.New("reader closed")

// call is one request in flight: what the helper sent for it, buffered
// until the caller takes it. The session's reader only appends here and
// never waits, so a slow caller never holds up another request.
type call struct {
	s    *session
	id   uint64
	poke chan struct{} // something changed

	mu        sync.Mutex
	opened    bool
	chunks    [][]byte
	received  int64 // data bytes the helper sent
	granted   int64 // beyond the first window
	unacked   int64 // consumed since the last grant
	end       *endMsg
	err       error // the session ended first, or the caller let go
	cancelled bool
}

func (cl *call) wake() {
	select {
	case cl.poke <- struct{}{}:
	default:
	}
}

func (cl *call) deliver(f frame) error {
	cl.mu.Lock()
	defer cl.wake()
	defer cl.mu.Unlock()
	switch f.typ {
	case frameOpened:
		cl.opened = true
	case frameData:
		cl.received += int64(len(f.payload))
		if cl.received > cl.granted+window {
			return fmt.Errorf("%w: request %d sent past its window", errBadFrame, cl.id)
		}
		cl.chunks = append(cl.chunks, f.payload)
	case frameEnd:
		var e endMsg
		if err := json.Unmarshal(f.payload, &e); err != nil {
			return fmt.Errorf("%w: a bad end of request %d: %v", errBadFrame, cl.id, err)
		}
		cl.end = &e
	default:
		return fmt.Errorf("%w: frame type %q", errBadFrame, f.typ)
	}
	return nil
}

func (cl *call) fail(err error) {
	cl.mu.Lock()
	if cl.err == nil {
		cl.err = err
	}
	cl.mu.Unlock()
	cl.wake()
}

// state is what the caller waits on.
func (cl *call) state() (opened bool, end *endMsg, err error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.opened, cl.end, cl.err
}

// wait waits for the request's end. When ctx ends first, the helper is
// told to cancel; a mutation (Put, Delete) then waits up to cancelGrace
// for the helper's answer, so that when it returns the object is as the
// answer says.
func (cl *call) wait(ctx context.Context, mutation bool) (endMsg, error) {
	for {
		if _, end, err := cl.state(); end != nil {
			return *end, nil
		} else if err != nil {
			return endMsg{}, err
		}
		select {
		case <-cl.poke:
			continue
		case <-ctx.Done():
		}
		if !mutation {
			cl.abandon()
			return endMsg{}, ctx.Err()
		}
		cl.cancel()
		grace := time.NewTimer(cancelGrace)
		defer grace.Stop()
		for {
			if _, end, err := cl.state(); end != nil {
				return *end, nil
			} else if err != nil {
				return endMsg{}, err
			}
			select {
			case <-cl.poke:
			case <-grace.C:
				cl.abandon()
				return endMsg{}, ctx.Err()
			}
		}
	}
}

// waitOpened waits until the helper opened the object, or said why not.
func (cl *call) waitOpened(ctx context.Context) error {
	for {
		opened, end, err := cl.state()
		switch {
		case opened:
			return nil
		case end != nil:
			return end.Error.err() // nil: an empty body, then the end
		case err != nil:
			return err
		}
		select {
		case <-cl.poke:
		case <-ctx.Done():
			cl.abandon()
			return ctx.Err()
		}
	}
}

// next returns the next data frame's bytes; io.EOF after the last one of
// a request that succeeded.
func (cl *call) next(ctx context.Context) ([]byte, error) {
	for {
		cl.mu.Lock()
		if len(cl.chunks) > 0 {
			c := cl.chunks[0]
			cl.chunks[0] = nil
			cl.chunks = cl.chunks[1:]
			cl.mu.Unlock()
			return c, nil
		}
		end, err := cl.end, cl.err
		cl.mu.Unlock()
		switch {
		case end != nil && end.Error != nil:
			return nil, end.Error.err()
		case end != nil:
			return nil, io.EOF
		case err != nil:
			return nil, err
		}
		select {
		case <-cl.poke:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// consumed records n bytes taken by the caller, and lets the helper send
// more once enough were.
func (cl *call) consumed(n int) {
	cl.mu.Lock()
	cl.unacked += int64(n)
	var grant int64
	if cl.unacked >= grantEvery && cl.end == nil && cl.err == nil {
		grant, cl.unacked = cl.unacked, 0
		cl.granted += grant
	}
	cl.mu.Unlock()
	if grant > 0 {
		// An error ends the session, and the next read says so.
		_ = cl.s.send(frameWindow, cl.id, uint64Payload(grant))
	}
}

// cancel tells the helper to cancel the request, once, unless it ended.
func (cl *call) cancel() {
	cl.mu.Lock()
	skip := cl.end != nil || cl.err != nil || cl.cancelled
	cl.cancelled = true
	cl.mu.Unlock()
	if !skip {
		// An error ends the session, which ends the request too.
		_ = cl.s.send(frameCancel, cl.id, nil)
	}
}

// abandon lets go of the request: the helper cancels it, what it still
// sends is dropped, and a read waiting on it returns errAbandoned.
func (cl *call) abandon() {
	cl.cancel()
	cl.s.remove(cl.id)
	cl.mu.Lock()
	cl.chunks = nil
	if cl.end == nil && cl.err == nil {
		cl.err = errAbandoned
	}
	cl.mu.Unlock()
	cl.wake()
}
