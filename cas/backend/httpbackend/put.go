package httpbackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/rezup/rezup/cas/backend"
)

// claimSuffix makes the claim collection of a name (see the package
// doc). The backslash keeps it out of the names objects can have.
const claimSuffix = `\rezup-claim`

// Put creates name by the claim protocol of the package doc.
func (b *Backend) Put(ctx context.Context, name string, src backend.Source) error {
	if err := backend.CheckName(name, false); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	exists := func() error {
		_, err := b.Stat(ctx, name)
		switch {
		case err == nil:
			return fmt.Errorf("put %s: %w", b.url(name), backend.ErrExist)
		case backend.IsNotExist(err):
			return nil
		}
		return err
	}
	if err := exists(); err != nil {
		return err
	}
	release, err := b.claim(ctx, name, exists)
	if err != nil {
		return err
	}
	defer release()
	// Another writer may have finished since the first HEAD (while this
	// one claimed, or waited for a claim).
	if err := exists(); err != nil {
		return err
	}
	return b.put(ctx, name, src)
}

// put is the PUT itself, with If-None-Match for servers that honour it.
func (b *Backend) put(ctx context.Context, name string, src backend.Source) error {
	u := b.url(name)
	if err := src.Rewind(); err != nil {
		return fmt.Errorf("put %s: rewind the source: %w", u, err)
	}
	n := src.Length()
	var body io.Reader = http.NoBody // a non-nil body of length 0 would go chunked
	if n > 0 {
		body = &exactReader{src: src, left: n}
	} else if err := noMore(src); err != nil {
		return fmt.Errorf("PUT %s: %w", u, err)
	}
	hdr := []string{"If-None-Match", "*", "Content-Type", "application/octet-stream"}
	if n > 64<<10 {
		// A server that refuses the PUT says so before the body is sent.
		hdr = append(hdr, "Expect", "100-continue")
	}
	resp, err := b.send(ctx, http.MethodPut, u, body, n, hdr...)
	if err != nil {
		var le *lengthError
		if errors.As(err, &le) {
			return backend.Permanent(err)
		}
		return err
	}
	drain(resp)
	switch {
	case resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("PUT %s: %w", u, backend.ErrExist)
	case resp.StatusCode/100 != 2:
		return statusErr(resp, http.MethodPut, u, "")
	}
	return nil
}

// lengthError is a Source that yields more or fewer bytes than its
// Length: the upload is cut before its last byte, so the server keeps
// nothing.
type lengthError struct{ msg string }

func (e *lengthError) Error() string { return e.msg }

// exactReader yields exactly left bytes of src. Before handing over the
// last of them it makes sure src has no more, so that a source longer
// than its Length fails the request before the server has it all.
type exactReader struct {
	src  io.Reader
	left int64
}

func (r *exactReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.src.Read(p)
	r.left -= int64(n)
	switch {
	case r.left == 0:
		if err := noMore(r.src); err != nil {
			return 0, err
		}
		return n, nil
	case err == io.EOF:
		return 0, &lengthError{fmt.Sprintf("the source ended %d bytes short of its length", r.left)}
	}
	return n, err
}

