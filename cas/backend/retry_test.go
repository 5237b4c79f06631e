package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/internal/treetest"
)

// errUnavailable is a transient error, as an HTTP backend reports a 503.
var errUnavailable = errors.New("503 service unavailable")

// faultBackend is a real backend with faults injected: the first
// failFirst calls of each operation fail with fail (errUnavailable when
// nil) before reaching the backend; the readers of the first cuts opens
// fail with a connection reset after cutAfter bytes; a Delete whose
// outcome is lost deletes, then fails.
type faultBackend struct {
	Backend
	failFirst    int
	fail         error
	cuts         int
	cutAfter     int64
	ignoreOffset bool // a broken server: reopens send the object from its start
	ignoreLength bool // a broken server: ranges run to the object's end
	lostDeletes  int  // the first lostDeletes Deletes delete, then fail
	listPartial  int  // the first failing List yields this many objects first

	mu      sync.Mutex
	calls   map[string]int
	offsets []int64 // of every Open that reached the backend
	lengths []int64 // and their lengths
}

func newFault(t *testing.T) *faultBackend {
	return &faultBackend{Backend: NewDirBackend(filepath.Join(t.TempDir(), "cache"), DirOptions{}), calls: map[string]int{}}
}

// call counts a call of op and returns the injected error, if any.
func (f *faultBackend) call(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.calls[op] <= f.failFirst {
		if f.fail != nil {
			return fmt.Errorf("%s: %w", op, f.fail)
		}
		return fmt.Errorf("%s: %w", op, errUnavailable)
	}
	return nil
}

func (f *faultBackend) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *faultBackend) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	if err := f.call("stat"); err != nil {
		return ObjectInfo{}, err
	}
	return f.Backend.Stat(ctx, name)
}

func (f *faultBackend) Put(ctx context.Context, name string, src Source) error {
	if err := f.call("put"); err != nil {
		return err
	}
	return f.Backend.Put(ctx, name, src)
}

func (f *faultBackend) Delete(ctx context.Context, name string) error {
	if err := f.call("delete"); err != nil {
		return err
	}
	err := f.Backend.Delete(ctx, name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && f.lostDeletes > 0 {
		f.lostDeletes--
		return fmt.Errorf("delete %s: %w", name, syscall.ECONNRESET)
	}
	return err
}

func (f *faultBackend) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	err := f.call("list")
	if err == nil {
		return f.Backend.List(ctx, prefix, fn)
	}
	// A listing that fails halfway: some names first.
	n := 0
	lerr := f.Backend.List(ctx, prefix, func(oi ObjectInfo) error {
		if n >= f.listPartial {
			return err
		}
		n++
		return fn(oi)
	})
	if lerr == nil {
		return err
	}
	return lerr
}

func (f *faultBackend) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if err := f.call("open"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.offsets = append(f.offsets, offset)
	f.lengths = append(f.lengths, length)
	cut := len(f.offsets) <= f.cuts
	if f.ignoreOffset {
		offset = 0
	}
	if f.ignoreLength {
		length = -1
	}
	f.mu.Unlock()
	rc, err := f.Backend.Open(ctx, name, offset, length)
	if err != nil || !cut {
		return rc, err
	}
	return &cutReader{rc: rc, left: f.cutAfter}, nil
}

// cutReader is a download whose connection drops after left bytes.
type cutReader struct {
	rc   io.ReadCloser
	left int64
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("read: %w", syscall.ECONNRESET)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutReader) Close() error { return c.rc.Close() }

// retryLog records what Retry did, without waiting.
type retryLog struct {
	mu      sync.Mutex
	waits   []time.Duration
	retries []string // "op name attempt"
}

func (l *retryLog) options(attempts int) RetryOptions {
	return RetryOptions{
		Attempts: attempts,
		Sleep: func(ctx context.Context, d time.Duration) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.waits = append(l.waits, d)
			return ctx.Err()
		},
		OnRetry: func(op, name string, attempt int, wait time.Duration, err error) {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.retries = append(l.retries, fmt.Sprintf("%s %s %d", op, name, attempt))
		},
	}
}

