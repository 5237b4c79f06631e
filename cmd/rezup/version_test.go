package main

import (
	"runtime"
	"strings"
	"testing"
)

func TestVersionFlag(t *testing.T) {
	for _, flag := range []string{"--version", "-V"} {
		var stdout, stderr strings.Builder
		code := run([]string{flag}, []string{"HOME=" + t.TempDir()}, &stdout, &stderr)
		want := "rezup " + rezupVersion() + " (" // then the build details
		if code != 0 || !strings.HasPrefix(stdout.String(), want) || !strings.HasSuffix(stdout.String(), runtime.GOOS+"/"+runtime.GOARCH+")\n") {
			t.Errorf("rezup %s: exit %d, printed %q (stderr %q), want %q…%s/%s)", flag, code, stdout.String(), stderr.String(), want, runtime.GOOS, runtime.GOARCH)
		}
	}
}
