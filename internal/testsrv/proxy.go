package testsrv

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
)

// Proxy is a TCP proxy on 127.0.0.1 that drops the first connections
// partway through the server's response, like a flaky network.
type Proxy struct {
	// URL is the proxy's address, with the target's scheme:
	// http://127.0.0.1:PORT.
	URL string

	l      net.Listener
	target string
	after  int64
	mu     sync.Mutex
	cuts   int
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup
}

// CutProxy starts a proxy to target (a URL such as a Server's, or a
// host:port) that, for each of the first cuts connections, closes the
// connection once cutAfter bytes of the server's response have been
// forwarded. Later connections pass everything through.
func CutProxy(target string, cutAfter int64, cuts int) (*Proxy, error) {
	scheme, addr := "http", target
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		scheme, addr = u.Scheme, u.Host
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("cut proxy: %w", err)
	}
	p := &Proxy{URL: scheme + "://" + l.Addr().String(), l: l, target: addr, after: cutAfter, cuts: cuts, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		cut := p.cuts > 0
		p.cuts--
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.pipe(c, cut)
		}()
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *Proxy) pipe(c net.Conn, cut bool) {
	defer c.Close() // the client's side, done either way
	if !p.track(c) {
		return
	}
	defer p.untrack(c)
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return // the client sees its connection closed
	}
	defer s.Close() // the server's side, done either way
	if !p.track(s) {
		return
	}
	defer p.untrack(s)
	go func() {
		_, _ = io.Copy(s, c) // ends when either side closes
		s.Close()
	}()
	if cut {
		_, _ = io.CopyN(c, s, p.after) // then drop both sides
		return
	}
	_, _ = io.Copy(c, s)
}

// Close stops the proxy and drops every open connection.
func (p *Proxy) Close() error {
	err := p.l.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close() // dropping is the point
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}