// noMore checks that src is at its end.
func noMore(src io.Reader) error {
	var one [1]byte
	for range 100 {
		n, err := src.Read(one[:])
		if n > 0 {
			return &lengthError{"the source has more bytes than its length"}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return errors.New("the source returns nothing and no end")
}

// claim takes the claim on name, waiting while another writer holds it.
// Where the server has no MKCOL, release does nothing: Put goes on
// without a claim. exists is Put's check that stops the wait once the
// object is there.
func (b *Backend) claim(ctx context.Context, name string, exists func() error) (release func(), err error) {
	nop := func() {}
	cu := b.url(name+claimSuffix) + "/"
	var firstSeen time.Time
	delay := 20 * time.Millisecond
	refused := 0 // 405s in a row with no claim there
	for parents := false; ; {
		resp, err := b.send(ctx, "MKCOL", cu, nil, 0)
		if err != nil {
			return nil, err
		}
		drain(resp)
		switch resp.StatusCode {
		case http.StatusCreated, http.StatusOK, http.StatusNoContent:
			return func() { b.unclaim(ctx, cu) }, nil
		case http.StatusConflict:
			if parents {
				return nil, statusErr(resp, "MKCOL", cu, "")
			}
			if err := b.mkcolParents(ctx, name); err != nil {
				return nil, err
			}
			parents = true
			continue
		case http.StatusNotImplemented, http.StatusForbidden:
			return nop, nil // no claims here; PUT says if it is refused too
		case http.StatusMethodNotAllowed:
			// Either the claim exists, or the server has no MKCOL.
		default:
			return nil, statusErr(resp, "MKCOL", cu, "")
		}
		held, age, err := b.claimAge(ctx, name, cu)
		if err != nil {
			return nil, err
		}
		if !held {
			// Refused, yet no claim: the server has no MKCOL, unless the
			// holder released it in between. Three times running settles
			// it. (Claims come and go that fast only once the object is
			// there, which the HEAD before the PUT then sees.)
			if refused++; refused >= 3 {
				return nop, nil
			}
			continue
		}
		refused = 0
		if err := exists(); err != nil {
			return nil, err // ErrExist: the holder published it
		}
		if firstSeen.IsZero() {
			firstSeen = time.Now()
		}
		if age < 0 {
			age = time.Since(firstSeen) // no listing: judge by how long this writer waited
		}
		if age > b.staleAfter {
			b.unclaim(ctx, cu) // its holder died; whoever claims it next goes on
			continue
		}
		t := time.NewTimer(delay + rand.N(delay))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("put %s: waiting for another writer: %w", b.url(name), ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// claimAge reports whether the claim collection cu of name exists, and
// how old it is by the server's clock (-1 where the server has no JSON
// listing to say).
func (b *Backend) claimAge(ctx context.Context, name, cu string) (held bool, age time.Duration, err error) {
	dir, base := path.Split(name)
	ents, date, lerr := b.listing(ctx, strings.TrimSuffix(dir, "/"))
	if lerr == nil {
		for _, e := range ents {
			if e.Name == base+claimSuffix && e.Type == "directory" {
				mt, err := http.ParseTime(e.Mtime)
				if err != nil || date.IsZero() {
					return true, -1, nil
				}
				return true, date.Sub(mt), nil
			}
		}
		return false, 0, nil
	}
	if !backend.IsPermanent(lerr) {
		return false, 0, lerr
	}
	// No listing: ask for the collection itself (200, or 403 where the
	// server lists nothing, means it is there).
	resp, err := b.send(ctx, http.MethodHead, cu, nil, 0)
	if err != nil {
		return false, 0, err
	}
	drain(resp)
	switch c := resp.StatusCode; {
	case c == http.StatusNotFound:
		return false, 0, nil
	case c/100 == 2 || c == http.StatusForbidden:
		return true, -1, nil
	}
	return false, 0, statusErr(resp, http.MethodHead, cu, "")
}

// mkcolParents makes the folders above name, top down from the base
// folder; those that exist already (405) are fine.
func (b *Backend) mkcolParents(ctx context.Context, name string) error {
	segs := strings.Split(name, "/")
	for i := range len(segs) {
		u := b.base.String()
		if i > 0 {
			u = b.url(strings.Join(segs[:i], "/")) + "/"
		}
		resp, err := b.send(ctx, "MKCOL", u, nil, 0)
		if err != nil {
			return err
		}
		drain(resp)
		if c := resp.StatusCode; c/100 != 2 && c != http.StatusMethodNotAllowed {
			return statusErr(resp, "MKCOL", u, "")
		}
	}
	return nil
}

// unclaim deletes the claim collection cu, even when ctx is done: a
// claim left behind makes other writers of the name wait StaleClaim.
func (b *Backend) unclaim(ctx context.Context, cu string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	resp, err := b.send(ctx, http.MethodDelete, cu, nil, 0)
	if err != nil {
		return // left behind: others take it as stale after StaleClaim
	}
	drain(resp)
}
