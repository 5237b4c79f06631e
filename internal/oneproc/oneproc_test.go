package oneproc

import (
	"runtime"
	"testing"
)

// The process runs on one P from this package's init until All, which
// gives back the Ps it started with, once.
func TestOneProcUntilAll(t *testing.T) {
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("before All: GOMAXPROCS %d, want 1 (set at init)", got)
	}
	if start < 1 {
		t.Fatalf("start = %d", start)
	}
	All()
	if got := runtime.GOMAXPROCS(0); got != start {
		t.Errorf("after All: GOMAXPROCS %d, want %d, its value at start", got, start)
	}
	runtime.GOMAXPROCS(1)
	All() // once only
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("a second All set GOMAXPROCS to %d", got)
	}
	runtime.GOMAXPROCS(start)
}
