package testsrv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// Kind is what a request to a cache is about, told by its path.
type Kind string

const (
	KindArchive Kind = "archive" // <key>/<digest>.tar.zst
	KindEntry   Kind = "entry"   // <key>/entry.json
	KindLease   Kind = "lease"   // <key>/lease.<gen>, and listings of them
	KindIndex   Kind = "index"   // <key>/<digest>.index (the files format)
	KindPack    Kind = "pack"    // packs/<2 hex>/<digest>.pack (the files format)
	KindOther   Kind = "other"   // anything else: listings, buckets, …
)

// KindOf classifies a request by its URL. It sees path-style S3
// (/bucket/prefix/key/…) and HTTP paths alike: only the last element
// counts, and for an S3 listing the prefix asked for.
func KindOf(u *url.URL) Kind {
	name := path.Base(u.Path)
	if p := u.Query().Get("prefix"); p != "" {
		name = path.Base(p) // an S3 listing: what it lists
	}
	switch {
	case strings.HasSuffix(name, ".tar.zst"):
		return KindArchive
	case name == "entry.json":
		return KindEntry
	case strings.HasSuffix(name, ".index"):
		return KindIndex
	case strings.HasSuffix(name, ".pack"):
		return KindPack
	case name == "lease" || strings.HasPrefix(name, "lease."):
		return KindLease
	}
	return KindOther
}

// Tally counts requests and the body bytes they carried each way.
type Tally struct {
	Requests int64
	Served   int64 // response body bytes sent to clients
	Received int64 // request body bytes sent by clients (uploads)
}

func (t Tally) add(u Tally) Tally {
	return Tally{t.Requests + u.Requests, t.Served + u.Served, t.Received + u.Received}
}

// Route is a request's method and kind.
type Route struct {
	Method string
	Kind   Kind
}

// Counts is what a Counter saw. Its maps are the caller's own copies.
type Counts struct {
	Routes map[Route]Tally
	// Status counts responses by HTTP status; 502 includes the requests
	// the proxy could not forward.
	Status map[int]int64
}

// Get is the tally of one method and kind.
func (c Counts) Get(method string, k Kind) Tally { return c.Routes[Route{method, k}] }

// Method is the tally of one method, all kinds.
func (c Counts) Method(method string) Tally {
	return c.sum(func(r Route) bool { return r.Method == method })
}

// Kind is the tally of one kind, all methods.
func (c Counts) Kind(k Kind) Tally { return c.sum(func(r Route) bool { return r.Kind == k }) }

// Total is the tally of every request.
func (c Counts) Total() Tally { return c.sum(func(Route) bool { return true }) }

func (c Counts) sum(match func(Route) bool) Tally {
	var t Tally
	for r, u := range c.Routes {
		if match(r) {
			t = t.add(u)
		}
	}
	return t
}

// Counter is a reverse proxy on a free port of 127.0.0.1 in front of one
// server, counting requests and body bytes by method and kind. It passes
// the Host header through unchanged: an S3 client signs (SigV4) the Host
// it sends, which is the proxy's address, and the server checks the
// signature against the Host it receives, so the proxy must not rewrite it.
// Point clients at URL; the counts are exact once they are done (a body
// is counted as it is read, a request when it starts).
type Counter struct {
	// URL is the proxy's base URL: http://127.0.0.1:PORT.
	URL string

	srv *http.Server
	mu  sync.Mutex
	c   Counts
}

// CountingProxy starts a counting proxy to target (an http:// base URL).
func CountingProxy(target string) (*Counter, error) {
	tu, err := url.Parse(target)
	if err != nil || tu.Scheme == "" || tu.Host == "" {
		return nil, fmt.Errorf("counting proxy: target %q is not a base URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("counting proxy: %w", err)
	}
	cp := &Counter{URL: "http://" + ln.Addr().String(), c: Counts{Routes: map[Route]Tally{}, Status: map[int]int64{}}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(tu)
			r.Out.Host = r.In.Host // SetURL set the target's; SigV4 signed ours
		},
		// A hundred nodes at once: keep their connections to the server
		// open rather than running out of ephemeral ports.
		Transport: &http.Transport{
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     30 * time.Second,
		},
		FlushInterval: -1, // stream as it comes: a stall must reach the client
		ModifyResponse: func(resp *http.Response) error {
			route := resp.Request.Context().Value(routeKey{}).(Route)
			cp.status(resp.StatusCode)
			resp.Body = &countedBody{ReadCloser: resp.Body, add: func(n int64) { cp.addServed(route, n) }}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			cp.status(http.StatusBadGateway)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	cp.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := Route{Method: r.Method, Kind: KindOf(r.URL)}
		cp.mu.Lock()
		t := cp.c.Routes[route]
		t.Requests++
		cp.c.Routes[route] = t
		cp.mu.Unlock()
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &countedBody{ReadCloser: r.Body, add: func(n int64) { cp.addReceived(route, n) }}
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, route)))
	})}
	go func() {
		// Serve returns ErrServerClosed on Close; any other error ends
		// the proxy, and its clients then see refused connections.
		_ = cp.srv.Serve(ln)
	}()
	return cp, nil
}

// Snapshot returns a copy of the counts so far.
func (cp *Counter) Snapshot() Counts {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return Counts{Routes: maps.Clone(cp.c.Routes), Status: maps.Clone(cp.c.Status)}
}

// Reset sets every count back to zero, e.g. between a setup and the part
// being measured.
func (cp *Counter) Reset() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.c = Counts{Routes: map[Route]Tally{}, Status: map[int]int64{}}
}

// Close stops the proxy, dropping the connections still open.
func (cp *Counter) Close() error {
	if err := cp.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("close counting proxy: %w", err)
	}
	return nil
}

func (cp *Counter) status(code int) {
	cp.mu.Lock()
	cp.c.Status[code]++
	cp.mu.Unlock()
}

func (cp *Counter) addServed(r Route, n int64) {
	cp.mu.Lock()
	t := cp.c.Routes[r]
	t.Served += n
	cp.c.Routes[r] = t
	cp.mu.Unlock()
}

func (cp *Counter) addReceived(r Route, n int64) {
	cp.mu.Lock()
	t := cp.c.Routes[r]
	t.Received += n
	cp.c.Routes[r] = t
	cp.mu.Unlock()
}

// routeKey carries a request's Route from the handler to ModifyResponse.
type routeKey struct{}

// countedBody reports the bytes read through it.
type countedBody struct {
	io.ReadCloser
	add func(int64)
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.add(int64(n))
	}
	return n, err
}
