package backend

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

func TestCheckRange(t *testing.T) {
	for _, tt := range []struct {
		offset, length, want int64
	}{
		{0, -1, -1}, {5, -9, -1}, {0, 0, 0}, {3, 7, 7},
		{1, math.MaxInt64, -1}, // runs past any offset: to the end
		{math.MaxInt64, 1, -1},
		{math.MaxInt64 - 1, 1, 1},
	} {
		if got, err := CheckRange(tt.offset, tt.length); err != nil || got != tt.want {
			t.Errorf("CheckRange(%d, %d) = %d, %v; want %d", tt.offset, tt.length, got, err, tt.want)
		}
	}
	if _, err := CheckRange(-1, 3); err == nil || !IsPermanent(err) {
		t.Errorf("negative offset: %v, want a permanent error", err)
	}
}

func TestRangeSize(t *testing.T) {
	for _, tt := range []struct {
		cr             string
		offset, length int64
		n              int64
		ok             bool
	}{
		{"bytes 2-4/10", 2, 3, 3, true},
		{"bytes 0-9/10", 0, 10, 10, true},
		{"bytes 7-9/10", 7, 5, 3, true}, // cut at the object's end
		{"bytes 7-9/*", 7, 3, 3, true},
		{"bytes 5-9/10", 5, -1, 5, true}, // to the end
		{"bytes 5-1000/*", 5, -1, 996, true},
		{"bytes 3-4/10", 2, 3, 0, false},  // another start
		{"bytes 2-5/10", 2, 3, 0, false},  // more than asked
		{"bytes 2-3/10", 2, 3, 0, false},  // less, before the end
		{"bytes 7-8/*", 7, 5, 0, false},   // less, the end unknown
		{"bytes 5-8/10", 5, -1, 0, false}, // short of the end
		{"bytes 2-4/4", 2, 3, 0, false},   // past the size it states
		{"bytes 4-2/10", 4, -1, 0, false}, // backwards
		{"bytes */10", 2, 3, 0, false},    // a 416's form
		{"items 2-4/10", 2, 3, 0, false},  // another unit
		{"bytes 2-4", 2, 3, 0, false},     // no size
		{"bytes 2-x/10", 2, 3, 0, false},  // not a number
		{"", 2, 3, 0, false},
	} {
		n, ok := RangeSize(tt.cr, tt.offset, tt.length)
		if n != tt.n || ok != tt.ok {
			t.Errorf("RangeSize(%q, %d, %d) = %d, %v; want %d, %v", tt.cr, tt.offset, tt.length, n, ok, tt.n, tt.ok)
		}
	}
}

// A limited body stops at its length; an exact body does too, and one
// that ends before it is a transient error, not a short object.
func TestBodies(t *testing.T) {
	body := func() io.ReadCloser { return io.NopCloser(strings.NewReader("0123456789")) }
	for _, tt := range []struct {
		rc   io.ReadCloser
		want string
	}{
		{LimitBody(body(), 4), "0123"},
		{LimitBody(body(), 0), ""},
		{LimitBody(body(), -1), "0123456789"},
		{LimitBody(body(), 50), "0123456789"}, // what exists
		{ExactBody(body(), "GET u", 4), "0123"},
		{ExactBody(body(), "GET u", 10), "0123456789"},
		{NoBytes(), ""},
	} {
		got, err := io.ReadAll(tt.rc)
		if err != nil || string(got) != tt.want {
			t.Errorf("read %q, %v; want %q", got, err, tt.want)
		}
		if err := tt.rc.Close(); err != nil {
			t.Error(err)
		}
	}
	got, err := io.ReadAll(ExactBody(body(), "GET u", 12))
	if string(got) != "0123456789" || !errors.Is(err, io.ErrUnexpectedEOF) || IsPermanent(err) || !strings.HasPrefix(err.Error(), "GET u: ") {
		t.Errorf("a body short of its size: read %q, %v; want a transient error naming it", got, err)
	}
}
