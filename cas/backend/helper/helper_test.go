package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/backend/backendtest"
)

// pipeHelper runs Serve in this process, at the other end of two pipes:
// the client and the helper as they talk over a process's stdin and
// stdout, without the process.
type pipeHelper struct {
	toHelper   *io.PipeWriter // the client writes, Serve reads
	fromHelper *io.PipeReader // Serve writes, the client reads
	helperOut  *io.PipeWriter // Serve's end of fromHelper
	served     chan error
	once       sync.Once
	result     error
}

func (p *pipeHelper) Read(b []byte) (int, error)  { return p.fromHelper.Read(b) }
func (p *pipeHelper) Write(b []byte) (int, error) { return p.toHelper.Write(b) }
func (p *pipeHelper) name() string                { return "the pipe helper" }

// close ends Serve's input and waits for it to return.
func (p *pipeHelper) close() error {
	p.once.Do(func() {
		p.toHelper.Close()
		select {
		case p.result = <-p.served:
		case <-time.After(2 * shutdownWait):
			p.result = errors.New("Serve did not return after its input ended")
		}
		p.fromHelper.Close()
	})
	if errors.Is(p.result, io.ErrClosedPipe) {
		return nil // what Serve was writing when its client went
	}
	return p.result
}

func (p *pipeHelper) kill() {
	p.fromHelper.CloseWithError(errors.New("killed"))
	p.close()
}

// crash ends the helper's output, as a helper that dies.
func (p *pipeHelper) crash() { p.helperOut.CloseWithError(io.EOF) }

func (p *pipeHelper) ended(err error) error {
	return fmt.Errorf("the pipe helper ended (%v)", err)
}

// rig is a client over pipe helpers serving one backend; it counts the
// helpers it starts.
type rig struct {
	*Client
	mu      sync.Mutex
	helpers []*pipeHelper
}

func (r *rig) started() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.helpers)
}

func (r *rig) last() *pipeHelper {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.helpers[len(r.helpers)-1]
}

func newRig(t *testing.T, b backend.Backend, clientVersion, helperVersion string, open func() (backend.Backend, error)) *rig {
	t.Helper()
	r := &rig{}
	if open == nil {
		open = func() (backend.Backend, error) { return b, nil }
	}
	r.Client = newClient("pipe://"+t.Name(), clientVersion, 10*time.Second, func(ctx context.Context) (transport, error) {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		p := &pipeHelper{toHelper: inW, fromHelper: outR, helperOut: outW, served: make(chan error, 1)}
		go func() {
			err := Serve(context.Background(), inR, outW, ServeOptions{Version: helperVersion, Open: open})
			outW.CloseWithError(io.EOF)
			inR.Close()
			p.served <- err
		}()
		r.mu.Lock()
		r.helpers = append(r.helpers, p)
		r.mu.Unlock()
		return p, nil
	})
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return r
}

func dirRig(t *testing.T) (*rig, *backend.DirBackend) {
	t.Helper()
	b := backend.NewDirBackend(t.TempDir(), backend.DirOptions{})
	return newRig(t, b, "1.0.0", "1.0.0", nil), b
}

// The suite every backend passes, through a client and Serve: the
// directory backend behaves as it does in the process.
func TestSuite(t *testing.T) {
	t.Parallel()
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		r, _ := dirRig(t)
		return r
	})
}

