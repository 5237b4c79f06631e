package cache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rezup/rezup/cas"
	"github.com/rezup/rezup/cas/archive"
	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/internal/treetest"
)

// A read of an archive is capped at the size its entry states: a body that
// goes on (a valid archive followed by endless data) is refused as
// corrupt, and one that ends short is a broken transfer.
func TestOpenCapsTheBody(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	c := newCacheIn(dir)
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	e, err := c.Publish(context.Background(), testEntry(cas.KeyOf([]byte("capped"))), packArchive(t, src, archive.PackOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, archiveName(e.Key, e.Digest))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"longer", append(bytes.Clone(good), bytes.Repeat([]byte{0x50, 0x2a, 0x4d, 0x18}, 1000)...), archive.ErrCorrupt},
		{"shorter", good[:len(good)/2], io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Chmod(path, 0o644)
			if err := os.WriteFile(path, tc.body, 0o644); err != nil {
				t.Fatal(err)
			}
			rc, err := c.Open(context.Background(), e)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if !errors.Is(err, tc.want) || len(got) > len(good) {
				t.Fatalf("read %d bytes (the archive is %d), error %v; want %v", len(got), len(good), err, tc.want)
			}
		})
	}
}

// trickle is a backend whose objects come a byte at a time, with a pause
// before each: never stalled long enough for the idle timeout, yet slower
// than any cache should be.
type trickle struct {
	backend.Backend
	pause time.Duration
}

func (b trickle) Open(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := b.Backend.Open(ctx, name, offset, length)
	if err != nil {
		return nil, err
	}
	return &trickleReader{rc, b.pause}, nil
}

type trickleReader struct {
	io.ReadCloser
	pause time.Duration
}

func (r *trickleReader) Read(p []byte) (int, error) {
	time.Sleep(r.pause) // the server's pace, not a wait for a state
	return r.ReadCloser.Read(p[:min(len(p), 1)])
}

// Every read of the cache has an overall deadline: the idle timeout plus
// its size at the minimum rate. A server that trickles is given up on
// within it, with ErrTooSlow, archives and entry.json alike.
func TestReadsAreBoundedInTime(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	src := t.TempDir()
	treetest.WriteTree(t, src, treetest.SampleTree())
	e, err := newCacheIn(dir).Publish(context.Background(), testEntry(cas.KeyOf([]byte("slow"))), packArchive(t, src, archive.PackOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	reg := backend.NewRegistry()
	reg.Register("slow", func(string) (backend.Backend, error) {
		return trickle{backend.NewDirBackend(dir, backend.DirOptions{}), 2 * time.Millisecond}, nil
	})
	c, err := OpenWith("slow://x", OpenOptions{Schemes: reg, StackOptions: backend.StackOptions{IdleTimeout: 200 * time.Millisecond}, MinRate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rc, err := c.Open(context.Background(), e)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	// The archive is a few KB: at 1000 bytes/s, it may take a few
	// seconds, plus the 200 ms grace; at a byte each 2 ms, it would take
	// far longer.
	limit := 200*time.Millisecond + time.Duration(float64(e.Size)/1000*float64(time.Second))
	if !errors.Is(err, ErrTooSlow) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("trickled archive: %v, want ErrTooSlow", err)
	}
	if took := time.Since(start); took > limit+5*time.Second {
		t.Errorf("gave up after %v, the bound is %v", took, limit)
	}
	// entry.json, under a kilobyte, is read within the time of 64 KiB:
	// here 0.2 s plus 64 KiB at 100 KB/s; at 20 ms a byte it would take
	// seconds.
	reg.Register("slower", func(string) (backend.Backend, error) {
		return trickle{backend.NewDirBackend(dir, backend.DirOptions{}), 20 * time.Millisecond}, nil
	})
	c, err = OpenWith("slower://x", OpenOptions{Schemes: reg, StackOptions: backend.StackOptions{IdleTimeout: 200 * time.Millisecond}, MinRate: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := c.Lookup(context.Background(), e.Key); !errors.Is(err, ErrTooSlow) {
		t.Errorf("trickled entry.json: %v, want ErrTooSlow", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("entry.json given up after %v", took)
	}
}
