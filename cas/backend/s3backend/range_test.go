package s3backend_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/backend/s3backend"
)

// fakeStore answers GETs of any key as its mode says: "ignore" sends the
// whole object (200) whatever the Range, "bad" a 206 of another range,
// "short" a 206 whose body ends before its Content-Range.
type fakeStore struct {
	mu     sync.Mutex
	mode   string
	ranges []string
}

func (f *fakeStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	mode := f.mode
	f.ranges = append(f.ranges, r.Header.Get("Range"))
	f.mu.Unlock()
	w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
	w.Header().Set("ETag", `"x"`)
	switch mode {
	case "ignore":
		io.WriteString(w, "0123456789")
	case "bad":
		w.Header().Set("Content-Range", "bytes 0-2/10")
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, "012")
	case "short":
		w.Header().Set("Content-Range", "bytes 3-5/10")
		w.WriteHeader(http.StatusPartialContent)
		w.(http.Flusher).Flush() // chunked: no Content-Length to tell a short body
		io.WriteString(w, "34")
	}
}

func (f *fakeStore) set(mode string) {
	f.mu.Lock()
	f.mode, f.ranges = mode, nil
	f.mu.Unlock()
}

func (f *fakeStore) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ranges
}

// A store that ignores the Range has its body skipped and cut; a 206 of
// another range, or short of its Content-Range, is an error.
func TestRangeOfAnOddStore(t *testing.T) {
	t.Parallel()
	f := &fakeStore{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	b, err := s3backend.New("bucket", "", s3backend.Options{
		Endpoint: srv.URL, Region: "us-east-1", PathStyle: true,
		Creds: credentials.NewStaticV4("id", "secret", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	read := func(offset, length int64) (string, error) {
		rc, err := b.Open(ctx, "k/a", offset, length)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		return string(got), err
	}

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
		f.set("ignore")
		got, err := read(tt.offset, tt.length)
		if sent := f.sent(); err != nil || got != tt.want || len(sent) != 1 || sent[0] != tt.rng {
			t.Errorf("%d bytes at %d: read %q, %v, sent Range %q; want %q, Range %q", tt.length, tt.offset, got, err, sent, tt.want, tt.rng)
		}
	}

	f.set("bad")
	if _, err := read(3, 3); err == nil || !strings.Contains(err.Error(), "asked for bytes=3-5") || !strings.Contains(err.Error(), "s3://bucket/k/a") {
		t.Errorf("a 206 of another range: %v, want an error naming both", err)
	}

	f.set("short")
	got, err := read(3, 3)
	if got != "34" || !errors.Is(err, io.ErrUnexpectedEOF) || backend.IsPermanent(err) {
		t.Errorf("a 206 short of its Content-Range: read %q, %v; want a transient error", got, err)
	}
}
