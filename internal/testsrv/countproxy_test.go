package testsrv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestKindOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want Kind
	}{
		{"/k/0123abcd.tar.zst", KindArchive},
		{"/bucket/prefix/k/0123abcd.tar.zst?partNumber=2&uploadId=x", KindArchive},
		{"/k/entry.json", KindEntry},
		{"/bucket/p/k/entry.json", KindEntry},
		{"/k/lease.3", KindLease},
		{"/bucket/p/k/lease", KindLease},
		{"/bucket?list-type=2&prefix=p%2Fk%2Flease.", KindLease},
		{"/bucket/?list-type=2&prefix=p%2Fk%2F", KindOther},
		{"/k/", KindOther},
		{"/p/k/0a1b.index", KindIndex},
		{"/p/packs/0a/0a1b.pack", KindPack},
		{"/", KindOther},
		{"/k/entry.json.tmp", KindOther},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := KindOf(u); got != tc.want {
			t.Errorf("KindOf(%s) = %s, want %s", tc.url, got, tc.want)
		}
	}
}

// The proxy forwards every method with its body and Range, passes Host
// through as the client sent it (SigV4 signs it), and counts requests and
// body bytes by method and kind, and responses by status.
func TestCountingProxy(t *testing.T) {
	t.Parallel()
	archive := bytes.Repeat([]byte("0123456789"), 10_000)
	var mu sync.Mutex
	var hosts []string
	var put []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		switch {
		case r.Method == http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			put = b
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
		case strings.HasSuffix(r.URL.Path, ".tar.zst"):
			http.ServeContent(w, r, "a.tar.zst", time.Time{}, bytes.NewReader(archive))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cp, err := CountingProxy(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	proxyHost := strings.TrimPrefix(cp.URL, "http://")

	do := func(method, path, rng string, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, cp.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, b := do("GET", "/k/d.tar.zst", "", nil); code != 200 || !bytes.Equal(b, archive) {
				t.Errorf("GET archive: %d, %d bytes", code, len(b))
			}
		}()
	}
	wg.Wait()
	if code, b := do("GET", "/k/d.tar.zst", "bytes=1000-", nil); code != http.StatusPartialContent || !bytes.Equal(b, archive[1000:]) {
		t.Errorf("ranged GET: %d, %d bytes", code, len(b))
	}
	entry := []byte(`{"key":"k"}`)
	if code, _ := do("PUT", "/k/entry.json", "", entry); code != http.StatusCreated {
		t.Errorf("PUT entry: %d", code)
	}
	if code, _ := do("GET", "/k/lease.1", "", nil); code != http.StatusNotFound {
		t.Errorf("GET lease: %d", code)
	}

	c := cp.Snapshot()
	wantServed := int64(4*len(archive) + len(archive) - 1000)
	if got := c.Get("GET", KindArchive); got.Requests != 5 || got.Served != wantServed || got.Received != 0 {
		t.Errorf("archive GETs: %+v, want 5 requests, %d bytes served", got, wantServed)
	}
	if got := c.Get("PUT", KindEntry); got.Requests != 1 || got.Received != int64(len(entry)) {
		t.Errorf("entry PUTs: %+v, want 1 request of %d bytes", got, len(entry))
	}
	if got := c.Kind(KindLease); got.Requests != 1 {
		t.Errorf("lease: %+v, want 1 request", got)
	}
	if got := c.Method("GET"); got.Requests != 6 {
		t.Errorf("GETs: %+v, want 6", got)
	}
	if got := c.Total(); got.Requests != 7 {
		t.Errorf("total: %+v, want 7 requests", got)
	}
	if c.Status[200] != 4 || c.Status[206] != 1 || c.Status[201] != 1 || c.Status[404] != 1 {
		t.Errorf("statuses: %v", c.Status)
	}
	mu.Lock()
	for _, h := range hosts {
		if h != proxyHost {
			t.Errorf("the server got Host %q, want the proxy's %q as the client sent it", h, proxyHost)
		}
	}
	if !bytes.Equal(put, entry) {
		t.Errorf("the server got PUT body %q", put)
	}
	mu.Unlock()

	cp.Reset()
	if got := cp.Snapshot().Total(); got != (Tally{}) {
		t.Errorf("after Reset: %+v", got)
	}
}
