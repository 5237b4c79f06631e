package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestReadStamp(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
		bi.Settings = []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
		return bi
	}
	tests := []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            buildStamp
	}{
		{"stamped", "0.3.0", "6f80f20", vcs("1c60e8c0000000000000000000000000000000ff", "false"), buildStamp{"0.3.0", "6f80f20"}},
		{"stamped version, commit from vcs", "0.3.0", "", vcs("1c60e8c0000000000000000000000000000000ff", "false"), buildStamp{"0.3.0", "1c60e8c00000"}},
		{"clone, clean", "", "", vcs("1c60e8c0000000000000000000000000000000ff", "false"), buildStamp{fallbackVersion, "1c60e8c00000"}},
		{"clone, modified", "", "", vcs("1c60e8c0000000000000000000000000000000ff", "true"), buildStamp{fallbackVersion, "1c60e8c00000-dirty"}},
		{"go install of a tag", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}}, buildStamp{"v0.3.0", ""}},
		{"-buildvcs=false", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, buildStamp{fallbackVersion, ""}},
		{"no build info", "", "", nil, buildStamp{fallbackVersion, ""}},
		{"no build info, stamped", "0.3.0", "abc", nil, buildStamp{"0.3.0", "abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readStamp(tt.version, tt.commit, tt.bi); got != tt.want {
				t.Errorf("readStamp = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVersionLine(t *testing.T) {
	tests := []struct {
		s    buildStamp
		want string
	}{
		{buildStamp{"0.3.0", "6f80f20"}, "rezup 0.3.0 (commit 6f80f20, go1.26.8, linux/amd64)"},
		{buildStamp{"0.1.0-dev", ""}, "rezup 0.1.0-dev (go1.26.8, linux/amd64)"},
	}
	for _, tt := range tests {
		if got := versionLine(tt.s, "go1.26.8", "linux", "amd64"); got != tt.want {
			t.Errorf("versionLine(%+v) = %q, want %q", tt.s, got, tt.want)
		}
	}
}

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
