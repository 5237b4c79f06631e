package httpbackend

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/backend/backendtest"
	"github.com/rezup/rezup/internal/testkit"
	"github.com/rezup/rezup/internal/testsrv"
)

// nginx starts a real nginx for one test, stopped when it ends.
func nginx(t *testing.T, o testsrv.NginxOptions) *testsrv.Server {
	t.Helper()
	s, err := testsrv.Nginx(t.TempDir(), o)
	if errors.Is(err, testsrv.ErrNotInstalled) {
		testkit.NeedsServer(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop nginx: %v", err)
		}
	})
	return s
}

func newBackend(t *testing.T, base string, o Options) *Backend {
	t.Helper()
	b, err := New(base, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSuite(t *testing.T) {
	t.Parallel()
	s := nginx(t, testsrv.NginxOptions{})
	n := 0
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		n++ // subtests run one by one: each gets a fresh folder
		return newBackend(t, s.URL+"/suite"+strings.Repeat("x", n), Options{})
	})
}

func TestSuiteAtTheRoot(t *testing.T) {
	t.Parallel()
	// The base folder is the server's root here, so leftover folders of
	// one subtest would show in the next: each gets its own server.
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		return newBackend(t, nginx(t, testsrv.NginxOptions{}).URL, Options{})
	})
}

