package backend

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// CheckRange returns a permanent error for a range Open does not take (a
// negative offset), and otherwise the length to ask for: length, or -1
// (to the end) for any negative length and for one that would run past
// the largest offset, which no object reaches. Backends call it after
// CheckName.
func CheckRange(offset, length int64) (int64, error) {
	if offset < 0 {
		return 0, Permanent(fmt.Errorf("negative offset %d", offset))
	}
	if length < 0 || length > math.MaxInt64-offset {
		return -1, nil
	}
	return length, nil
}

// LimitBody returns a reader of at most the first n bytes of rc (all of
// them when n < 0): the body of a ranged Open whose source may hold more
// than the range (a file, a server that ignored the Range). Its Close
// closes rc.
func LimitBody(rc io.ReadCloser, n int64) io.ReadCloser {
	if n < 0 {
		return rc
	}
	return &limitedBody{rc: rc, left: n}
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// ExactBody returns a reader of the n bytes rc must hold, what the
// backend was told it would get (an HTTP 206's Content-Range): it ends
// after n bytes, and rc ending before them is an error naming what and
// wrapping io.ErrUnexpectedEOF, which is transient (Retrying resumes it),
// never a short object. Its Close closes rc.
func ExactBody(rc io.ReadCloser, what string, n int64) io.ReadCloser {
	return &exactBody{rc: rc, what: what, n: n, left: n}
}

type exactBody struct {
	rc      io.ReadCloser
	what    string
	n, left int64
}

func (b *exactBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err == io.EOF && b.left > 0 {
		err = fmt.Errorf("%s: the body ends %d bytes short of the %d stated: %w", b.what, b.left, b.n, io.ErrUnexpectedEOF)
	}
	return n, err
}

func (b *exactBody) Close() error { return b.rc.Close() }

// NoBytes returns the body of a range that holds no bytes (a length of 0,
// an offset at or past the end).
func NoBytes() io.ReadCloser { return io.NopCloser(eofReader{}) }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// RangeSize reads the Content-Range of an HTTP 206 (or of an S3 GET), "bytes first-last/size" (size
// may be "*"), and returns how many bytes the body holds if they are the
// range from offset, length bytes long (length < 0: to the end), cut at
// the object's end; ok is false for any other range.
func RangeSize(cr string, offset, length int64) (n int64, ok bool) {
	spec, found := strings.CutPrefix(cr, "bytes ")
	if !found {
		return 0, false
	}
	span, total, found := strings.Cut(spec, "/")
	firstS, lastS, found2 := strings.Cut(span, "-")
	if !found || !found2 {
		return 0, false
	}
	first, err1 := strconv.ParseInt(firstS, 10, 64)
	last, err2 := strconv.ParseInt(lastS, 10, 64)
	if err1 != nil || err2 != nil || first != offset || last < first {
		return 0, false
	}
	size := int64(-1) // unknown
	if total != "*" {
		var err error
		if size, err = strconv.ParseInt(total, 10, 64); err != nil || size <= last {
			return 0, false
		}
	}
	// The range ends where it was asked to, or earlier only at the
	// object's end.
	atEnd := size >= 0 && last == size-1
	switch {
	case length > 0 && last > offset+length-1:
		return 0, false
	case length > 0 && last < offset+length-1 && !atEnd:
		return 0, false
	case length < 0 && size >= 0 && !atEnd:
		return 0, false
	}
	return last - first + 1, true
}