// The client starts nothing until its first operation, and one helper
// serves every operation after.
func TestStartsOnFirstUse(t *testing.T) {
	t.Parallel()
	r, dir := dirRig(t)
	if n := r.started(); n != 0 {
		t.Fatalf("%d helpers started before any operation", n)
	}
	if err := dir.Put(t.Context(), "k/a", backend.BytesSource([]byte("a"))); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := r.Stat(t.Context(), "k/a"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := r.started(); n != 1 {
		t.Fatalf("%d helpers started, want 1", n)
	}
}

// kindsBackend fails every operation with err.
type kindsBackend struct {
	backend.Backend
	err error
}

func (b kindsBackend) Stat(context.Context, string) (backend.ObjectInfo, error) {
	return backend.ObjectInfo{}, b.err
}

func (b kindsBackend) Open(context.Context, string, int64, int64) (io.ReadCloser, error) {
	return nil, b.err
}

func (b kindsBackend) Put(context.Context, string, backend.Source) error { return b.err }
func (b kindsBackend) Delete(context.Context, string) error              { return b.err }
func (b kindsBackend) List(context.Context, string, func(backend.ObjectInfo) error) error {
	return b.err
}

// Errors keep across the pipe what callers branch on: whether they are
// permanent, and which sentinel they match.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	transient := errors.New("GET https://h/k/a: 503 Service Unavailable")
	tests := []struct {
		name string
		err  error
		is   []error
	}{
		{"transient", transient, nil},
		{"stalled", fmt.Errorf("read k/a: %w", backend.ErrStalled), []error{backend.ErrStalled}},
		{"not exist", fmt.Errorf("stat k/a: %w", fs.ErrNotExist), []error{fs.ErrNotExist}},
		{"exist", fmt.Errorf("put k/a: %w", backend.ErrExist), []error{backend.ErrExist, fs.ErrExist}},
		{"permission", fmt.Errorf("PUT https://h/k/a: 403 Forbidden: %w", fs.ErrPermission), []error{fs.ErrPermission}},
		{"invalid name", fmt.Errorf("put %q: %w", "a//b", backend.ErrInvalidName), []error{backend.ErrInvalidName}},
		{"not regular", fmt.Errorf("open k/a: %w", backend.ErrNotRegular), []error{backend.ErrNotRegular}},
		{"marked permanent", backend.Permanent(fmt.Errorf("put k/a: %w", syscall.ENOSPC)), nil},
		{"cancelled", fmt.Errorf("list k/: %w", context.Canceled), []error{context.Canceled}},
		{"deadline", fmt.Errorf("list k/: %w", context.DeadlineExceeded), []error{context.DeadlineExceeded}},
		{"unsupported", fmt.Errorf("open cache x://y: %w", backend.ErrUnsupported), []error{errors.ErrUnsupported}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, kindsBackend{err: tt.err}, "1.0.0", "1.0.0", nil)
			ctx := t.Context()
			_, serr := r.Stat(ctx, "k/a")
			_, oerr := r.Open(ctx, "k/a", 0, -1)
			perr := r.Put(ctx, "k/a", backend.BytesSource([]byte("x")))
			derr := r.Delete(ctx, "k/a")
			lerr := r.List(ctx, "k/", func(backend.ObjectInfo) error { return nil })
			for op, err := range map[string]error{"stat": serr, "open": oerr, "put": perr, "delete": derr, "list": lerr} {
				if err == nil || err.Error() != tt.err.Error() {
					t.Errorf("%s: %v, want the message %q", op, err, tt.err)
				}
				for _, want := range tt.is {
					if !errors.Is(err, want) {
						t.Errorf("%s: %v does not match %v", op, err, want)
					}
				}
				if got, want := backend.IsPermanent(err), backend.IsPermanent(tt.err); got != want {
					t.Errorf("%s: permanent %v, want %v", op, got, want)
				}
				if got, want := backend.IsNotExist(err), backend.IsNotExist(tt.err); got != want {
					t.Errorf("%s: not-exist %v, want %v", op, got, want)
				}
			}
		})
	}
}

// gated is a directory backend whose Stat, List and Open bodies block
// until their context ends, saying so on ended: what a request cancelled
// in the client must see in the helper.
type gated struct {
	*backend.DirBackend
	started, ended chan string
}

func newGated(t *testing.T) *gated {
	return &gated{DirBackend: backend.NewDirBackend(t.TempDir(), backend.DirOptions{}), started: make(chan string, 4), ended: make(chan string, 4)}
}

