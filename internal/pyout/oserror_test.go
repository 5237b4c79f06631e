package pyout

import (
	"errors"
	"syscall"
	"testing"
)

func TestWithOSError(t *testing.T) {
	base := errors.New("pip install rez failed (exit 1)")
	for _, tc := range []struct {
		output string
		want   error
	}{
		{"ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device\n", syscall.ENOSPC},
		{"OSError: [Errno 122] Disk quota exceeded: '/x'\n", syscall.EDQUOT},
		{"ERROR: Could not install packages due to an OSError: [Errno 30] Read-only file system: '/r'\n", syscall.EROFS},
		{"ERROR: Could not find a version that satisfies the requirement rez\n", nil},
		{"OSError: [Errno 2] No such file or directory\n", nil},
	} {
		err := WithOSError(base, tc.output)
		if err.Error() != base.Error() || !errors.Is(err, base) {
			t.Errorf("%q: the error changed: %v", tc.output, err)
		}
		for _, e := range diskErrnos {
			if got := errors.Is(err, e); got != (e == tc.want) {
				t.Errorf("%q: errors.Is(%v) = %v", tc.output, e, got)
			}
		}
	}
	if WithOSError(nil, "[Errno 28]") != nil {
		t.Error("no error became one")
	}

}
