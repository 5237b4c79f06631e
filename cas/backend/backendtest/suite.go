// Package backendtest is the test suite every backend.Backend must pass:
// the directory, HTTP and S3 backends, and each through the helper. A backend's test file
// runs it with a constructor for fresh, empty backends:
//
//	func TestSuite(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) backend.Backend {
//			return cas.NewDirBackend(t.TempDir(), cas.DirOptions{})
//		})
//	}
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/backend"
)

// Run runs every test of the suite, each as a subtest with its own
// backend from newBackend.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, backend.Backend)
	}{
		{"PutStatOpen", testPutStatOpen},
		{"OpenAtOffset", testOpenAtOffset},
		{"OpenRange", testOpenRange},
		{"OpenRangeOfALargeObject", testOpenRangeLarge},
		{"EmptyObject", testEmptyObject},
		{"PutNeverReplaces", testPutNeverReplaces},
		{"ConcurrentPutsOneWins", testConcurrentPuts},
		{"FailedPutLeavesNothingAndCanBeRetried", testPutRetry},
		{"PutOfALyingSource", testPutLyingSource},
		{"PutCancelled", testPutCancelled},
		{"Missing", testMissing},
		{"InvalidNames", testInvalidNames},
		{"List", testList},
		{"ListStopsOnError", testListStops},
		{"Delete", testDelete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newBackend(t)) })
	}
}

func put(t *testing.T, b backend.Backend, name, data string) {
	t.Helper()
	if err := b.Put(context.Background(), name, backend.BytesSource([]byte(data))); err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
}

func read(t *testing.T, b backend.Backend, name string, offset int64) string {
	t.Helper()
	return readRange(t, b, name, offset, -1)
}