func (g *gated) Stat(ctx context.Context, name string) (backend.ObjectInfo, error) {
	if name == "block" {
		g.started <- "stat"
		<-ctx.Done()
		g.ended <- "stat"
		return backend.ObjectInfo{}, ctx.Err()
	}
	return g.DirBackend.Stat(ctx, name)
}

func (g *gated) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if name == "block" {
		return &blockedBody{ctx: ctx, g: g}, nil
	}
	return g.DirBackend.Open(ctx, name, offset, length)
}

func (g *gated) List(ctx context.Context, prefix string, fn func(backend.ObjectInfo) error) error {
	// Objects without end, until fn or the context stops it.
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			g.ended <- "list"
			return err
		}
		if err := fn(backend.ObjectInfo{Name: fmt.Sprintf("k/%d", i), Size: 1, ModTime: time.Now()}); err != nil {
			g.ended <- "list"
			return err
		}
	}
}

type blockedBody struct {
	ctx context.Context
	g   *gated
}

func (b *blockedBody) Read([]byte) (int, error) {
	<-b.ctx.Done()
	b.g.ended <- "open"
	return 0, b.ctx.Err()
}

func (b *blockedBody) Close() error { return nil }

func waitFor(t *testing.T, ch chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("%s ended in the helper, want %s", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("waited 10s for %s in the helper", want)
	}
}

// A done context, a body's Close and an error from List's fn each end
// the request in the helper too.
func TestCancelReachesTheHelper(t *testing.T) {
	t.Parallel()
	g := newGated(t)
	r := newRig(t, g, "1.0.0", "1.0.0", nil)

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := r.Stat(ctx, "block")
		errc <- err
	}()
	waitFor(t, g.started, "stat")
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled stat: %v", err)
	}
	waitFor(t, g.ended, "stat")

	rc, err := r.Open(t.Context(), "block", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := rc.Read(make([]byte, 10))
		readErr <- err
	}()
	rc.Close()
	waitFor(t, g.ended, "open")
	if err := <-readErr; err == nil {
		t.Error("a read of a closed body succeeded")
	}

	stop := errors.New("enough")
	n := 0
	err = r.List(t.Context(), "", func(backend.ObjectInfo) error {
		if n++; n == 10_000 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("list: %v, want fn's error", err)
	}
	waitFor(t, g.ended, "list")

	// The helper still serves.
	if _, err := r.Stat(t.Context(), "none"); !backend.IsNotExist(err) {
		t.Errorf("stat after the cancels: %v", err)
	}
}