func putBytes(t *testing.T, b Backend, name string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), name, BytesSource(data)); err != nil {
		t.Fatal(err)
	}
}

// randomBytes are n bytes that compress badly, as an archive does.
func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Each operation, failing twice with a transient error, is tried a third
// time and succeeds; each retry is reported.
func TestRetryTransientThenSuccess(t *testing.T) {
	ops := []struct {
		op  string
		run func(ctx context.Context, b Backend) error
	}{
		{"stat", func(ctx context.Context, b Backend) error { _, err := b.Stat(ctx, "k/obj"); return err }},
		{"put", func(ctx context.Context, b Backend) error { return b.Put(ctx, "k/new", BytesSource([]byte("new"))) }},
		{"delete", func(ctx context.Context, b Backend) error { return b.Delete(ctx, "k/obj") }},
		{"list", func(ctx context.Context, b Backend) error {
			return b.List(ctx, "k/", func(ObjectInfo) error { return nil })
		}},
		{"open", func(ctx context.Context, b Backend) error {
			rc, err := b.Open(ctx, "k/obj", 0, -1)
			if err != nil {
				return err
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err == nil && string(got) != "object" {
				err = fmt.Errorf("read %q", got)
			}
			return err
		}},
	}
	for _, tt := range ops {
		t.Run(tt.op, func(t *testing.T) {
			f := newFault(t)
			putBytes(t, f.Backend, "k/obj", []byte("object"))
			f.failFirst = 2
			var log retryLog
			if err := tt.run(context.Background(), Retry(f, log.options(0))); err != nil {
				t.Fatalf("%s: %v", tt.op, err)
			}
			if n := f.count(tt.op); n != 3 {
				t.Errorf("%s reached the backend %d times, want 3", tt.op, n)
			}
			name := "k/obj"
			switch tt.op {
			case "put":
				name = "k/new"
			case "list":
				name = "k/"
			}
			want := []string{tt.op + " " + name + " 1", tt.op + " " + name + " 2"}
			if !slices.Equal(log.retries, want) {
				t.Errorf("retries reported: %q, want %q", log.retries, want)
			}
		})
	}
}

// What retrying cannot fix is tried once; ErrExist is an outcome.
func TestRetryPermanentErrorsTriedOnce(t *testing.T) {
	forbidden := Permanent(errors.New("403 forbidden"))
	tests := []struct {
		name string
		fail error // injected; nil: the backend's own error
		op   string
		run  func(ctx context.Context, b Backend) error
		want error
	}{
		{"marked permanent", forbidden, "stat", func(ctx context.Context, b Backend) error { _, err := b.Stat(ctx, "k/obj"); return err }, forbidden},
		{"permission", fs.ErrPermission, "open", func(ctx context.Context, b Backend) error { _, err := b.Open(ctx, "k/obj", 0, -1); return err }, fs.ErrPermission},
		{"missing object", nil, "stat", func(ctx context.Context, b Backend) error { _, err := b.Stat(ctx, "k/none"); return err }, fs.ErrNotExist},
		{"missing archive", nil, "open", func(ctx context.Context, b Backend) error { _, err := b.Open(ctx, "k/none", 0, -1); return err }, fs.ErrNotExist},
		{"missing on delete", nil, "delete", func(ctx context.Context, b Backend) error { return b.Delete(ctx, "k/none") }, fs.ErrNotExist},
		{"exists", nil, "put", func(ctx context.Context, b Backend) error { return b.Put(ctx, "k/obj", BytesSource([]byte("x"))) }, ErrExist},
		{"bad name", nil, "put", func(ctx context.Context, b Backend) error { return b.Put(ctx, "../x", BytesSource([]byte("x"))) }, ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFault(t)
			putBytes(t, f.Backend, "k/obj", []byte("object"))
			if tt.fail != nil {
				f.failFirst, f.fail = 100, tt.fail
			}
			var log retryLog
			err := tt.run(context.Background(), Retry(f, log.options(0)))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if n := f.count(tt.op); n != 1 || len(log.retries) != 0 {
				t.Errorf("%d tries, %d retries reported; want 1 try, none", n, len(log.retries))
			}
			if strings.Contains(err.Error(), "tried") {
				t.Errorf("a single try says it was retried: %v", err)
			}
		})
	}
}