func TestConcurrentPutsOneWinsEveryTime(t *testing.T) {
	t.Parallel()
	s := nginx(t, testsrv.NginxOptions{})
	b := newBackend(t, s.URL+"/race/", Options{})
	for round := range 20 {
		const n = 8
		name := "k" + strings.Repeat("r", round) + "/entry.json"
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = b.Put(context.Background(), name, backend.BytesSource([]byte{byte('a' + i)}))
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for _, err := range errs {
			switch {
			case err == nil:
				winners++
			case !errors.Is(err, backend.ErrExist):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d writers created %s", round, winners, name)
		}
	}
	// No claim is left, nor listed.
	err := b.List(context.Background(), "", func(o backend.ObjectInfo) error {
		if !strings.HasSuffix(o.Name, "/entry.json") {
			t.Errorf("listed %s", o.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := filepath.Glob(filepath.Join(s.DataDir, "race", "*", "*"+claimSuffix))
	if len(claims) != 0 {
		t.Fatalf("claims left behind: %q", claims)
	}
}

func TestStaleClaimIsTakenOver(t *testing.T) {
	t.Parallel()
	s := nginx(t, testsrv.NginxOptions{})
	b := newBackend(t, s.URL, Options{})
	// A writer that died holding the claim.
	if err := os.MkdirAll(filepath.Join(s.DataDir, "k", "a"+claimSuffix), 0o755); err != nil {
		t.Fatal(err)
	}
	b.staleAfter = -1 // any claim is stale
	if err := b.Put(context.Background(), "k/a", backend.BytesSource([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "k", "a"+claimSuffix)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stale claim still there: %v", err)
	}
	// A live claim makes Put wait: for the holder's object (ErrExist),
	// or for the claim to go (the holder failed: this writer goes on).
	b.staleAfter = StaleClaim
	for _, tt := range []struct {
		name    string
		holder  func(dir string) error
		wantErr error
	}{
		{"k/b", func(dir string) error { return os.WriteFile(filepath.Join(dir, "b"), []byte("holder"), 0o644) }, backend.ErrExist},
		{"k/c", func(dir string) error { return os.Remove(filepath.Join(dir, "c"+claimSuffix)) }, nil},
	} {
		dir := filepath.Join(s.DataDir, "k")
		if err := os.MkdirAll(filepath.Join(dir, path.Base(tt.name)+claimSuffix), 0o755); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- b.Put(context.Background(), tt.name, backend.BytesSource([]byte("waiter"))) }()
		waitForLog(t, s, "\"MKCOL /"+tt.name+"%5Crezup-claim/ HTTP/1.1\" 405")
		select {
		case err := <-done:
			t.Fatalf("put %s under a live claim returned %v without waiting", tt.name, err)
		default:
		}
		if err := tt.holder(dir); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, tt.wantErr) && err != tt.wantErr {
			t.Fatalf("put %s: %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	if got := readAll(t, b, "k/b", 0); got != "holder" {
		t.Fatalf("k/b holds %q, want the holder's", got)
	}
	if got := readAll(t, b, "k/c", 0); got != "waiter" {
		t.Fatalf("k/c holds %q, want the waiter's", got)
	}
}

// waitForLog waits until the server's access log has a line containing
// s: nginx writes each line when it has answered.
func waitForLog(t *testing.T, srv *testsrv.Server, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if data, _ := os.ReadFile(filepath.Join(srv.Dir, "access.log")); strings.Contains(string(data), s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s in the access log after 10 s", s)
		}
	}
}

func TestReadOnlyServer(t *testing.T) {
	t.Parallel()
	s := nginx(t, testsrv.NginxOptions{ReadOnly: true})
	if err := os.MkdirAll(filepath.Join(s.DataDir, "k"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.DataDir, "k", "a"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := newBackend(t, s.URL, Options{})
	ctx := context.Background()
	if fi, err := b.Stat(ctx, "k/a"); err != nil || fi.Size != 10 || fi.ModTime.IsZero() {
		t.Fatalf("stat = %+v, %v", fi, err)
	}
	rc, err := b.Open(ctx, "k/a", 4, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "456789" {
		t.Fatalf("read %q, %v", got, err)
	}
	for name, err := range map[string]error{
		"put":    b.Put(ctx, "k/new", backend.BytesSource([]byte("x"))),
		"delete": b.Delete(ctx, "k/a"),
	} {
		method := strings.ToUpper(name)
		msg := err.Error()
		if !backend.IsPermanent(err) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, method+" "+s.URL) ||
			!strings.Contains(msg, "read-only") || !strings.Contains(msg, "dav_methods") {
			t.Errorf("%s on a read-only server: %q (permanent %v), want one permanent line naming %s", name, msg, backend.IsPermanent(err), method)
		}
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	s := nginx(t, testsrv.NginxOptions{TLS: true})
	if !strings.HasPrefix(s.URL, "https://") || s.CAFile == "" {
		t.Fatalf("server %s, CA file %q", s.URL, s.CAFile)
	}
	ctx := context.Background()
	// Trusting nothing but the system roots: the self-signed certificate
	// is refused, permanently.
	err := newBackend(t, s.URL, Options{}).Put(ctx, "k/a", backend.BytesSource([]byte("x")))
	var ua x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	if (!errors.As(err, &ua) && !errors.As(err, &cv)) || !backend.IsPermanent(err) {
		t.Fatalf("untrusted certificate: %v, want a permanent certificate error", err)
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the CA file")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	b := newBackend(t, s.URL, Options{Client: &http.Client{Transport: tr}})
	if err := b.Put(ctx, "k/a", backend.BytesSource([]byte("secure"))); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, b, "k/a", 2); got != "cure" {
		t.Fatalf("read %q", got)
	}
}

func readAll(t *testing.T, b backend.Backend, name string, offset int64) string {
	t.Helper()
	rc, err := b.Open(context.Background(), name, offset, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	netrc := "machine elsewhere login no password no\n\nmachine 127.0.0.1\n  login alice\n  password \"s3 cret\"\n"
	if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte(netrc), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want string // the one Authorization value the server takes
	}{
		{"bearer token", map[string]string{"REZUP_CACHE_TOKEN": "x", "HOME": home}, "Bearer x"},
		{"home netrc", map[string]string{"HOME": home}, "Basic YWxpY2U6czMgY3JldA=="}, // alice:s3 cret
		{"NETRC", map[string]string{"NETRC": filepath.Join(home, ".netrc"), "HOME": t.TempDir()}, "Basic YWxpY2U6czMgY3JldA=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := nginx(t, testsrv.NginxOptions{Authorization: tt.want})
			ctx := context.Background()
			// Without credentials: 401, one line, a permission error.
			_, err := newBackend(t, s.URL, Options{}).Stat(ctx, "k/a")
			if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "REZUP_CACHE_TOKEN") {
				t.Fatalf("without credentials: %v", err)
			}
			b, err := Opener(func(k string) string { return tt.env[k] })(s.URL)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Put(ctx, "k/a", backend.BytesSource([]byte("x"))); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, b, "k/a", 0); got != "x" {
				t.Fatalf("read %q", got)
			}
		})
	}
}

func TestCredentialsStayHomeAfterARedirect(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, "moved")
	}))
	defer other.Close()
	home := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer x" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	defer home.Close()
	b := newBackend(t, home.URL, Options{Token: "x"})
	if got := readAll(t, b, "k/a", 0); got != "moved" {
		t.Fatalf("read %q", got)
	}
	if len(seen) != 1 || seen[0] != "" {
		t.Fatalf("the other host got Authorization %q", seen)
	}
}

func TestForbidden(t *testing.T) {
	t.Parallel()
	s := nginx(t, testsrv.NginxOptions{Deny: []string{"/secret/"}})
	b := newBackend(t, s.URL+"/secret", Options{})
	_, err := b.Open(context.Background(), "k/a", 0, -1)
	want := "GET " + s.URL + "/secret/k/a: 403 Forbidden: check REZUP_CACHE_TOKEN or ~/.netrc"
	if !errors.Is(err, fs.ErrPermission) || !backend.IsPermanent(err) || err.Error() != want {
		t.Fatalf("open: %v\nwant %s", err, want)
	}
}

func TestResumeThroughACutConnection(t *testing.T) {
	t.Parallel()
	s := nginx(t, testsrv.NginxOptions{})
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	if err := newBackend(t, s.URL, Options{}).Put(context.Background(), "k/a.tar.zst", backend.BytesSource(data)); err != nil {
		t.Fatal(err)
	}
	p, err := testsrv.CutProxy(s.URL, 300<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b := newBackend(t, p.URL, Options{})
	rc, err := b.Open(context.Background(), "k/a.tar.zst", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) || len(got) == 0 || len(got) >= len(data) {
		t.Fatalf("read %d bytes through the cut, err %v: want a cut short of %d", len(got), err, len(data))
	}
	if !strings.HasPrefix(err.Error(), "GET "+p.URL+"/k/a.tar.zst: ") || backend.IsPermanent(err) {
		t.Fatalf("cut read: %v, want a transient error naming the GET", err)
	}
	rest := readAll(t, b, "k/a.tar.zst", int64(len(got)))
	if !bytes.Equal(append(got, rest...), data) {
		t.Fatalf("resumed %d+%d bytes differ from the %d put", len(got), len(rest), len(data))
	}
}

func TestNoJSONListing(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>index of /</html>")
	}))
	defer srv.Close()
	err := newBackend(t, srv.URL, Options{}).List(context.Background(), "", func(backend.ObjectInfo) error { return nil })
	if err == nil || !backend.IsPermanent(err) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "autoindex_format json") || !strings.Contains(err.Error(), "rezup gc --cache") {
		t.Fatalf("list without JSON listings: %v", err)
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		base, want, err string
	}{
		{"http://h", "http://h/", ""},
		{"https://h:8443/cache", "https://h:8443/cache/", ""},
		{"https://h/cache/", "https://h/cache/", ""},
		{"ftp://h/cache", "", "scheme must be http or https"},
		{"https:///cache", "", "no host"},
		{"https://u:p@h/cache", "", "~/.netrc"},
		{"https://h/cache?x=1", "", "query"},
	} {
		b, err := New(tt.base, Options{})
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("New(%q): %v, want an error with %q", tt.base, err, tt.err)
		case tt.err == "" && err != nil:
			t.Errorf("New(%q): %v", tt.base, err)
		case tt.err == "" && b.String() != tt.want:
			t.Errorf("New(%q) = %s, want %s", tt.base, b, tt.want)
		}
	}
	if strings.Contains(func() string { _, err := New("https://u:secret@h/", Options{}); return err.Error() }(), "secret") {
		t.Error("the error shows the password")
	}
}

