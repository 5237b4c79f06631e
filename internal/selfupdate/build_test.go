package selfupdate

import (
	"runtime/debug"
	"testing"
)

func TestReadBuild(t *testing.T) {
	vcs := func(rev, modified string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}
		bi.Settings = []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
		return bi
	}
	tests := []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            Build
	}{
		{"stamped", "0.3.0", "6f80f20", vcs("1c60e8c0000000000000000000000000000000ff", "false"), Build{"0.3.0", "6f80f20"}},
		{"stamped version, commit from vcs", "0.3.0", "", vcs("1c60e8c0000000000000000000000000000000ff", "false"), Build{"0.3.0", "1c60e8c00000"}},
		{"clone, clean", "", "", vcs("1c60e8c0000000000000000000000000000000ff", "false"), Build{FallbackVersion, "1c60e8c00000"}},
		{"clone, modified", "", "", vcs("1c60e8c0000000000000000000000000000000ff", "true"), Build{FallbackVersion, "1c60e8c00000-dirty"}},
		{"go install of a tag", "", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.3.0"}}, Build{"v0.3.0", ""}},
		{"-buildvcs=false", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, Build{FallbackVersion, ""}},
		{"no build info", "", "", nil, Build{FallbackVersion, ""}},
		{"no build info, stamped", "0.3.0", "abc", nil, Build{"0.3.0", "abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReadBuild(tt.version, tt.commit, tt.bi); got != tt.want {
				t.Errorf("ReadBuild = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVersionLine(t *testing.T) {
	tests := []struct {
		b    Build
		want string
	}{
		{Build{"0.3.0", "6f80f20"}, "rezup 0.3.0 (commit 6f80f20, go1.26.8, linux/amd64)"},
		{Build{"0.1.0-dev", ""}, "rezup 0.1.0-dev (go1.26.8, linux/amd64)"},
	}
	for _, tt := range tests {
		if got := tt.b.VersionLine("rezup", "go1.26.8", "linux", "amd64"); got != tt.want {
			t.Errorf("VersionLine(%+v) = %q, want %q", tt.b, got, tt.want)
		}
	}
}