// A transient error that does not go away is tried Attempts times, and
// the error says so and still matches what failed.
func TestRetryGivesUp(t *testing.T) {
	f := newFault(t)
	f.failFirst = 100
	var log retryLog
	_, err := Retry(f, log.options(4)).Stat(context.Background(), "k/obj")
	if !errors.Is(err, errUnavailable) || !strings.Contains(err.Error(), "tried 4 times") {
		t.Fatalf("err = %v, want the 503 after 4 tries", err)
	}
	if n := f.count("stat"); n != 4 || len(log.waits) != 3 {
		t.Errorf("%d tries and %d waits, want 4 and 3", n, len(log.waits))
	}
}

// The wait before each retry is a random part ("full jitter") of a
// ceiling that doubles from Base up to Max.
func TestRetryBackoff(t *testing.T) {
	for _, r := range []float64{0.999, 0.5, 0} {
		t.Run(fmt.Sprint(r), func(t *testing.T) {
			f := newFault(t)
			f.failFirst = 100
			var log retryLog
			o := log.options(8)
			o.Base, o.Max = 100*time.Millisecond, time.Second
			o.Rand = func() float64 { return r }
			_, err := Retry(f, o).Stat(context.Background(), "k/obj")
			if !errors.Is(err, errUnavailable) {
				t.Fatal(err)
			}
			var want []time.Duration
			for _, ceil := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
				want = append(want, time.Duration(r*float64(ceil*time.Millisecond)))
			}
			if !slices.Equal(log.waits, want) {
				t.Fatalf("waits %v, want %v", log.waits, want)
			}
			for i, w := range log.waits {
				if w > o.Max || (i > 0 && w < log.waits[i-1]) {
					t.Errorf("wait %d is %v: over Max, or shorter than the one before", i, w)
				}
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		r := Retry(newFault(t), RetryOptions{})
		for n := 1; n < 40; n++ {
			if w := r.backoff(n); w < 0 || w > DefaultRetryMax {
				t.Fatalf("wait after try %d: %v", n, w)
			}
		}
	})
}

// A context that ends during the wait ends it at once, with the real
// timer; a context done before the call makes no call.
func TestRetryCancelStopsBackoff(t *testing.T) {
	f := newFault(t)
	f.failFirst = 100
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := Retry(f, RetryOptions{Base: time.Hour, Max: time.Hour, Rand: func() float64 { return 0.9 },
		OnRetry: func(string, string, int, time.Duration, error) { cancel() }})
	start := time.Now()
	_, err := r.Stat(ctx, "k/obj")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v, want the cancel, naming the last error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the cancelled wait took %v", d)
	}
	if n := f.count("stat"); n != 1 {
		t.Errorf("%d tries, want 1", n)
	}
	if _, err := r.Stat(ctx, "k/obj"); !errors.Is(err, context.Canceled) || f.count("stat") != 1 {
		t.Errorf("a call with a done context: %v, %d tries in all", err, f.count("stat"))
	}
}

// A context that ends during a retry (a deadline, while the try waits
// on the network) names the error that made it a retry: the warning of a
// cache that refuses connections says so, not only that it was slow.
func TestRetryCutByTheContextNamesTheTryBefore(t *testing.T) {
	b := &ctxStat{Backend: newFault(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := Retry(b, RetryOptions{Sleep: func(context.Context, time.Duration) error { return nil },
		OnRetry: func(string, string, int, time.Duration, error) { cancel() }})
	_, err := r.Stat(ctx, "k/obj")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "(the try before: stat: 503") {
		t.Fatalf("err = %v, want the context's error naming the 503 of the try before", err)
	}
	if b.n != 2 {
		t.Errorf("%d tries, want 2", b.n)
	}
	// A first try cut by the context has no try before to name.
	b.n = 0
	if _, err := r.Stat(ctx, "k/obj"); !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "try before") || b.n != 0 {
		t.Errorf("a call with a done context: %v, %d tries", err, b.n)
	}
}

// ctxStat's Stat fails with its context's error once that is done, and
// with a 503 before.
type ctxStat struct {
	Backend
	n int
}