func TestStatusErrors(t *testing.T) {
	for _, tt := range []struct {
		method         string
		code           int
		notExist, perm bool
		permanent      bool
		has            string
	}{
		{"GET", 404, true, false, true, "404 Not Found"},
		{"GET", 401, false, true, true, "REZUP_CACHE_TOKEN"},
		{"PUT", 403, false, true, true, "read-only"},
		{"PUT", 405, false, false, true, "read-only for this account"},
		{"DELETE", 501, false, false, true, "DELETE https://h/x: 501 Not Implemented: the cache is read-only"},
		{"GET", 400, false, false, true, "400 Bad Request"},
		{"GET", 429, false, false, false, "429"},
		{"PUT", 503, false, false, false, "503 Service Unavailable"},
		{"GET", 500, false, false, false, "500"},
	} {
		resp := &http.Response{StatusCode: tt.code, Status: fmt.Sprintf("%d %s", tt.code, http.StatusText(tt.code))}
		err := statusErr(resp, tt.method, "https://h/x", "")
		if backend.IsNotExist(err) != tt.notExist || errors.Is(err, fs.ErrPermission) != tt.perm || backend.IsPermanent(err) != tt.permanent || !strings.Contains(err.Error(), tt.has) {
			t.Errorf("%s %d: %v (not-exist %v, permission %v, permanent %v)", tt.method, tt.code, err, backend.IsNotExist(err), errors.Is(err, fs.ErrPermission), backend.IsPermanent(err))
		}
	}
}

