package fsx

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestSentinelIsFmtErrorf(t *testing.T) {
	got := Sentinel("object exists", fs.ErrExist)
	want := fmt.Errorf("object exists: %w", fs.ErrExist)
	if got.Error() != want.Error() {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(got, fs.ErrExist) || errors.Is(got, fs.ErrNotExist) {
		t.Errorf("errors.Is: does not wrap exactly fs.ErrExist")
	}
	if wrapped := fmt.Errorf("put x: %w", got); !errors.Is(wrapped, got) || !errors.Is(wrapped, fs.ErrExist) {
		t.Errorf("a wrapped sentinel is not found by errors.Is")
	}
	if Sentinel("object exists", fs.ErrExist) == got {
		t.Errorf("two sentinels are the same value")
	}
}
