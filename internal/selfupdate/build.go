package selfupdate

import (
	"runtime/debug"
	"strings"
)

// FallbackVersion is the version of a binary that says nothing of where
// it came from (go build -buildvcs=false outside a module version).
const FallbackVersion = "0.1.0-dev"

// Build is what a rezup binary (rezup, or its helper rezup-net) knows of
// its own build: what --version prints, what the self-upgrade compares,
// and what rezup and rezup-net check in their handshake.
type Build struct {
	Version string // never empty
	Commit  string // short revision, "-dirty" when built from a modified tree; may be empty
}

// ReadBuild prefers the values scripts/release stamps (-X main.version=…
// -X main.commit=…), then the build information Go records (the module
// version of go install or go build, the VCS revision of a build in a
// clone), then FallbackVersion. bi may be nil.
func ReadBuild(version, commit string, bi *debug.BuildInfo) Build {
	b := Build{Version: version, Commit: commit}
	if bi == nil {
		if b.Version == "" {
			b.Version = FallbackVersion
		}
		return b
	}
	if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	if b.Version == "" {
		b.Version = FallbackVersion
	}
	if b.Commit == "" {
		var rev string
		var modified bool
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				modified = kv.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && modified {
			rev += "-dirty"
		}
		b.Commit = rev
	}
	return b
}

// CurrentBuild is ReadBuild of the running binary, with the values its
// package main was stamped with.
func CurrentBuild(version, commit string) Build {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return ReadBuild(version, commit, bi)
}

// VersionLine is what program's --version prints: "rezup 0.3.0 (commit
// 6f80f20abcde, go1.26.8, linux/amd64)". It starts with the program and
// its version, which PrintedVersion reads back; the rest says which build
// this is, for bug reports.
func (b Build) VersionLine(program, goVersion, goos, goarch string) string {
	details := []string{goVersion, goos + "/" + goarch}
	if b.Commit != "" {
		details = append([]string{"commit " + b.Commit}, details...)
	}
	return program + " " + b.Version + " (" + strings.Join(details, ", ") + ")"
}

// PrintedVersion is the version in what rezup or rezup-net --version
// printed (a VersionLine): the word after the program on the first line
// (releases before the build details printed "rezup 1.4.0"), or else
// the last word of that line. ok is false when nothing was printed.
func PrintedVersion(out string) (v string, ok bool) {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	f := strings.Fields(line)
	switch {
	case len(f) == 0:
		return "", false
	case len(f) >= 2 && (f[0] == "rezup" || f[0] == HelperProgram):
		return f[1], true
	}
	return f[len(f)-1], true
}