func readRange(t *testing.T, b backend.Backend, name string, offset, length int64) string {
	t.Helper()
	rc, err := b.Open(context.Background(), name, offset, length)
	if err != nil {
		t.Fatalf("open %s at %d for %d: %v", name, offset, length, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(data)
}

// objects lists the objects under prefix as "name size", sorted, leaving
// out folder markers, which only some backends have.
func objects(t *testing.T, b backend.Backend, prefix string) []string {
	t.Helper()
	var out []string
	err := b.List(context.Background(), prefix, func(o backend.ObjectInfo) error {
		if strings.HasSuffix(o.Name, "/") {
			if o.Size != 0 {
				t.Errorf("marker %s has %d bytes", o.Name, o.Size)
			}
			return nil
		}
		if o.ModTime.IsZero() {
			t.Errorf("%s listed without a modification time", o.Name)
		}
		out = append(out, fmt.Sprintf("%s %d", o.Name, o.Size))
		return nil
	})
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	slices.Sort(out)
	return out
}

func testPutStatOpen(t *testing.T, b backend.Backend) {
	before := time.Now().Add(-time.Hour) // remote clocks may be off a little
	data := strings.Repeat("archive bytes ", 100_000)
	put(t, b, "k/a.bin", data)
	fi, err := b.Stat(context.Background(), "k/a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Name != "k/a.bin" || fi.Size != int64(len(data)) || fi.ModTime.Before(before) || fi.ModTime.After(time.Now().Add(time.Hour)) {
		t.Fatalf("stat = %+v", fi)
	}
	if got := read(t, b, "k/a.bin", 0); got != data {
		t.Fatalf("read %d bytes back, want the %d put", len(got), len(data))
	}
}

func testOpenAtOffset(t *testing.T, b backend.Backend) {
	put(t, b, "k/o", "0123456789")
	for _, tt := range []struct {
		offset int64
		want   string
	}{{0, "0123456789"}, {1, "123456789"}, {9, "9"}, {10, ""}, {25, ""}} {
		if got := read(t, b, "k/o", tt.offset); got != tt.want {
			t.Errorf("at %d read %q, want %q", tt.offset, got, tt.want)
		}
	}
	if _, err := b.Open(context.Background(), "k/o", -1, -1); err == nil || !backend.IsPermanent(err) {
		t.Errorf("negative offset: %v, want a permanent error", err)
	}
}

// testOpenRange checks the ranges of Backend.Open: a range is cut at the
// object's end (it yields what exists, never an error), a length of 0
// or an offset at or past the end yields nothing, and no range yields a
// byte more than its length.
func testOpenRange(t *testing.T, b backend.Backend) {
	put(t, b, "k/r", "0123456789")
	for _, tt := range []struct {
		offset, length int64
		want           string
	}{
		{0, -1, "0123456789"},
		{3, -7, "3456789"}, // any negative length: to the end
		{0, 10, "0123456789"},
		{0, 1, "0"},
		{2, 3, "234"},
		{9, 1, "9"},
		{7, 3, "789"}, // up to the end
		{7, 5, "789"}, // past the end: what exists
		{0, 50, "0123456789"},
		{3, 0, ""}, // length 0, inside
		{0, 0, ""},
		{10, 0, ""}, // at the end
		{10, 5, ""}, // starts at the end
		{25, 3, ""}, // starts past the end
		{25, 0, ""},
		{1, 1<<63 - 1, "123456789"}, // a length running past any offset
	} {
		if got := readRange(t, b, "k/r", tt.offset, tt.length); got != tt.want {
			t.Errorf("%d bytes at %d: read %q, want %q", tt.length, tt.offset, got, tt.want)
		}
	}
	if _, err := b.Open(context.Background(), "k/r", -1, 3); err == nil || !backend.IsPermanent(err) {
		t.Errorf("negative offset with a length: %v, want a permanent error", err)
	}
	// A range of the empty object is empty.
	put(t, b, "k/empty", "")
	for _, r := range [][2]int64{{0, 5}, {0, 0}, {3, 2}} {
		if got := readRange(t, b, "k/empty", r[0], r[1]); got != "" {
			t.Errorf("%d bytes at %d of the empty object: read %q", r[1], r[0], got)
		}
	}
}

// testOpenRangeLarge reads slices of an object larger than any buffer or
// frame on the way, and closes a ranged read before its end.
func testOpenRangeLarge(t *testing.T, b backend.Backend) {
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	put(t, b, "k/pack", string(data))
	for _, r := range [][2]int64{{0, 1}, {1 << 20, 300 << 10}, {123_457, 1<<20 + 17}, {3<<20 - 5000, 5000}, {3<<20 - 5000, 1 << 20}} {
		got := readRange(t, b, "k/pack", r[0], r[1])
		want := data[r[0]:min(r[0]+r[1], int64(len(data)))]
		if !bytes.Equal([]byte(got), want) {
			t.Errorf("%d bytes at %d: read %d bytes, not the %d of the object there", r[1], r[0], len(got), len(want))
		}
	}
	rc, err := b.Open(context.Background(), "k/pack", 1000, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(rc, buf); err != nil || !bytes.Equal(buf, data[1000:1000+4096]) {
		t.Fatalf("first bytes of a range: %v", err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("close a range before its end: %v", err)
	}
	// The backend is still of use after a read cut short.
	if got := readRange(t, b, "k/pack", 5, 10); got != string(data[5:15]) {
		t.Fatalf("after a closed range: read %q", got)
	}
}

func testEmptyObject(t *testing.T, b backend.Backend) {
	put(t, b, "empty", "")
	if got := read(t, b, "empty", 0); got != "" {
		t.Fatalf("read %q", got)
	}
	if fi, err := b.Stat(context.Background(), "empty"); err != nil || fi.Size != 0 {
		t.Fatalf("stat = %+v, %v", fi, err)
	}
}

func testPutNeverReplaces(t *testing.T, b backend.Backend) {
	put(t, b, "k/entry", "first")
	err := b.Put(context.Background(), "k/entry", backend.BytesSource([]byte("second, longer")))
	if !errors.Is(err, backend.ErrExist) {
		t.Fatalf("second put: %v, want ErrExist", err)
	}
	if backend.IsPermanent(err) || backend.IsNotExist(err) {
		t.Errorf("ErrExist sorted as a failure: permanent %v, not-exist %v", backend.IsPermanent(err), backend.IsNotExist(err))
	}
	if got := read(t, b, "k/entry", 0); got != "first" {
		t.Fatalf("object replaced: %q", got)
	}
	if got := objects(t, b, ""); !slices.Equal(got, []string{"k/entry 5"}) {
		t.Fatalf("objects %q: the refused put left something", got)
	}
}

func testConcurrentPuts(t *testing.T, b backend.Backend) {
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = b.Put(context.Background(), "k/raced", backend.BytesSource([]byte(fmt.Sprintf("writer %d", i))))
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both created the object", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, backend.ErrExist):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer created the object")
	}
	if got, want := read(t, b, "k/raced", 0), fmt.Sprintf("writer %d", winner); got != want {
		t.Fatalf("object holds %q, the winner wrote %q", got, want)
	}
	if got := objects(t, b, ""); len(got) != 1 {
		t.Fatalf("objects %q, want the one", got)
	}
}

// flaky fails once, halfway through, like a dropped connection.
type flaky struct {
	backend.Source
	failed bool
	read   int
}

func (f *flaky) Read(p []byte) (int, error) {
	if !f.failed && f.read > 0 {
		f.failed = true
		return 0, errors.New("connection reset")
	}
	n, err := f.Source.Read(p[:min(len(p), 1000)])
	f.read += n
	return n, err
}

func (f *flaky) Rewind() error {
	f.read = 0
	return f.Source.Rewind()
}

func testPutRetry(t *testing.T, b backend.Backend) {
	data := strings.Repeat("x", 10_000)
	src := &flaky{Source: backend.BytesSource([]byte(data))}
	if err := b.Put(context.Background(), "k/retried", src); err == nil {
		t.Fatal("put through a failing source succeeded")
	}
	if _, err := b.Stat(context.Background(), "k/retried"); !backend.IsNotExist(err) {
		t.Fatalf("failed put left an object: %v", err)
	}
	if got := objects(t, b, ""); len(got) != 0 {
		t.Fatalf("failed put left %q", got)
	}
	if err := b.Put(context.Background(), "k/retried", src); err != nil {
		t.Fatalf("retry with the same source: %v", err)
	}
	if got := read(t, b, "k/retried", 0); got != data {
		t.Fatalf("retried put stored %d bytes, want %d", len(got), len(data))
	}
}

// liar announces more bytes than it has.
type liar struct{ backend.Source }

func (l liar) Length() int64 { return l.Source.Length() + 1 }

func testPutLyingSource(t *testing.T, b backend.Backend) {
	if err := b.Put(context.Background(), "k/short", liar{backend.BytesSource([]byte("abc"))}); err == nil {
		t.Fatal("put of fewer bytes than announced succeeded")
	}
	if got := objects(t, b, ""); len(got) != 0 {
		t.Fatalf("failed put left %q", got)
	}
}

func testPutCancelled(t *testing.T, b backend.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Put(ctx, "k/cancelled", backend.BytesSource([]byte("x")))
	if !errors.Is(err, context.Canceled) || !backend.IsPermanent(err) {
		t.Fatalf("put with a cancelled context: %v", err)
	}
	if got := objects(t, b, ""); len(got) != 0 {
		t.Fatalf("cancelled put left %q", got)
	}
}

func testMissing(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	put(t, b, "k/there", "x")
	for _, name := range []string{"k/none", "none", "k/there/below"} {
		_, serr := b.Stat(ctx, name)
		_, oerr := b.Open(ctx, name, 0, -1)
		_, rerr := b.Open(ctx, name, 2, 3)
		_, zerr := b.Open(ctx, name, 0, 0)
		derr := b.Delete(ctx, name)
		for op, err := range map[string]error{"stat": serr, "open": oerr, "open a range": rerr, "open 0 bytes": zerr, "delete": derr} {
			if !backend.IsNotExist(err) || !backend.IsPermanent(err) {
				t.Errorf("%s of missing %s: %v, want a permanent not-exist error", op, name, err)
			}
		}
	}
	// A prefix is not an object.
	if _, err := b.Stat(ctx, "k"); !backend.IsNotExist(err) {
		t.Errorf("stat of a prefix: %v, want not-exist", err)
	}
}

func testInvalidNames(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	for _, name := range []string{"", "/abs", "a//b", "a/../b", "..", "./a", `a\b`, "a/", "a\x00b"} {
		err := b.Put(ctx, name, backend.BytesSource([]byte("x")))
		if !errors.Is(err, backend.ErrInvalidName) || !backend.IsPermanent(err) {
			t.Errorf("put %q: %v, want ErrInvalidName", name, err)
		}
		if _, err := b.Open(ctx, name, 0, -1); !errors.Is(err, backend.ErrInvalidName) {
			t.Errorf("open %q: %v, want ErrInvalidName", name, err)
		}
		if _, err := b.Open(ctx, name, 1, 0); !errors.Is(err, backend.ErrInvalidName) {
			t.Errorf("open 0 bytes of %q: %v, want ErrInvalidName", name, err)
		}
	}
	if got := objects(t, b, ""); len(got) != 0 {
		t.Fatalf("refused names left %q", got)
	}
}

func testList(t *testing.T, b backend.Backend) {
	put(t, b, "k1/entry.json", "{}")
	put(t, b, "k1/a.tar.zst", "aaaa")
	put(t, b, "k2/entry.json", "{ }")
	put(t, b, "k10/x", "x")
	put(t, b, "top", "t")
	for _, tt := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"k1/a.tar.zst 4", "k1/entry.json 2", "k10/x 1", "k2/entry.json 3", "top 1"}},
		{"k1/", []string{"k1/a.tar.zst 4", "k1/entry.json 2"}},
		{"k1", []string{"k1/a.tar.zst 4", "k1/entry.json 2", "k10/x 1"}},
		{"k1/e", []string{"k1/entry.json 2"}},
		{"k3/", nil},
		{"top/", nil},
	} {
		if got := objects(t, b, tt.prefix); !slices.Equal(got, tt.want) {
			t.Errorf("list %q:\n got %q\nwant %q", tt.prefix, got, tt.want)
		}
	}
}

