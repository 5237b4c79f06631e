package main

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit are stamped by scripts/release with
// -ldflags "-X main.version=… -X main.commit=…". A plain go build or go
// install leaves them empty, and the build information Go records fills
// them instead.
var (
	version = ""
	commit  = ""
)

// fallbackVersion is the version of a binary that says nothing of where
// it came from (go build -buildvcs=false outside a module version).
const fallbackVersion = "0.1.0-dev"

// buildStamp is what rezup knows of its own build.
type buildStamp struct {
	version string // never empty
	commit  string // short revision, "-dirty" when built from a modified tree; may be empty
}

// readStamp prefers the stamped values, then the build information (the
// module version go install records, the VCS revision go build records in
// a clone), then fallbackVersion. bi may be nil.
func readStamp(version, commit string, bi *debug.BuildInfo) buildStamp {
	s := buildStamp{version: version, commit: commit}
	if bi == nil {
		if s.version == "" {
			s.version = fallbackVersion
		}
		return s
	}
	if s.version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		s.version = bi.Main.Version
	}
	if s.version == "" {
		s.version = fallbackVersion
	}
	if s.commit == "" {
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
		s.commit = rev
	}
	return s
}

func currentStamp() buildStamp {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return readStamp(version, commit, bi)
}

// rezupVersion is this binary's version: what the self-upgrade compares
// and revisions record.
func rezupVersion() string { return currentStamp().version }

// versionLine is what --version prints. It starts with "rezup VERSION",
// which the self-upgrade reads from a new release before installing it;
// the rest says which build this is, for bug reports.
func versionLine(s buildStamp, goVersion, goos, goarch string) string {
	details := []string{goVersion, goos + "/" + goarch}
	if s.commit != "" {
		details = append([]string{"commit " + s.commit}, details...)
	}
	return "rezup " + s.version + " (" + strings.Join(details, ", ") + ")"
}

func currentVersionLine() string {
	return versionLine(currentStamp(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