func (c *ctxStat) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	c.n++
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat: %w", err)
	}
	return ObjectInfo{}, fmt.Errorf("stat: %w", errUnavailable)
}

// A download cut twice mid-stream yields the exact bytes, resumed where
// each cut stopped; resuming counts its tries afresh once bytes flow.
func TestRetryResumesCutDownload(t *testing.T) {
	data := randomBytes(300_000)
	tests := []struct {
		name        string
		start       int64
		cuts        int
		cutAfter    int64
		attempts    int
		wantOffsets []int64
		wantErr     error
	}{
		{"twice", 0, 2, 100_000, 0, []int64{0, 100_000, 200_000}, nil},
		{"from an offset", 5000, 2, 100_000, 0, []int64{5000, 105_000, 205_000}, nil},
		// Many cuts, each after some bytes: never more than one failed
		// try in a row, so two attempts are plenty.
		{"cut often", 0, 29, 10_000, 2, nil, nil},
		// Cut before any byte, every time: the stretch gives up.
		{"no byte flows", 0, 100, 0, 3, []int64{0, 0, 0}, syscall.ECONNRESET},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFault(t)
			putBytes(t, f.Backend, "k/a.tar.zst", data)
			f.cuts, f.cutAfter = tt.cuts, tt.cutAfter
			var log retryLog
			rc, err := Retry(f, log.options(tt.attempts)).Open(context.Background(), "k/a.tar.zst", tt.start, -1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || len(got) != 0 {
					t.Fatalf("read %d bytes, err %v; want %v", len(got), err, tt.wantErr)
				}
			} else if err != nil || !bytes.Equal(got, data[tt.start:]) {
				t.Fatalf("read %d bytes (equal: %v), err %v", len(got), bytes.Equal(got, data[tt.start:]), err)
			}
			if tt.wantOffsets != nil && !slices.Equal(f.offsets, tt.wantOffsets) {
				t.Errorf("opened at %v, want %v", f.offsets, tt.wantOffsets)
			}
			if tt.cuts < 100 {
				if n := len(log.retries); n != tt.cuts {
					t.Errorf("%d retries reported, want %d", n, tt.cuts)
				}
				for i, off := range f.offsets[1:] {
					if off != tt.start+int64(i+1)*tt.cutAfter {
						t.Errorf("resume %d at %d, want %d", i, off, tt.start+int64(i+1)*tt.cutAfter)
					}
				}
			}
		})
	}
}

// A ranged read that is cut resumes with what is left of its range,
// never past its end, and is not reopened once its range is read.
func TestRetryResumesWithinTheRange(t *testing.T) {
	data := randomBytes(300_000)
	tests := []struct {
		name          string
		start, length int64
		cuts          int
		cutAfter      int64
		ignoreLength  bool
		wantOffsets   []int64
		wantLengths   []int64
		wantRetries   int
	}{
		{"inside", 5000, 250_000, 2, 100_000, false, []int64{5000, 105_000, 205_000}, []int64{250_000, 150_000, 50_000}, 2},
		// The second cut would come after the range's last byte: the
		// range is read, nothing is reopened.
		{"cut at the end", 0, 200_000, 2, 100_000, false, []int64{0, 100_000}, []int64{200_000, 100_000}, 1},
		// Past the object's end: what exists, resumed as such.
		{"past the end", 250_000, 100_000, 1, 20_000, false, []int64{250_000, 270_000}, []int64{100_000, 80_000}, 1},
		// A backend that sends more than asked: the reader stops at the
		// end of the range all the same.
		{"backend sends more", 1000, 150_000, 1, 100_000, true, []int64{1000, 101_000}, []int64{150_000, 50_000}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFault(t)
			putBytes(t, f.Backend, "k/pack", data)
			f.cuts, f.cutAfter, f.ignoreLength = tt.cuts, tt.cutAfter, tt.ignoreLength
			var log retryLog
			rc, err := Retry(f, log.options(0)).Open(context.Background(), "k/pack", tt.start, tt.length)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			want := data[tt.start:min(tt.start+tt.length, int64(len(data)))]
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes (equal: %v), err %v; want the %d of the range", len(got), bytes.Equal(got, want), err, len(want))
			}
			if !slices.Equal(f.offsets, tt.wantOffsets) || !slices.Equal(f.lengths, tt.wantLengths) {
				t.Errorf("opened at %v for %v, want at %v for %v", f.offsets, f.lengths, tt.wantOffsets, tt.wantLengths)
			}
			if n := len(log.retries); n != tt.wantRetries {
				t.Errorf("%d retries reported, want %d", n, tt.wantRetries)
			}
		})
	}
}

