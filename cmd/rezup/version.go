package main

import (
	"runtime"

	"github.com/rezup/rezup/internal/selfupdate"
)

// version and commit are stamped by scripts/release with
// -ldflags "-X main.version=… -X main.commit=…". A plain go build or go
// install leaves them empty, and the build information Go records fills
// them instead (selfupdate.ReadBuild).
var (
	version = ""
	commit  = ""
)

// rezupVersion is this binary's version: what the self-upgrade compares,
// revisions record and rezup-net must have too.
func rezupVersion() string { return selfupdate.CurrentBuild(version, commit).Version }

// currentVersionLine is what --version prints. It starts with "rezup
// VERSION", which the self-upgrade reads from a new release before
// installing it; the rest says which build this is, for bug reports.
func currentVersionLine() string {
	return selfupdate.CurrentBuild(version, commit).VersionLine("rezup", runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
