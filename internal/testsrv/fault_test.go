package testsrv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each fault fails as it says: refused connections, 500s, a redirect to
// itself, the real body a byte at a time, and the real archive followed by
// data that never ends; what a fault is not about passes through.
func TestFaultServer(t *testing.T) {
	t.Parallel()
	archive := bytes.Repeat([]byte("0123456789"), 100)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/k/entry.json" {
			io.WriteString(w, `{"key":"k"}`)
			return
		}
		http.ServeContent(w, r, "a", time.Time{}, bytes.NewReader(archive))
	}))
	t.Cleanup(origin.Close)
	start := func(t *testing.T, f Fault) *FaultServer {
		s, err := StartFault(origin.URL, f, 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	get := func(t *testing.T, url string) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		return http.DefaultClient.Do(req)
	}

	t.Run("refused", func(t *testing.T) {
		s := start(t, FaultRefused)
		if _, err := get(t, s.URL+"/k/d.tar.zst"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("GET: %v, want connection refused", err)
		}
	})
	t.Run("500", func(t *testing.T) {
		s := start(t, Fault500)
		for range 3 {
			resp, err := get(t, s.URL+"/k/entry.json")
			if err != nil || resp.StatusCode != 500 {
				t.Fatalf("GET: %v, %v", resp, err)
			}
			resp.Body.Close()
		}
	})
	t.Run("redirect loop", func(t *testing.T) {
		s := start(t, FaultRedirectLoop)
		if _, err := get(t, s.URL+"/k/d.tar.zst"); err == nil || !strings.Contains(err.Error(), "redirects") {
			t.Errorf("GET: %v, want too many redirects", err)
		}
		if s.Requests() < 10 {
			t.Errorf("%d requests", s.Requests())
		}
	})
	t.Run("trickle", func(t *testing.T) {
		s := start(t, FaultTrickle)
		begin := time.Now()
		resp, err := get(t, s.URL+"/k/entry.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b [4]byte
		n, err := io.ReadFull(resp.Body, b[:])
		if err != nil || string(b[:n]) != `{"ke` || time.Since(begin) < 60*time.Millisecond {
			t.Errorf("read %q (%v) in %v, want 4 bytes of the entry a byte every 20ms", b[:n], err, time.Since(begin))
		}
	})
	t.Run("endless", func(t *testing.T) {
		s := start(t, FaultEndless)
		resp, err := get(t, s.URL+"/k/d.tar.zst")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		head := make([]byte, len(archive)+8)
		if _, err := io.ReadFull(resp.Body, head); err != nil || !bytes.Equal(head[:len(archive)], archive) ||
			!bytes.Equal(head[len(archive):], []byte{0x50, 0x2a, 0x4d, 0x18, 0, 0, 1, 0}) || resp.ContentLength != -1 {
			t.Fatalf("not the archive then a skippable frame, length unsaid (%d): %v", resp.ContentLength, err)
		}
		if n, err := io.CopyN(io.Discard, resp.Body, 1<<20); n != 1<<20 {
			t.Errorf("the body ended after %d more bytes: %v", n, err)
		}
		// What it is not about passes through.
		resp, err = get(t, s.URL+"/k/entry.json")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != `{"key":"k"}` {
			t.Errorf("entry.json through the endless server: %q", b)
		}
	})
}
