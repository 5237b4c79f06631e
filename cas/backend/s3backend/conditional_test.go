package s3backend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/rezup/rezup/cas/backend"
	"github.com/rezup/rezup/cas/backend/s3backend"
)

// The HEAD before a PUT narrows the race but does not close it: the
// If-None-Match header must, alone, let exactly one of many racing
// writers create the object, and leave its bytes alone.
func TestConditionalPutAloneIsExclusive(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, newBucket(t), "p", options(server(t)))
	const n = 12
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s3backend.PutWithoutStat(b, ctx, "k/raced", backend.BytesSource(fmt.Appendf(nil, "writer %02d", i)))
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
			t.Fatalf("writer %d: %v, want ErrExist", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer created the object")
	}
	if err := s3backend.PutWithoutStat(b, ctx, "k/raced", backend.BytesSource([]byte("late writer"))); !errors.Is(err, backend.ErrExist) {
		t.Fatalf("a late conditional put: %v, want ErrExist", err)
	}
	rc, err := b.Open(ctx, "k/raced", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("writer %02d", winner); string(got) != want {
		t.Fatalf("object holds %q, the winner wrote %q", got, want)
	}
}

// A source with more bytes than its Length is refused before the store
// has them all, so nothing is created (the suite checks the short case).
func TestPutOfALongSource(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, newBucket(t), "", options(server(t)))
	err := b.Put(ctx, "k/long", long{backend.BytesSource([]byte("abcd"))})
	if err == nil || !backend.IsPermanent(err) {
		t.Fatalf("put of more bytes than announced: %v, want a permanent error", err)
	}
	if _, err := b.Stat(ctx, "k/long"); !backend.IsNotExist(err) {
		t.Fatalf("the refused put left an object: %v", err)
	}
}

// long announces fewer bytes than it has.
type long struct{ backend.Source }

func (l long) Length() int64 { return l.Source.Length() - 1 }

// The same for a source that says it is empty: minio reads no body then.
func TestPutOfANonEmptySourceSayingEmpty(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, newBucket(t), "", options(server(t)))
	if err := b.Put(ctx, "k/long", long{backend.BytesSource([]byte("a"))}); err == nil || !backend.IsPermanent(err) {
		t.Fatalf("put of 1 byte announced as 0: %v, want a permanent error", err)
	}
	if _, err := b.Stat(ctx, "k/long"); !backend.IsNotExist(err) {
		t.Fatalf("the refused put left an object: %v", err)
	}
}