// A body nobody reads holds up nothing: the helper sends a window of it,
// and other requests, a whole download among them, go on meanwhile.
func TestSlowReaderHoldsUpNothing(t *testing.T) {
	t.Parallel()
	r, dir := dirRig(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB, four windows
	for _, name := range []string{"k/big", "k/other"} {
		if err := dir.Put(t.Context(), name, backend.BytesSource(big)); err != nil {
			t.Fatal(err)
		}
	}
	idle, err := r.Open(t.Context(), "k/big", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rc, err := r.Open(ctx, "k/other", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the other download: %d bytes, %v", len(got), err)
	}
	if _, err := r.Stat(ctx, "k/big"); err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(idle)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the body read last: %d bytes, %v", len(got), err)
	}
}

// recording records the type of each source Put gets.
type recording struct {
	*backend.DirBackend
	mu   sync.Mutex
	srcs []string
}

func (b *recording) Put(ctx context.Context, name string, src backend.Source) error {
	b.mu.Lock()
	b.srcs = append(b.srcs, fmt.Sprintf("%T", src))
	b.mu.Unlock()
	return b.DirBackend.Put(ctx, name, src)
}

// A file goes by its path, which the helper opens itself; a file that
// changed size since it was opened is refused.
func TestPutFileByPath(t *testing.T) {
	t.Parallel()
	rec := &recording{DirBackend: backend.NewDirBackend(t.TempDir(), backend.DirOptions{})}
	r := newRig(t, rec, "1.0.0", "1.0.0", nil)
	path := filepath.Join(t.TempDir(), "a.tar.zst")
	data := bytes.Repeat([]byte("z"), 300_000)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := backend.OpenFileSource(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := r.Put(t.Context(), "k/a.tar.zst", src); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	got := strings.Join(rec.srcs, " ")
	rec.mu.Unlock()
	if got != "*backend.FileSource" {
		t.Errorf("the helper's Put got %s, want the file itself", got)
	}
	if fi, err := r.Stat(t.Context(), "k/a.tar.zst"); err != nil || fi.Size != int64(len(data)) {
		t.Errorf("stat after put: %+v, %v", fi, err)
	}
	if err := os.WriteFile(path, data[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	err = r.Put(t.Context(), "k/b.tar.zst", src)
	if err == nil || !backend.IsPermanent(err) || backend.IsNotExist(err) {
		t.Errorf("put of a file that changed: %v, want a permanent error", err)
	}
}

// A helper of another version, or one that cannot open the location,
// fails every operation with one permanent error, and is not started
// again for each.
func TestRefusedHelper(t *testing.T) {
	t.Parallel()
	dir := backend.NewDirBackend(t.TempDir(), backend.DirOptions{})
	mismatch := newRig(t, dir, "1.4.0", "1.3.0", nil)
	badURL := newRig(t, nil, "1.0.0", "1.0.0", func() (backend.Backend, error) {
		return nil, errors.New(`cache URL https://u:p@h/c: credentials in the URL would be printed in messages`)
	})
	for _, tt := range []struct {
		r    *rig
		want string
	}{
		{mismatch, fmt.Sprintf("is version 1.3.0 (protocol %d), not 1.4.0 (protocol %[1]d): install rezup-net from the same release as rezup", Protocol)},
		{badURL, "credentials in the URL"},
	} {
		for range 3 {
			_, err := tt.r.Stat(t.Context(), "k/a")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !backend.IsPermanent(err) || strings.Contains(err.Error(), "\n") {
				t.Errorf("stat: %v, want one permanent line saying %q", err, tt.want)
			}
		}
		if n := tt.r.started(); n != 1 {
			t.Errorf("%d helpers started for three operations, want 1", n)
		}
	}
}

// A client of protocol 1, before ranged opens, is refused in the
// handshake: it would take a ranged open's Length for absent.
func TestServeRefusesProtocol1(t *testing.T) {
	t.Parallel()
	var in, out bytes.Buffer
	hello, _ := json.Marshal(helloMsg{Protocol: 1, Version: "1.0.0"})
	if err := (&frameWriter{w: &in}).write(frameHello, 0, hello); err != nil {
		t.Fatal(err)
	}
	opened := false
	err := Serve(t.Context(), &in, &out, ServeOptions{Version: "1.0.0", Open: func() (backend.Backend, error) {
		opened = true
		return backend.NewDirBackend(t.TempDir(), backend.DirOptions{}), nil
	}})
	if err == nil || !backend.IsPermanent(err) || opened {
		t.Fatalf("Serve for a protocol 1 client: %v (backend opened: %v), want a permanent refusal", err, opened)
	}
	var hdr [headerLen]byte
	f, err := readFrame(&out, &hdr)
	if err != nil {
		t.Fatal(err)
	}
	var answer helloMsg
	if err := json.Unmarshal(f.payload, &answer); err != nil || f.typ != frameHello {
		t.Fatalf("answer %q: %v", f.payload, err)
	}
	want := fmt.Sprintf("the client speaks protocol 1, rezup-net 1.0.0 speaks %d", Protocol)
	if answer.Protocol != Protocol || answer.Error == nil || answer.Error.Msg != want {
		t.Fatalf("answer %+v, want protocol %d and the error %q", answer, Protocol, want)
	}
}

// rangeLog records the ranges its Opens are asked for; with sloppy, it
// sends the rest of the object whatever the length, as a helper that
// ignored it would.
type rangeLog struct {
	*backend.DirBackend
	sloppy bool
	mu     sync.Mutex
	asked  [][2]int64
}

func (b *rangeLog) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	b.mu.Lock()
	b.asked = append(b.asked, [2]int64{offset, length})
	b.mu.Unlock()
	if b.sloppy {
		length = -1
	}
	return b.DirBackend.Open(ctx, name, offset, length)
}

// A range crosses the pipe as asked (no length is the rest of the
// object), and the client never yields more than the length it asked
// for, whatever the helper sends.
func TestRangeCrossesThePipe(t *testing.T) {
	t.Parallel()
	for _, sloppy := range []bool{false, true} {
		b := &rangeLog{DirBackend: backend.NewDirBackend(t.TempDir(), backend.DirOptions{}), sloppy: sloppy}
		r := newRig(t, b, "1.0.0", "1.0.0", nil)
		data := bytes.Repeat([]byte("0123456789"), 50_000)
		if err := r.Put(t.Context(), "k/pack", backend.BytesSource(data)); err != nil {
			t.Fatal(err)
		}
		for _, rg := range [][2]int64{{0, -1}, {7, -1}, {3, 5}, {0, 300_000}, {10, 0}} {
			rc, err := r.Open(t.Context(), "k/pack", rg[0], rg[1])
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			end := int64(len(data))
			if rg[1] >= 0 {
				end = rg[0] + rg[1]
			}
			if err != nil || !bytes.Equal(got, data[rg[0]:end]) {
				t.Errorf("sloppy %v: %d bytes at %d: read %d bytes, %v; want %d", sloppy, rg[1], rg[0], len(got), err, end-rg[0])
			}
		}
		b.mu.Lock()
		want := [][2]int64{{0, -1}, {7, -1}, {3, 5}, {0, 300_000}, {10, 0}}
		if fmt.Sprint(b.asked) != fmt.Sprint(want) {
			t.Errorf("sloppy %v: the helper's backend was asked for %v, want %v", sloppy, b.asked, want)
		}
		b.mu.Unlock()
	}
}

// A helper that dies fails what was in flight with a transient error, and
// the next operation starts another.
func TestHelperDies(t *testing.T) {
	t.Parallel()
	g := newGated(t)
	r := newRig(t, g, "1.0.0", "1.0.0", nil)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Stat(t.Context(), "block")
		errc <- err
	}()
	waitFor(t, g.started, "stat")
	r.last().crash()
	select {
	case err := <-errc:
		if err == nil || backend.IsPermanent(err) {
			t.Errorf("stat in flight when the helper died: %v, want a transient error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stat in flight still waits 10s after the helper died")
	}
	if _, err := r.Stat(t.Context(), "none"); !backend.IsNotExist(err) {
		t.Errorf("stat after the death: %v, want not-exist from a new helper", err)
	}
	if n := r.started(); n != 2 {
		t.Errorf("%d helpers started, want 2", n)
	}
}

// Close ends the helper (Serve returns); later operations fail at once.
func TestClose(t *testing.T) {
	t.Parallel()
	r, _ := dirRig(t)
	if _, err := r.Stat(t.Context(), "none"); !backend.IsNotExist(err) {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.last().served:
		t.Fatal("Serve's result was not taken by close")
	default:
	}
	if r.last().result != nil {
		t.Errorf("Serve returned %v", r.last().result)
	}
	_, err := r.Stat(t.Context(), "none")
	if !errors.Is(err, errClosed) || !backend.IsPermanent(err) {
		t.Errorf("stat after close: %v", err)
	}
	if n := r.started(); n != 1 {
		t.Errorf("%d helpers started, want 1", n)
	}
}