// A server that ignores Range (200, the whole object) has its body
// skipped to the offset and cut at the end of the range.
func TestRangeIgnoredByTheServer(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		io.WriteString(w, "0123456789")
	}))
	defer srv.Close()
	b := newBackend(t, srv.URL, Options{})
	for _, tt := range []struct {
		offset, length int64
		want, rng      string
	}{
		{0, -1, "0123456789", ""},
		{0, 4, "0123", "bytes=0-3"},
		{3, 4, "3456", "bytes=3-6"},
		{8, 5, "89", "bytes=8-12"},
		{12, 3, "", "bytes=12-14"},
		{4, -1, "456789", "bytes=4-"},
	} {
		mu.Lock()
		ranges = nil
		mu.Unlock()
		rc, err := b.Open(context.Background(), "k/a", tt.offset, tt.length)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		mu.Lock()
		if err != nil || string(got) != tt.want || len(ranges) != 1 || ranges[0] != tt.rng {
			t.Errorf("%d bytes at %d: read %q, %v, sent Range %q; want %q, Range %q", tt.length, tt.offset, got, err, ranges, tt.want, tt.rng)
		}
		mu.Unlock()
	}
}

// A 206 must hold the range asked for, and all the bytes its
// Content-Range states.
func TestPartialContentChecked(t *testing.T) {
	t.Parallel()
	var contentRange, body string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cr, b := contentRange, body
		mu.Unlock()
		if r.Method == http.MethodHead {
			w.Header().Set("Content-Length", "10")
			return
		}
		w.Header().Set("Content-Range", cr)
		w.WriteHeader(http.StatusPartialContent)
		w.(http.Flusher).Flush() // chunked: no Content-Length to tell a short body
		io.WriteString(w, b)
	}))
	defer srv.Close()
	b := newBackend(t, srv.URL, Options{})
	serve := func(cr, b string) {
		mu.Lock()
		contentRange, body = cr, b
		mu.Unlock()
	}

	serve("bytes 3-5/10", "345")
	if got := readRange(t, b, "k/a", 3, 3); got != "345" {
		t.Fatalf("read %q", got)
	}
	serve("bytes 8-9/10", "89") // cut at the end
	if got := readRange(t, b, "k/a", 8, 5); got != "89" {
		t.Fatalf("read %q", got)
	}
	serve("bytes 3-5/10", "3456789") // more than it says: cut
	if got := readRange(t, b, "k/a", 3, 3); got != "345" {
		t.Fatalf("read %q", got)
	}

	for _, cr := range []string{"bytes 0-2/10", "bytes 3-7/10", "bytes 3-4/10", "bytes */10", ""} {
		serve(cr, "345")
		_, err := b.Open(context.Background(), "k/a", 3, 3)
		if err == nil || !strings.Contains(err.Error(), "asked for bytes=3-5") || !strings.HasPrefix(err.Error(), "GET "+srv.URL+"/k/a: ") {
			t.Errorf("Content-Range %q for bytes=3-5: %v, want an error naming both", cr, err)
		}
	}

	serve("bytes 3-5/10", "34")
	rc, err := b.Open(context.Background(), "k/a", 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if string(got) != "34" || !errors.Is(err, io.ErrUnexpectedEOF) || backend.IsPermanent(err) {
		t.Fatalf("a 206 short of its Content-Range: read %q, %v; want a transient error", got, err)
	}

	// Length 0 is a HEAD: nothing to read, no GET.
	serve("bytes 0-0/10", "this GET should not have been sent")
	if got := readRange(t, b, "k/a", 3, 0); got != "" {
		t.Fatalf("0 bytes: read %q", got)
	}
}

func readRange(t *testing.T, b backend.Backend, name string, offset, length int64) string {
	t.Helper()
	rc, err := b.Open(context.Background(), name, offset, length)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// A ranged read cut mid-stream, from a real nginx, comes back whole
// through Retrying: the resumed GET asks for the rest of the range only.
func TestRangeResumesThroughACutConnection(t *testing.T) {
	t.Parallel()
	s := nginx(t, testsrv.NginxOptions{})
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	if err := newBackend(t, s.URL, Options{}).Put(context.Background(), "k/pack", backend.BytesSource(data)); err != nil {
		t.Fatal(err)
	}
	p, err := testsrv.CutProxy(s.URL, 300<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	retries := 0
	b := backend.Retry(newBackend(t, p.URL, Options{}), backend.RetryOptions{
		Sleep:   func(context.Context, time.Duration) error { return nil },
		OnRetry: func(string, string, int, time.Duration, error) { retries++ },
	})
	const off, n = 100_001, 700_000
	got := readRange(t, b, "k/pack", off, n)
	if !bytes.Equal([]byte(got), data[off:off+n]) || retries != 1 {
		t.Fatalf("read %d bytes (equal: %v) after %d retries; want the %d of the range after 1", len(got), bytes.Equal([]byte(got), data[off:off+n]), retries, n)
	}
}
