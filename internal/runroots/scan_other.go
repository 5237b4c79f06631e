//go:build !linux

package runroots

import (
	"context"
	"runtime"
)

// Scan reads nothing where there is no /proc (macOS, Windows): the
// snapshot it returns says so (Unsupported) and finds no user.
func Scan(ctx context.Context, dirs []string) (*Snapshot, error) {
	return &Snapshot{Unsupported: runtime.GOOS}, nil
}