func testListStops(t *testing.T, b backend.Backend) {
	for i := range 5 {
		put(t, b, fmt.Sprintf("k/%d", i), "x")
	}
	stop := errors.New("enough")
	calls := 0
	err := b.List(context.Background(), "", func(backend.ObjectInfo) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("list returned %v after %d calls, want fn's error after 1", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.List(ctx, "", func(backend.ObjectInfo) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("list with a cancelled context: %v", err)
	}
}

func testDelete(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	put(t, b, "k/entry.json", "{}")
	put(t, b, "k/a", "a")
	if err := b.Delete(ctx, "k/entry.json"); err != nil {
		t.Fatal(err)
	}
	if got := objects(t, b, ""); !slices.Equal(got, []string{"k/a 1"}) {
		t.Fatalf("after delete: %q", got)
	}
	if err := b.Delete(ctx, "k/a"); err != nil {
		t.Fatal(err)
	}
	// Markers of emptied folders may be listed; deleting them all leaves
	// nothing, and the name can be put again.
	var markers []string
	err := b.List(ctx, "", func(o backend.ObjectInfo) error {
		if !strings.HasSuffix(o.Name, "/") {
			return fmt.Errorf("%s still listed", o.Name)
		}
		markers = append(markers, o.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range markers {
		if err := b.Delete(ctx, m); err != nil {
			t.Fatalf("delete marker %s: %v", m, err)
		}
	}
	put(t, b, "k/entry.json", "{\"again\": true}")
	if got := read(t, b, "k/entry.json", 0); !bytes.Equal([]byte(got), []byte("{\"again\": true}")) {
		t.Fatalf("read %q", got)
	}
}