// A reader that resumes gives the transfer slot back while it waits.
func TestRetryReleasesSlotWhileWaiting(t *testing.T) {
	f := newFault(t)
	putBytes(t, f.Backend, "k/a", randomBytes(1000))
	putBytes(t, f.Backend, "k/b", []byte("other"))
	f.cuts, f.cutAfter = 1, 10
	limited := LimitTransfers(f, 1)
	var r *Retrying
	var other []byte
	o := RetryOptions{Sleep: func(ctx context.Context, d time.Duration) error {
		// Waiting to resume k/a: the one slot is free for k/b.
		rc, err := limited.Open(ctx, "k/b", 0, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		other, err = io.ReadAll(rc)
		return err
	}}
	r = Retry(limited, o)
	rc, err := r.Open(context.Background(), "k/a", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || len(got) != 1000 {
		t.Fatalf("read %d bytes: %v", len(got), err)
	}
	if string(other) != "other" {
		t.Fatalf("the other transfer read %q", other)
	}
}

// A real archive, fetched through a reader cut twice, unpacks and
// verifies; a server that resumes from the wrong place is caught by the
// digest.
func TestRetryUnpackThroughCutReader(t *testing.T) {
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	a, err := archive.PackFile(t.TempDir(), src, archive.PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name         string
		ignoreOffset bool
	}{{"resumed", false}, {"resumed from the start by a broken server", true}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFault(t)
			r := Retry(f, RetryOptions{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
			putBytes(t, f.Backend, "k/archive", data)
			f.mu.Lock()
			f.cuts, f.cutAfter, f.offsets, f.ignoreOffset = 2, a.Size/3, nil, tt.ignoreOffset
			f.mu.Unlock()
			rc, err := r.Open(context.Background(), "k/archive", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			dest := t.TempDir()
			t.Cleanup(func() { treetest.MakeRemovable(dest) })
			_, err = archive.Unpack(rc, dest, a.Digest, archive.UnpackOptions{})
			if tt.ignoreOffset {
				if !errors.Is(err, archive.ErrCorrupt) {
					t.Fatalf("unpack of a badly resumed stream: %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := []int64{0, a.Size / 3, 2 * (a.Size / 3)}; !slices.Equal(f.offsets, want) {
				t.Errorf("opened at %v, want %v", f.offsets, want)
			}
			treetest.DiffSnapshots(t, treetest.Snapshot(t, src, false), treetest.Snapshot(t, dest, false))
		})
	}
}

// A stalled read (Idle below Retry) is resumed; a Stat that stalls is
// tried twice, and the error is still ErrStalled, which materialize
// reads as an unreachable cache.
func TestRetryStalls(t *testing.T) {
	data := randomBytes(50_000)
	f := newFault(t)
	putBytes(t, f.Backend, "k/a", data)
	s := &stallOnce{Backend: f, stallStat: make(chan struct{})}
	t.Cleanup(func() { close(s.stallStat) })
	var log retryLog
	r := Retry(IdleTimeout(s, 50*time.Millisecond), log.options(0))

	rc, err := r.Open(context.Background(), "k/a", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes after a stall: %v", len(got), err)
	}
	if !slices.Equal(f.offsets, []int64{0, 1000}) {
		t.Errorf("opened at %v, want [0 1000]", f.offsets)
	}

	_, err = r.Stat(context.Background(), "k/a")
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "tried 2 times") {
		t.Fatalf("stalled stat: %v, want ErrStalled after 2 tries", err)
	}
}

// stallOnce stalls the first reader after 1000 bytes, and every Stat.
type stallOnce struct {
	Backend
	stallStat chan struct{}
	opens     int
}

func (s *stallOnce) Stat(ctx context.Context, name string) (ObjectInfo, error) {
	<-s.stallStat
	return ObjectInfo{}, errors.New("too late")
}

func (s *stallOnce) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := s.Backend.Open(ctx, name, offset, length)
	s.opens++
	if err != nil || s.opens > 1 {
		return rc, err
	}
	head := make([]byte, 1000)
	if _, err := io.ReadFull(rc, head); err != nil {
		return nil, err
	}
	rc.Close()
	return &blockingReader{head: head, closed: make(chan struct{}), started: func() {}}, nil
}

// A listing retried after it failed halfway calls fn once per name; an
// error from fn ends it without a retry.
func TestRetryListDedupe(t *testing.T) {
	f := newFault(t)
	var want []string
	for i := range 6 {
		name := fmt.Sprintf("k/%d", i)
		putBytes(t, f.Backend, name, []byte("x"))
		want = append(want, name)
	}
	f.failFirst, f.listPartial = 2, 3
	var log retryLog
	r := Retry(f, log.options(0))
	var got []string
	if err := r.List(context.Background(), "k/", func(oi ObjectInfo) error {
		got = append(got, oi.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) || f.count("list") != 3 {
		t.Fatalf("fn saw %v in %d listings, want %v in 3", got, f.count("list"), want)
	}

	stop := errors.New("enough")
	f.calls["list"], f.failFirst = 0, 0
	calls := 0
	err := r.List(context.Background(), "k/", func(ObjectInfo) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 || f.count("list") != 1 {
		t.Fatalf("fn's error: %v after %d calls, %d listings", err, calls, f.count("list"))
	}
}

// A Delete whose answer was lost is retried, and the retry finding the
// object gone is a success; a missing object on the first try is not.
func TestRetryDeleteAfterLostAnswer(t *testing.T) {
	f := newFault(t)
	putBytes(t, f.Backend, "k/obj", []byte("x"))
	f.lostDeletes = 1
	r := Retry(f, (&retryLog{}).options(0))
	if err := r.Delete(context.Background(), "k/obj"); err != nil {
		t.Fatalf("delete after a lost answer: %v", err)
	}
	if n := f.count("delete"); n != 2 {
		t.Errorf("%d tries, want 2", n)
	}
	if _, err := f.Backend.Stat(context.Background(), "k/obj"); !IsNotExist(err) {
		t.Errorf("the object is still there: %v", err)
	}
	if err := r.Delete(context.Background(), "k/obj"); !IsNotExist(err) {
		t.Errorf("delete of a missing object: %v, want not-exist", err)
	}
}

// Stack wraps as its doc says, with the number of transfers given, and
// retries through the whole stack.
func TestStack(t *testing.T) {
	f := newFault(t)
	putBytes(t, f.Backend, "k/obj", []byte("object"))
	f.failFirst = 1
	var log retryLog
	b := Stack(f, StackOptions{Transfers: 3, Retry: log.options(0)})
	r, ok := b.(*Retrying)
	if !ok {
		t.Fatalf("outermost wrapper: %T, want *Retrying", b)
	}
	l, ok := r.Unwrap().(*Limited)
	if !ok || cap(l.tokens) != 3 {
		t.Fatalf("under Retry: %T, want *Limited with 3 slots", r.Unwrap())
	}
	if _, ok := l.Unwrap().(*Idle); !ok {
		t.Fatalf("under Limited: %T, want *Idle", l.Unwrap())
	}
	if got, ok := AsBackend[*faultBackend](b); !ok || got != f {
		t.Fatal("the backend is not found under the wrappers")
	}
	if _, err := b.Stat(context.Background(), "k/obj"); err != nil || len(log.retries) != 1 {
		t.Fatalf("stat through the stack: %v, retries %q", err, log.retries)
	}
	d := Stack(NewDirBackend(t.TempDir(), DirOptions{}), StackOptions{})
	if l, ok := AsBackend[*Limited](d); !ok || cap(l.tokens) != DefaultTransfers {
		t.Fatal("the default stack has no Limited with the default transfers")
	}
}
