package testsrv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"
)

// Fault is one way a cache server fails (see FaultServer).
type Fault string

const (
	// FaultRefused: nothing listens at the address; every connection is
	// refused.
	FaultRefused Fault = "refused"
	// Fault500: every request is answered 500 Internal Server Error, for
	// ever.
	Fault500 Fault = "500"
	// FaultRedirectLoop: every request is redirected to itself.
	FaultRedirectLoop Fault = "redirect loop"
	// FaultTrickle: a GET gets the real server's status and headers at
	// once, then its body one byte every interval: never idle long, never
	// done.
	FaultTrickle Fault = "trickle"
	// FaultEndless: a GET of an archive gets the real server's body (its
	// length unsaid), then zstd skippable frames for ever: a valid archive
	// that never ends.
	FaultEndless Fault = "endless"
)

// FaultServer is an HTTP server on 127.0.0.1 that fails as its Fault
// says, in front of a real server (Target) whose answers it trickles or
// extends; what it does not fail it forwards there as it is.
type FaultServer struct {
	// URL is the server's address: http://127.0.0.1:PORT.
	URL   string
	Fault Fault

	srv      *http.Server
	release  func() error // FaultRefused's port
	requests atomic.Int64
}

// StartFault starts a server that fails as f says, in front of target
// (an http:// base URL; unused by FaultRefused, Fault500 and
// FaultRedirectLoop). interval is FaultTrickle's pause between bytes.
func StartFault(target string, f Fault, interval time.Duration) (*FaultServer, error) {
	if f == FaultRefused {
		addr, release, err := closedPort()
		if err != nil {
			return nil, err
		}
		return &FaultServer{URL: "http://" + addr, Fault: f, release: release}, nil
	}
	l, err := Listen()
	if err != nil {
		return nil, err
	}
	s := &FaultServer{URL: "http://" + l.Addr().String(), Fault: f}
	tu, err := url.Parse(target)
	if (f == FaultTrickle || f == FaultEndless) && (err != nil || tu.Scheme != "http" || tu.Host == "") {
		l.Close() // never served
		return nil, fmt.Errorf("fault server: target %q is not an http:// base URL", target)
	}
	var h http.HandlerFunc
	switch f {
	case Fault500:
		h = func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "the server is broken", http.StatusInternalServerError)
		}
	case FaultRedirectLoop:
		h = func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.RequestURI(), http.StatusFound)
		}
	case FaultTrickle, FaultEndless:
		h = s.forwarding(tu, interval)
	default:
		l.Close() // never served
		return nil, fmt.Errorf("fault server: unknown fault %q", f)
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h(w, r)
	})}
	go func() {
		// Serve returns ErrServerClosed on Close; any other error ends
		// the server, and its clients then see refused connections.
		_ = s.srv.Serve(l)
	}()
	return s, nil
}

// forwarding is the handler of FaultTrickle and FaultEndless: the GETs
// they are about read the target's answer and pass it on badly; every
// other request goes to the target as it is.
func (s *FaultServer) forwarding(target *url.URL, interval time.Duration) http.HandlerFunc {
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || (s.Fault == FaultEndless && KindOf(r.URL) != KindArchive) {
			rp.ServeHTTP(w, r)
			return
		}
		u := target.JoinPath(r.URL.Path)
		u.RawQuery = r.URL.RawQuery
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close() // read to its end or given up: either way done
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		ok := resp.StatusCode/100 == 2
		if s.Fault == FaultEndless && ok {
			w.Header().Del("Content-Length") // chunked: the end is never said
		}
		w.WriteHeader(resp.StatusCode)
		rc := http.NewResponseController(w)
		if !ok {
			_, _ = io.Copy(w, resp.Body) // an error answer, as it is
			return
		}
		if s.Fault == FaultEndless {
			if _, err := io.Copy(w, resp.Body); err != nil {
				return // the client has gone
			}
			endless(w, rc)
			return
		}
		trickle(w, rc, resp.Body, interval, r.Context().Done())
	}
}

// trickle writes body to w one byte every interval, until it ends, the
// client goes, or done is closed.
func trickle(w io.Writer, rc *http.ResponseController, body io.Reader, interval time.Duration, done <-chan struct{}) {
	var b [1]byte
	_ = rc.Flush() // the headers, at once
	for {
		if _, err := io.ReadFull(body, b[:]); err != nil {
			return
		}
		if _, err := w.Write(b[:]); err != nil || rc.Flush() != nil {
			return
		}
		select {
		case <-done:
			return
		case <-time.After(interval):
		}
	}
}

// endless writes zstd skippable frames of 64 KiB to w until the client
// goes: a zstd reader skips them, looking for the next frame for ever.
func endless(w io.Writer, rc *http.ResponseController) {
	frame := make([]byte, 8+64<<10)
	binary.LittleEndian.PutUint32(frame[0:], 0x184D2A50) // a skippable frame's magic
	binary.LittleEndian.PutUint32(frame[4:], 64<<10)
	for {
		if _, err := w.Write(frame); err != nil || rc.Flush() != nil {
			return
		}
	}
}

// Requests is how many requests the server has answered (none, for
// FaultRefused).
func (s *FaultServer) Requests() int64 { return s.requests.Load() }

// Close stops the server, dropping the connections still open.
func (s *FaultServer) Close() error {
	if s.release != nil {
		return s.release()
	}
	if err := s.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("close fault server: %w", err)
	}
	return nil
}
